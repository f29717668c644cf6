#!/usr/bin/env python3
"""Write a Mirage result file (format 1.0, docs/DESIGN.md §6) without the mirage binary.

The numbers are a real, small Monte Carlo of the paper's toy model (Schaeffer, Miranda &
Koyejo, NeurIPS 2023: L(N) = (N/c)^alpha, p = exp(-L)) done with numpy, reduced the way
docs/DESIGN.md §3-§5 describe. They are *plausible*, not bitwise equal to what mirage
writes: numpy's generator stands in for Philox. The file fills the whole schema, the
optional groups included (frontier, interval_comparison, emergence, multiple choice), so
that scripts/plot.py can be developed and tested before the binary exists.

Usage:
  make_fixture.py OUT.h5 [--scales 1e8:1e13:21] [--lengths 1,2,5] [--test-sizes 10,100,1000]
                  [--replicates 20] [--seed 7] [--no-optional] [--no-multiple-choice]
                  [--filetype mirage-results] [--format-version 1,0]
  make_fixture.py OUT.h5 --meta [--tasks 12] [--replicates 3] [--seed 7]
                  [--format-version 1,1]

The run file is format 1.0 on purpose (exact-match-only /interval_comparison/<method>, no
/jumps, no item difficulty; the Brier score's kind still "linear"): it proves that plot.py
still draws files written before format 1.1. --meta writes a small `mirage meta` file
(format 1.1): tasks with their own length, loss law, choices and test size sampled on the
gpt3 and big-g grids, their emergence scores and the fractions above the thresholds.
"""

import argparse
import math
import statistics
import sys

import h5py
import numpy as np

METHODS = ("wilson", "clopper-pearson", "jeffreys", "agresti-coull", "wald")
MC_CHOICES = 4  # options per multiple-choice item in the fixture's toy model
MC_BOOST = 4.0  # log-odds boost of the correct option at sequence probability 1


def mc_items(sequence_probability, gumbel):
    """Toy multiple-choice items: option scores are Gumbel noise plus a boost of the correct
    option (column 0) that grows with the sequence probability p^L; the model's option
    probabilities are the softmax of the scores. Returns (grade 0/1, Brier score) per item.
    At p^L = 0 every option is alike, so the grade is chance, 1/MC_CHOICES."""
    scores = gumbel.copy()
    scores[:, 0] += MC_BOOST * sequence_probability
    grade = (scores.argmax(axis=1) == 0).astype(float)
    prob = np.exp(scores - scores.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    target = np.zeros_like(prob)
    target[:, 0] = 1.0
    return grade, ((prob - target) ** 2).sum(axis=1)


# --- special functions (numpy only; scipy is not a dependency) -----------------------------

_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def lgamma(x):
    return _lgamma(np.asarray(x, dtype=float)).astype(float)


def _betacf(a, b, x, iterations=400):
    """Continued fraction for the incomplete beta (Numerical Recipes 6.4, modified Lentz)."""
    tiny = 1e-300

    def guard(v):
        return np.where(np.abs(v) < tiny, tiny, v)

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 / guard(1.0 - qab * x / qap)
    h = d.copy()
    for m in range(1, iterations + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        h = h * d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        step = d * c
        h = h * step
        if np.all(np.abs(step - 1.0) < 1e-15):
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b), elementwise, for a, b > 0 and 0 <= x <= 1."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, x)))
    xc = np.clip(x, 1e-300, 1.0 - 1e-16)
    # The continued fraction converges fast only below the mean; use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) above it.
    flip = xc >= (a + 1.0) / (a + b + 2.0)
    fa, fb, fx = np.where(flip, b, a), np.where(flip, a, b), np.where(flip, 1.0 - xc, xc)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        front = np.exp(lgamma(fa + fb) - lgamma(fa) - lgamma(fb) + fa * np.log(fx)
                       + fb * np.log1p(-fx))
        value = front * _betacf(fa, fb, fx) / fa
    out = np.where(flip, 1.0 - value, value)
    out = np.where(x <= 0.0, 0.0, np.where(x >= 1.0, 1.0, out))
    return np.clip(out, 0.0, 1.0)


def beta_quantile(q, a, b, iterations=50):
    """Quantile of Beta(a, b) by bisection on betainc (solved once per distinct (a, b))."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    pairs, inverse = np.unique(np.stack([a.ravel(), b.ravel()], axis=1), axis=0,
                               return_inverse=True)
    ua, ub = pairs[:, 0], pairs[:, 1]
    lo, hi = np.zeros(ua.shape), np.ones(ua.shape)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = betainc(ua, ub, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (0.5 * (lo + hi))[inverse.ravel()].reshape(a.shape)


def t_quantile(q, df):
    """Quantile (q > 0.5) of Student's t with df degrees of freedom, by bisection."""
    df = np.asarray(df, dtype=float)
    udf, inverse = np.unique(df.ravel(), return_inverse=True)
    lo, hi = np.zeros(udf.shape), np.full(udf.shape, 1e3)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        cdf = 1.0 - 0.5 * betainc(udf / 2.0, 0.5, udf / (udf + mid * mid))
        below = cdf < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (0.5 * (lo + hi))[inverse.ravel()].reshape(df.shape)


# --- intervals (Brown, Cai & DasGupta 2001) -------------------------------------------------

def proportion_interval(method, x, n, confidence):
    x = np.asarray(x, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), x.shape)
    alpha = 1.0 - confidence
    z = statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)
    phat = x / n
    if method == "wilson":
        centre = (x + z * z / 2.0) / (n + z * z)
        half = z * np.sqrt(n) / (n + z * z) * np.sqrt(phat * (1.0 - phat) + z * z / (4.0 * n))
        lo, hi = centre - half, centre + half
    elif method == "wald":
        half = z * np.sqrt(phat * (1.0 - phat) / n)
        lo, hi = phat - half, phat + half
    elif method == "agresti-coull":
        nt = n + z * z
        pt = (x + z * z / 2.0) / nt
        half = z * np.sqrt(pt * (1.0 - pt) / nt)
        lo, hi = pt - half, pt + half
    elif method == "clopper-pearson":
        lo = np.where(x > 0, beta_quantile(alpha / 2.0, np.maximum(x, 1e-9), n - x + 1.0), 0.0)
        hi = np.where(x < n, beta_quantile(1.0 - alpha / 2.0, x + 1.0, np.maximum(n - x, 1e-9)),
                      1.0)
    elif method == "jeffreys":
        lo = np.where(x > 0, beta_quantile(alpha / 2.0, x + 0.5, n - x + 0.5), 0.0)
        hi = np.where(x < n, beta_quantile(1.0 - alpha / 2.0, x + 0.5, n - x + 0.5), 1.0)
    else:
        raise ValueError(method)
    return np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)


