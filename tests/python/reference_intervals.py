#!/usr/bin/env python3
"""Reference values pasted into tests/test_intervals.cpp (not run by CI).

Every value is computed here from the published definition, independently of the C++ code:

* logit, likelihood-ratio and Blaker intervals for a binomial proportion, at 40 significant
  digits with mpmath (1.3.0):
  - logit: expit(log(x/(n-x)) -/+ z sqrt(n/(x(n-x)))), and at x = 0 / x = n the ends R's
    binom package uses (binom.confint(method = "logit"): 1 - (alpha/2)^(1/n) and
    (alpha/2)^(1/n));
  - likelihood ratio: both roots of 2 (l(phat) - l(p)) = z^2 by bisection (closed forms at
    x = 0 and x = n);
  - Blaker (2000): the acceptability a(x, p) = P(gamma(X) <= gamma(x)) summed over every
    outcome, gamma(y) = min(P(X <= y), P(X >= y)); each end is found by scanning a grid of
    400 points between the two-sided Clopper-Pearson end (alpha/2) and the one-sided one
    (alpha) for the first accepted point (a > alpha), then bisecting the accept/reject
    boundary between that point and the one before. This uses nothing of the C++
    algorithm (which needs no grid).
* wilson-deff and clopper-pearson-deff (Korn & Graubard 1998, df-adjusted as in R's
  survey::svyciprop(method = "beta")) from per-item correct-token counts k_1..k_n, in
  mpmath (t and Beta quantiles by bisection on the regularized incomplete beta); with
  --r, also R's survey package on the same data (items as clusters of L token rows) for
  the cases where the design effect is >= 1 (survey does not truncate it).
* Newcombe's hybrid score interval for p1 - p2 from statsmodels'
  confint_proportions_2indep(..., method="newcomb", compare="diff") (statsmodels 0.15.0).
* exact coverage of the token intervals by brute-force enumeration of every vector of
  per-item counts (independent Python implementations of the four intervals, scipy 1.17
  quantiles).

Usage: python3 tests/python/reference_intervals.py [--r]
Needs: pip install mpmath scipy statsmodels; --r needs Rscript with the survey package
(Debian: apt-get install r-base-core r-cran-survey).
"""
import itertools
import subprocess
import sys

import mpmath as mp

mp.mp.dps = 40


def fmt(v):
    v = float(v)
    return repr(v) if v not in (0.0, 1.0) else ("0.0" if v == 0.0 else "1.0")


def bisect(f, a, b, iterations=200):
    """Root of f on [a, b], f(a) and f(b) of opposite signs (or zero)."""
    a, b = mp.mpf(a), mp.mpf(b)
    fa = f(a)
    for _ in range(iterations):
        m = (a + b) / 2
        fm = f(m)
        if fm == 0:
            return m
        if (fm > 0) == (fa > 0):
            a, fa = m, fm
        else:
            b = m
    return (a + b) / 2


def z_of(confidence):
    return mp.sqrt(2) * mp.erfinv(mp.mpf(confidence))


def tail_of(confidence):
    return (1 - mp.mpf(confidence)) / 2


def ibeta(a, b, x):
    return mp.betainc(a, b, 0, x, regularized=True)


def beta_quantile(a, b, prob):
    return bisect(lambda p: ibeta(a, b, p) - prob, 0, 1)


def t_upper_quantile(dof, tail):
    """t with P(T > t) = tail, by P(T > t) = I_{v/(v+t^2)}(v/2, 1/2) / 2."""
    v = mp.mpf(dof)
    f = lambda t: ibeta(v / 2, mp.mpf(1) / 2, v / (v + t * t)) / 2 - tail
    hi = mp.mpf(1)
    while f(hi) > 0:
        hi *= 2
    return bisect(f, 0, hi)


# --------------------------------------------------------------------------------------
# Proportion intervals