def mean_interval(total, total_sq, n, confidence):
    """Student-t interval for a per-item mean from its sum and sum of squares."""
    total = np.asarray(total, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), total.shape)
    mean = total / n
    var = np.maximum(total_sq - total * total / n, 0.0) / (n - 1.0)
    half = t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1.0) * np.sqrt(var / n)
    return mean - half, mean + half


# --- reductions -------------------------------------------------------------------------------

def summarise(estimate, lo, hi, expected):
    """Cross-replicate summary over the last axis; expected broadcasts over [S][K][T]."""
    exp4 = expected[:, :, None, None]
    return {
        "mean": estimate.mean(axis=-1),
        "sd": estimate.std(axis=-1, ddof=1),
        "q025": np.quantile(estimate, 0.025, axis=-1),
        "q500": np.quantile(estimate, 0.5, axis=-1),
        "q975": np.quantile(estimate, 0.975, axis=-1),
        "p_zero": (estimate == 0.0).mean(axis=-1),
        "coverage": ((lo <= exp4) & (exp4 <= hi)).mean(axis=-1),
        "mean_ci_width": (hi - lo).mean(axis=-1),
    }


def emergence_score(y):
    """Emergence ("breakthroughness") score along axis 0 (scales), docs/DESIGN.md §5.

    A zero median squared step with a nonzero range gives +/-inf; a flat curve gives 0.
    """
    rng_ = y.max(axis=0) - y.min(axis=0)
    sign = np.sign(y.argmax(axis=0) - y.argmin(axis=0))
    denom = np.sqrt(np.median(np.diff(y, axis=0) ** 2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        score = sign * rng_ / denom
    return np.where(rng_ == 0.0, 0.0, np.where(denom == 0.0, sign * np.inf, score))


def parse_scales(text):
    lo, hi, count = text.split(":")
    return np.logspace(math.log10(float(lo)), math.log10(float(hi)), int(count))


def build(args):
    scales = parse_scales(args.scales)
    lengths = np.array([int(v) for v in args.lengths.split(",")], dtype=np.int32)
    test_sizes = np.array([int(v) for v in args.test_sizes.split(",")], dtype=np.int64)
    c, alpha, confidence = 2e9, -0.5, 0.95
    S, K, T, R = len(scales), len(lengths), len(test_sizes), args.replicates
    n_max, l_max = int(test_sizes.max()), int(lengths.max())
    loss = (scales / c) ** alpha
    p = np.exp(-loss)
    rng = np.random.default_rng(args.seed)

    exact = np.zeros((S, K, T, R), dtype=np.int64)
    errors = np.zeros_like(exact)
    errors_sq = np.zeros_like(exact)
    mc_grade = np.zeros((S, K, T, R))
    mc_brier = np.zeros((S, K, T, R))
    mc_brier_sq = np.zeros((S, K, T, R))
    for r in range(R):
        for s in range(S):
            correct = rng.random((n_max, l_max)) < p[s]
            k_all = np.cumsum(correct, axis=1)
            gumbel = rng.gumbel(size=(n_max, MC_CHOICES))
            for ki, L in enumerate(lengths):
                k = k_all[:, L - 1]
                per_exact = np.cumsum(k == L)
                per_err = np.cumsum(L - k)
                per_err_sq = np.cumsum((L - k) ** 2)
                grade, brier = mc_items(p[s] ** L, gumbel)
                cg, cb, cb2 = np.cumsum(grade), np.cumsum(brier), np.cumsum(brier ** 2)
                for ti, n in enumerate(test_sizes):
                    exact[s, ki, ti, r] = per_exact[n - 1]
                    errors[s, ki, ti, r] = per_err[n - 1]
                    errors_sq[s, ki, ti, r] = per_err_sq[n - 1]
                    mc_grade[s, ki, ti, r] = cg[n - 1]
                    mc_brier[s, ki, ti, r] = cb[n - 1]
                    mc_brier_sq[s, ki, ti, r] = cb2[n - 1]

    n4 = test_sizes[None, None, :, None].astype(float)
    L4 = lengths[None, :, None, None].astype(float)
    L2 = lengths[None, :].astype(float)
    metrics = {}
    em = exact / n4
    lo, hi = proportion_interval("wilson", exact, n4, confidence)
    metrics["exact_match"] = ("nonlinear", "wilson", em, lo, hi, p[:, None] ** L2)
    ted = errors / n4
    lo, hi = mean_interval(errors, errors_sq, n4, confidence)
    metrics["token_edit_distance"] = ("linear", "student-t", ted, lo, hi, L2 * (1.0 - p[:, None]))
    metrics["token_accuracy"] = ("linear", "student-t", 1.0 - ted / L4, 1.0 - hi / L4,
                                 1.0 - lo / L4, np.broadcast_to(p[:, None], (S, K)).copy())
    if args.multiple_choice:
        # Expected values of the toy multiple-choice model: the grade in closed form (the
        # Gumbel-max trick), the Brier score by a large Monte Carlo.
        big = np.random.default_rng(args.seed + 1).gumbel(size=(20000, MC_CHOICES))
        q = p[:, None] ** L2
        boost = np.exp(MC_BOOST * q)
        exp_grade = boost / (boost + MC_CHOICES - 1)
        exp_brier = np.array([[mc_items(q[s, ki], big)[1].mean() for ki in range(K)]
                              for s in range(S)])
        lo, hi = proportion_interval("wilson", mc_grade, n4, confidence)
        metrics["multiple_choice_grade"] = ("nonlinear", "wilson", mc_grade / n4, lo, hi, exp_grade)
        lo, hi = mean_interval(mc_brier, mc_brier_sq, n4, confidence)
        metrics["brier_score"] = ("linear", "student-t", mc_brier / n4, lo, hi, exp_brier)

    config = (
        f"seed = {args.seed}\nreplicates = {R}\n\n[model]\nkind = \"power_law\"\n"
        f"c = {c:g}\nalpha = {alpha:g}\n\n[sweep]\nscales = \"{args.scales}\"\n"
        f"lengths = [{', '.join(str(v) for v in lengths)}]\n"
        f"test_sizes = [{', '.join(str(v) for v in test_sizes)}]\n\n"
        f"[statistics]\ninterval = \"wilson\"\nconfidence = {confidence}\n"
    )
    version = [int(v) for v in args.format_version.split(",")]
    with h5py.File(args.output, "w") as f:
        f.attrs["filetype"] = args.filetype
        f.attrs["format_version"] = np.array(version, dtype=np.int32)
        f.attrs["mirage_version"] = "0.1.0-fixture"
        f.attrs["git_sha"] = "fixture"
        f.attrs["created_utc"] = "2024-01-01T00:00:00Z"
        f.attrs["command_line"] = "make_fixture.py " + " ".join(sys.argv[1:])
        f.attrs["seed"] = np.uint64(args.seed)
        f.attrs["backend"] = "numpy-fixture"
        f.attrs["devices"] = "none"
        f.attrs["elapsed_s"] = 0.0
        f.create_group("config").attrs["config_toml"] = config
        f["model/scale"] = scales
        f["model/loss"] = loss
        f["model/p_token"] = p
        f["task/length"] = lengths
        f["task/test_size"] = test_sizes
        f["task/test_size"].attrs["replicates"] = np.int32(R)
        f["counts/exact_match"] = exact
        f["counts/token_errors"] = errors
        f["counts/token_errors_sq"] = errors_sq
        for name, (kind, interval, est, lo, hi, expected) in metrics.items():
            g = f.create_group(f"metrics/{name}")
            for attr_owner in (g,):
                attr_owner.attrs["interval"] = interval
                attr_owner.attrs["confidence"] = confidence
                attr_owner.attrs["kind"] = kind
            for dname, data in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
                g[dname] = data
                g[dname].attrs["interval"] = interval
                g[dname].attrs["confidence"] = confidence
                g[dname].attrs["kind"] = kind
            g["expected"] = expected
            for key, value in summarise(est, lo, hi, expected).items():
                f[f"summary/{name}/{key}"] = value
        if not args.optional:
            return

        visible = (em > 0.0).mean(axis=-1)  # [S][K][T]
        q = p[:, None] ** L2  # [S][K]
        see = 1.0 - (1.0 - q[:, :, None]) ** test_sizes[None, None, :].astype(float)
        sim = np.full((K, T), np.nan)
        ana = np.full((K, T), np.nan)
        for ki in range(K):
            for ti in range(T):
                hit = np.nonzero(visible[:, ki, ti] >= 0.5)[0]
                sim[ki, ti] = scales[hit[0]] if hit.size else np.nan
                hit = np.nonzero(see[:, ki, ti] >= 0.5)[0]
                ana[ki, ti] = scales[hit[0]] if hit.size else np.nan
        with np.errstate(divide="ignore"):
            required = np.maximum(np.log(0.5) / np.log1p(-q), 1.0)
        f["frontier/simulated_scale"] = sim
        f["frontier/analytic_scale"] = ana
        f["frontier/required_test_size"] = required

        ic = f.create_group("interval_comparison")
        ic.attrs["confidence"] = confidence
        exp4 = q[:, :, None, None]
        for method in METHODS:
            lo, hi = proportion_interval(method, exact, n4, confidence)
            ic[f"{method}/coverage"] = ((lo <= exp4) & (exp4 <= hi)).mean(axis=-1)
            ic[f"{method}/mean_ci_width"] = (hi - lo).mean(axis=-1)

        for name in metrics:  # the multiple-choice metrics too, when written
            est = metrics[name][2]
            lower_is_better = name in ("token_edit_distance", "brier_score")
            y = -est if lower_is_better else est
            score = emergence_score(y)  # [K][T][R]
            f[f"emergence/{name}/score"] = score
            # inverted_cdf never interpolates between +inf and a finite value (no NaN).
            for key, level in (("median", 0.5), ("q025", 0.025), ("q975", 0.975)):
                f[f"emergence/{name}/{key}"] = np.quantile(score, level, axis=-1,
                                                          method="inverted_cdf")
            exp = metrics[name][5]  # [S][K], the analytic curve
            f[f"emergence/{name}/expected"] = emergence_score(-exp if lower_is_better else exp)


# --- a meta-analysis file (mirage meta, host/meta/meta.cpp write_meta_file) -------------------

META_FAMILIES = {
    "gpt3": (np.array([3.5e8, 1.3e9, 6.7e9, 2e11]),
             "the four GPT-3/InstructGPT sizes of Schaeffer et al. 2023"),
    "big-g": (np.array([2e6, 1.6e7, 5.3e7, 1.25e8, 2.44e8, 4.22e8, 1e9, 2e9, 4e9, 8e9, 2.7e10,
                        1.28e11]), "BIG-bench's dense BIG-G models"),
}
META_METRICS = ("exact_match", "token_edit_distance", "token_accuracy", "multiple_choice_grade",
                "brier_score")
LOWER_IS_BETTER = ("token_edit_distance", "brier_score")


def build_meta(args):
    """A small meta-analysis: tasks with their own length, loss law, choices and test size,
    each sampled on every family's scales (one test set per replicate), scored with the
    emergence score; fractions above an absolute and a relative threshold. Difficulty is
    `none` for every task (the fixture's toy sampler has no item difficulty)."""
    rng = np.random.default_rng(args.seed)
    tasks, R = args.tasks, args.replicates
    threshold, relative = 5.0, 2.0
    length = rng.integers(1, 9, size=tasks).astype(np.int32)
    loss_scale = np.exp(rng.uniform(math.log(3e8), math.log(3e10), size=tasks))
    loss_exponent = rng.uniform(-0.8, -0.3, size=tasks)
    choices = rng.choice(np.array([0, 0, 4], dtype=np.int32), size=tasks)
    test_size = np.exp(rng.uniform(math.log(100), math.log(1000), size=tasks)).astype(np.int64)
    big = rng.gumbel(size=(4000, MC_CHOICES))
    curve, expected = {}, {}
    for fam, (scales, _) in META_FAMILIES.items():
        S = len(scales)
        for m in META_METRICS:
            curve[m, fam] = np.full((tasks, R, S), np.nan)
            expected[m, fam] = np.full((tasks, S), np.nan)
        for t in range(tasks):
            L, n = int(length[t]), int(test_size[t])
            p = np.exp(-(scales / loss_scale[t]) ** loss_exponent[t])
            q = p ** L
            expected["exact_match", fam][t] = q
            expected["token_edit_distance", fam][t] = L * (1.0 - p)
            expected["token_accuracy", fam][t] = p
            for r in range(R):
                k = rng.binomial(L, p[:, None], size=(S, n))  # correct tokens per item
                curve["exact_match", fam][t, r] = (k == L).mean(axis=1)
                curve["token_edit_distance", fam][t, r] = (L - k).mean(axis=1)
                curve["token_accuracy", fam][t, r] = k.mean(axis=1) / L
            if choices[t]:
                boost = np.exp(MC_BOOST * q)
                expected["multiple_choice_grade", fam][t] = boost / (boost + MC_CHOICES - 1)
                expected["brier_score", fam][t] = [mc_items(v, big)[1].mean() for v in q]
                for r in range(R):
                    gumbel = rng.gumbel(size=(n, MC_CHOICES))
                    items = [mc_items(v, gumbel) for v in q]
                    curve["multiple_choice_grade", fam][t, r] = [g.mean() for g, _ in items]
                    curve["brier_score", fam][t, r] = [b.mean() for _, b in items]
    F = len(META_FAMILIES)
    with h5py.File(args.output, "w") as f:
        f.attrs["filetype"] = args.filetype if args.filetype != "mirage-results" else \
            "mirage-meta"
        f.attrs["format_version"] = np.array([int(v) for v in args.format_version.split(",")],
                                             dtype=np.int32)
        f.attrs["mirage_version"] = "0.1.0-fixture"
        f.attrs["git_sha"] = "fixture"
        f.attrs["created_utc"] = "2024-01-01T00:00:00Z"
        f.attrs["command_line"] = "make_fixture.py " + " ".join(sys.argv[1:])
        f.attrs["seed"] = np.uint64(args.seed)
        f.attrs["backend"] = "numpy-fixture"
        f.attrs["devices"] = "none"
        f.attrs["elapsed_s"] = 0.0
        f.create_group("config").attrs["config_toml"] = (
            f"[meta]\ntasks = {tasks}\nreplicates = {R}\nseed = {args.seed}\n"
            f"families = [{', '.join(repr(x) for x in META_FAMILIES)}]\n"
            "length = \"int:1:8\"\nloss-scale = \"loguniform:3e8:3e10\"\n"
            "loss-exponent = \"uniform:-0.8:-0.3\"\ndifficulty-family = \"choice:none\"\n"
            "choices = \"choice:0,0,4\"\ntest-size = \"int-log:100:1000\"\n"
            f"threshold = {threshold}\nrelative-threshold = {relative}\n".replace("'", '"'))
        f["meta/task/length"] = length
        f["meta/task/loss_scale"] = loss_scale
        f["meta/task/loss_exponent"] = loss_exponent
        f["meta/task/difficulty_family"] = np.zeros(tasks, dtype=np.int32)
        f["meta/task/difficulty_family"].attrs["names"] = ("0 none, 1 normal, 2 logistic, "
                                                           "3 kumaraswamy")
        f["meta/task/difficulty_a"] = np.full(tasks, np.nan)
        f["meta/task/difficulty_b"] = np.full(tasks, np.nan)
        f["meta/task/choices"] = choices
        f["meta/task/test_size"] = test_size
        for i, (fam, (scales, description)) in enumerate(META_FAMILIES.items()):
            f[f"meta/family/{fam}/scale"] = scales
            f[f"meta/family/{fam}"].attrs["description"] = description
            f[f"meta/family/{fam}"].attrs["source"] = "fixture"
            f[f"meta/family/{fam}"].attrs["index"] = np.int64(i)
        for m in META_METRICS:
            sign = -1.0 if m in LOWER_IS_BETTER else 1.0
            score = np.full((tasks, F, R), np.nan)
            score_expected = np.full((tasks, F), np.nan)
            for fi, fam in enumerate(META_FAMILIES):
                f[f"meta/curve/{m}/{fam}"] = curve[m, fam]
                f[f"meta/expected/{m}/{fam}"] = expected[m, fam]
                applies = ~np.isnan(curve[m, fam][:, 0, 0])
                y = sign * np.moveaxis(curve[m, fam][applies], -1, 0)  # [S][tasks][R]
                score[applies, fi, :] = emergence_score(y)
                score_expected[applies, fi] = emergence_score(sign * expected[m, fam][applies].T)
            applies = ~np.isnan(score[:, 0, 0])
            S = np.array([len(v[0]) for v in META_FAMILIES.values()], dtype=float)
            with np.errstate(invalid="ignore"):
                above = score[applies] > threshold  # [tasks][F][R]
                above_rel = score[applies] > relative * (S[None, :, None] - 1)
                exp_above = score_expected[applies] > threshold
                exp_rel = score_expected[applies] > relative * (S[None, :] - 1)
            count = max(int(applies.sum()), 1)
            f[f"meta/score/{m}"] = score
            f[f"meta/score/{m}"].attrs["curve"] = "-estimate" if sign < 0 else "estimate"
            f[f"meta/score_expected/{m}"] = score_expected
            replicate = above.sum(axis=0) / count  # [F][R]
            f[f"meta/fraction_replicate/{m}"] = replicate
            for name, value, attr, level in (
                    ("fraction", replicate.mean(axis=1), "threshold", threshold),
                    ("fraction_expected", exp_above.sum(axis=0) / count, "threshold", threshold),
                    ("fraction_relative", above_rel.sum(axis=0).mean(axis=1) / count,
                     "relative_threshold", relative),
                    ("fraction_relative_expected", exp_rel.sum(axis=0) / count,
                     "relative_threshold", relative)):
                f[f"meta/{name}/{m}"] = value
                f[f"meta/{name}/{m}"].attrs[attr] = level
        f["meta"].attrs["families"] = ",".join(META_FAMILIES)
        f["meta"].attrs["threshold"] = threshold
        f["meta"].attrs["relative_threshold"] = relative
        f["meta"].attrs["tasks"] = np.int64(tasks)
        f["meta"].attrs["replicates"] = np.int64(R)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("--scales", default="1e8:1e13:21")
    ap.add_argument("--lengths", default="1,2,5")
    ap.add_argument("--test-sizes", default="10,100,1000")
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-optional", dest="optional", action="store_false",
                    help="omit /frontier, /interval_comparison and /emergence")
    ap.add_argument("--no-multiple-choice", dest="multiple_choice", action="store_false",
                    help="omit /metrics and /summary for multiple_choice_grade and brier_score")
    ap.add_argument("--filetype", default="mirage-results",
                    help="root attribute filetype (with --meta: mirage-meta unless given)")
    ap.add_argument("--format-version", default="1,0")
    ap.add_argument("--meta", action="store_true",
                    help="write a meta-analysis file (mirage meta) instead of a run file")
    ap.add_argument("--tasks", type=int, default=12, help="tasks of a --meta file")
    args = ap.parse_args(argv)
    if args.meta:
        if args.format_version == "1,0" and "--format-version" not in (argv or sys.argv):
            args.format_version = "1,1"  # meta files are new in format 1.1
        if "--replicates" not in (argv or sys.argv):
            args.replicates = 3
        build_meta(args)
        return 0
    build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