def logit_interval(x, n, confidence):
    z = z_of(confidence)
    tail = tail_of(confidence)
    if x == 0:
        return mp.mpf(0), 1 - tail ** (mp.mpf(1) / n)
    if x == n:
        return tail ** (mp.mpf(1) / n), mp.mpf(1)
    eta = mp.log(mp.mpf(x) / (n - x))
    se = mp.sqrt(mp.mpf(n) / (x * (n - x)))
    expit = lambda t: 1 / (1 + mp.exp(-t))
    return expit(eta - z * se), expit(eta + z * se)


def lr_interval(x, n, confidence):
    c = z_of(confidence) ** 2
    if x == 0:
        return mp.mpf(0), 1 - mp.exp(-c / (2 * n))
    if x == n:
        return mp.exp(-c / (2 * n)), mp.mpf(1)
    ph = mp.mpf(x) / n

    def dev(p):
        return 2 * (x * mp.log(ph / p) + (n - x) * mp.log((1 - ph) / (1 - p))) - c

    a = ph / 2
    while dev(a) < 0:
        a /= 2
    g = (1 - ph) / 2
    while dev(1 - g) < 0:
        g /= 2
    return bisect(dev, a, ph), bisect(dev, ph, 1 - g)


def binomial_pmf(n, p):
    p = mp.mpf(p)
    if p == 0:
        return [mp.mpf(1)] + [mp.mpf(0)] * n
    if p == 1:
        return [mp.mpf(0)] * n + [mp.mpf(1)]
    q = 1 - p
    pmf = [q**n]
    r = p / q
    for y in range(n):
        pmf.append(pmf[-1] * (n - y) / (y + 1) * r)
    return pmf


def acceptability(x, n, p):
    pmf = binomial_pmf(n, p)
    low = list(itertools.accumulate(pmf))  # P(X <= y)
    up = list(reversed(list(itertools.accumulate(reversed(pmf)))))  # P(X >= y)
    gamma = [min(a, b) for a, b in zip(low, up)]
    g = gamma[x] * (1 + mp.mpf(10) ** -30)
    return sum(pmf[y] for y in range(n + 1) if gamma[y] <= g)


def blaker_interval(x, n, confidence, grid=400):
    alpha = 1 - mp.mpf(confidence)
    tail = alpha / 2
    acc = lambda p: acceptability(x, n, p) > alpha

    def end(lower):
        if lower:
            if x == 0:
                return mp.mpf(0)
            start = beta_quantile(x, n - x + 1, tail)  # two-sided CP
            stop = beta_quantile(x, n - x + 1, alpha)  # one-sided CP: accepted beyond
        else:
            if x == n:
                return mp.mpf(1)
            start = beta_quantile(x + 1, n - x, 1 - tail)
            stop = beta_quantile(x + 1, n - x, 1 - alpha)
        # Every p strictly beyond the one-sided end is accepted (both tails exceed alpha);
        # the end itself may be the boundary (e.g. n = 1), so step slightly past it.
        phat = mp.mpf(x) / n
        stop += (phat - stop) / 1000
        previous = start
        for i in range(1, grid + 1):
            p = start + (stop - start) * i / grid
            if acc(p):
                a, b = previous, p  # a rejected, b accepted
                for _ in range(110):
                    m = (a + b) / 2
                    if acc(m):
                        b = m
                    else:
                        a = m
                return b
            previous = p
        raise RuntimeError("no accepted point")

    return end(True), end(False)


# --------------------------------------------------------------------------------------
# Token (design-effect) intervals


def tallies(ks, length):
    d = [length - k for k in ks]
    return sum(d), sum(v * v for v in d)


def kish_trials(E, E2, n, L):
    N = n * L
    if n == 1 or E == 0 or E == N:
        return mp.mpf(N)
    den = n * E2 - E * E
    if den <= 0:
        return mp.mpf(N)
    return min(mp.mpf(N), mp.mpf((N - E) * E * (n - 1)) / den)


def wilson_deff(E, E2, n, L, confidence):
    w = kish_trials(E, E2, n, L)
    z = z_of(confidence)
    q = mp.mpf(E) / (n * L)
    den = 1 + z * z / w
    c = (q + z * z / (2 * w)) / den
    h = z / den * mp.sqrt(q * (1 - q) / w + z * z / (4 * w * w))
    lo = 0 if E == 0 else max(0, c - h)
    hi = 1 if E == n * L else min(1, c + h)
    return L * lo, L * hi


def korn_graubard(E, E2, n, L, confidence):
    w = kish_trials(E, E2, n, L)
    tail = tail_of(confidence)
    if n >= 2:
        w *= (t_upper_quantile(n * L - 1, tail) / t_upper_quantile(n - 1, tail)) ** 2
    q = mp.mpf(E) / (n * L)
    xs = w * q
    lo = 0 if E == 0 else beta_quantile(xs, w - xs + 1, tail)
    hi = 1 if E == n * L else beta_quantile(xs + 1, w - xs, 1 - tail)
    return L * lo, L * hi


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
L <- as.integer(args[1]); conf <- as.numeric(args[2]); k <- as.integer(strsplit(args[3], ",")[[1]])
n <- length(k)
df <- data.frame(item = rep(seq_len(n), each = L),
                 correct = unlist(lapply(k, function(ki) c(rep(1, ki), rep(0, L - ki)))))
d <- suppressWarnings(svydesign(ids = ~item, data = df))
ci <- svyciprop(~correct, d, method = "beta", level = conf)
cat(sprintf("%.17g %.17g\n", attr(ci, "ci")[1], attr(ci, "ci")[2]))
"""


def r_korn_graubard(ks, L, confidence):
    out = subprocess.run(["Rscript", "-e", R_SCRIPT, str(L), str(confidence),
                          ",".join(map(str, ks))], capture_output=True, text=True, check=True)
    p_low, p_high = map(float, out.stdout.split())
    return L * (1 - p_high), L * (1 - p_low)  # accuracy P -> edit distance L (1 - P)


# --------------------------------------------------------------------------------------
# Brute-force exact coverage (float64, scipy quantiles)


def brute_coverage(method, k_pmf, n, confidence, truth):
    from scipy import stats

    L = len(k_pmf) - 1
    z = stats.norm.isf((1 - confidence) / 2)
    total = 0.0
    any_interval = False
    for ks in itertools.product(range(L + 1), repeat=n):
        prob = 1.0
        for k in ks:
            prob *= k_pmf[k]
        if prob == 0.0:
            continue
        E, E2 = tallies(ks, L)
        if method in ("student-t", "normal"):
            if n < 2:
                continue
            mean = E / n
            sd = ((n * E2 - E * E) / (n * (n - 1))) ** 0.5
            crit = stats.t.isf((1 - confidence) / 2, n - 1) if method == "student-t" else z
            lo, hi = max(0.0, mean - crit * sd / n**0.5), min(L, mean + crit * sd / n**0.5)
            if sd == 0:
                lo = hi = mean
        elif method == "wilson-deff":
            lo, hi = map(float, wilson_deff(E, E2, n, L, confidence))
        else:
            lo, hi = map(float, korn_graubard(E, E2, n, L, confidence))
        any_interval = True
        if lo <= truth <= hi:
            total += prob
    return total if any_interval else float("nan")


def main():
    use_r = "--r" in sys.argv

    print("// logit, likelihood-ratio, Blaker: {method, x, n, confidence, low, high}")
    cases = [(0, 1, 0.95), (1, 1, 0.95), (0, 10, 0.95), (1, 10, 0.95), (9, 10, 0.95),
             (10, 10, 0.95), (5, 10, 0.95), (3, 17, 0.90), (7, 50, 0.99), (13, 16, 0.95),
             (1, 100, 0.95), (42, 1000, 0.95), (2, 7, 0.50), (0, 2000, 0.95), (1, 2000, 0.99),
             (1999, 2000, 0.95), (987, 2000, 0.95)]
    for name, fn in (("LOGIT", logit_interval), ("LIKELIHOOD_RATIO", lr_interval),
                     ("BLAKER", blaker_interval)):
        for x, n, conf in cases:
            if name == "BLAKER" and n >= 2000 and x not in (0, 1, 1999):
                continue  # the grid scan at n = 2000 is slow in mpmath; see n = 1000 below
            lo, hi = fn(x, n, conf)
            print(f"      {{M::{name}, {x}, {n}, {conf}, {fmt(lo)}, {fmt(hi)}}},")
    lo, hi = blaker_interval(421, 1000, 0.95)
    print(f"      {{M::BLAKER, 421, 1000, 0.95, {fmt(lo)}, {fmt(hi)}}},")

    print("\n// token intervals: {k list, L, confidence, wilson-deff low, high, kg low, high}")
    token_cases = [([3, 1, 2, 0, 3], 3, 0.95), ([5, 5, 4, 0, 1, 5, 5, 3, 2, 5], 5, 0.95),
                   ([2, 2, 2, 2], 2, 0.95), ([0, 0, 0], 4, 0.95), ([4, 4, 4, 4, 4, 4], 4, 0.90),
                   ([1], 3, 0.95), ([3], 3, 0.95), ([0, 1], 1, 0.99), ([2, 1, 2, 2, 0, 2], 2, 0.99),
                   ([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], 1, 0.95)]
    for ks, L, conf in token_cases:
        n = len(ks)
        E, E2 = tallies(ks, L)
        wl, wh = wilson_deff(E, E2, n, L, conf)
        kl, kh = korn_graubard(E, E2, n, L, conf)
        print(f"      {{{E}, {E2}, {n}, {L}, {conf}, {fmt(wl)}, {fmt(wh)}, {fmt(kl)}, {fmt(kh)}}},"
              f"  // k = {ks}, n_eff = {float(kish_trials(E, E2, n, L)):.6g}")
        if use_r and n >= 2 and 0 < E < n * L and n * E2 - E * E > 0:
            raw = mp.mpf((n * L - E) * E * (n - 1)) / (n * E2 - E * E)
            if raw <= n * L:
                rl, rh = r_korn_graubard(ks, L, conf)
                print(f"      //   R survey svyciprop(beta): {rl!r}, {rh!r}"
                      f"  (max dev {max(abs(rl - float(kl)), abs(rh - float(kh))):.2g})")

    print("\n// Newcombe: {x1, n1, x2, n2, confidence, low, high} (statsmodels)")
    import statsmodels
    from statsmodels.stats.proportion import confint_proportions_2indep

    print(f"// statsmodels {statsmodels.__version__}")
    for x1, n1, x2, n2, conf in [(56, 70, 48, 80, 0.95), (7, 34, 1, 34, 0.95), (9, 10, 3, 10, 0.95), (0, 10, 0, 20, 0.95),
                                 (10, 10, 0, 10, 0.95), (0, 10, 10, 10, 0.95), (5, 10, 5, 10, 0.95),
                                 (3, 3, 3, 3, 0.95), (0, 1, 1, 1, 0.90), (1, 100, 0, 100, 0.95),
                                 (7, 50, 12, 60, 0.99), (421, 1000, 398, 1000, 0.95),
                                 (0, 100000, 1, 100000, 0.95), (5, 29, 5, 29, 0.80)]:
        lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff",
                                           alpha=1 - conf)
        print(f"      {{{x1}, {n1}, {x2}, {n2}, {conf}, {float(lo)!r}, {float(hi)!r}}},")

    print("\n// exact coverage by enumeration: {method, k_pmf, n, confidence, truth, coverage}")
    for method, pmf, n, conf in [("student-t", [0.1, 0.3, 0.6], 4, 0.95),
                                 ("normal", [0.2, 0.2, 0.1, 0.5], 3, 0.90),
                                 ("wilson-deff", [0.05, 0.15, 0.3, 0.5], 4, 0.95),
                                 ("clopper-pearson-deff", [0.3, 0.3, 0.4], 5, 0.95)]:
        L = len(pmf) - 1
        truth = sum((L - j) * p for j, p in enumerate(pmf))
        cov = brute_coverage(method, pmf, n, conf, truth)
        print(f"      {{\"{method}\", {pmf}, {n}, {conf}, {truth!r}, {cov!r}}},")


if __name__ == "__main__":
    main()
