#!/usr/bin/env python3
"""Three ways to buy resolution for a tiny accuracy, compared per token draw (README: "Buying
resolution"; DESIGN.md §5.7).

  python3 -m pip install .                       # once, from the repository root
  python3 examples/buying_resolution.py [-o results/figures] [--small]

At length L = 5 on the default model (p(N) = exp(-(N / 2e9)^-0.5)) the exact-match accuracy
q = p^L is tiny at small scales, and a test set that sees no success scores exactly 0. Three
ways to see it earlier, each at a few budgets:

  (a) more items:           exact match on n items,                 n L draws per test set;
  (b) repeated attempts:    pass@1 from A attempts on 100 items,    100 A L draws;
  (c) sampling until success (PassUntil, `until_success`, budget B on 100 items): the draws
      actually used, at most 100 B L.

The frontier of a way is the smallest scale at which at least half of the replicate test sets
see a nonzero estimate (/summary/<metric>/p_zero <= 1/2). Writes buying-resolution.png
(frontier scale against token draws per test set, with the analytic frontier
1 - (1 - q)^M = 1/2 for M attempts in all) and buying-resolution.csv, and prints the table and
the draws each way needs to see L = 5 at N = 1e8. About 50 s on 2 cores; --small (the test's
variant) a few seconds.
"""

import argparse
import csv
import math
import os

import numpy as np

import mirage

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("-o", "--output-dir", default="results/figures")
ap.add_argument("--small", action="store_true",
                help="21 scales, 20 replicates, fewer budgets (the test's variant)")
args = ap.parse_args()

L, C, ALPHA = 5, 2e9, -0.5           # the default loss law L(N) = (N / C)^ALPHA, p = exp(-L(N))
ITEMS = 100                          # items per test set of ways (b) and (c)
if args.small:
    SCALES, REPLICATES = "1e8:1e10:21", 20
    SIZES, ATTEMPTS, BUDGETS = [10, 100, 1000, 10000], [10, 100], [10, 100, 1000]
else:
    SCALES, REPLICATES = "1e8:1e10:41", 100
    SIZES = [10, 100, 1000, 10000, 100000, 1000000]
    ATTEMPTS, BUDGETS = [10, 100, 1000], [10, 100, 1000, 10000]
common = dict(scales=SCALES, lengths=[L], replicates=REPLICATES, backend="cpu", quiet=True)


def exact_rate(scale):
    """q = p(N)^L, the probability that one attempt at one item is exactly right."""
    return np.exp(-L * (np.asarray(scale, float) / C) ** ALPHA)


def scale_of_rate(q):
    """The scale at which p^L = q (the loss law inverted)."""
    return C * (-math.log(q) / L) ** (1.0 / ALPHA)


def attempts_to_see(q):
    """The fewest attempts M (in all, over the test set) with 1 - (1 - q)^M >= 1/2."""
    return math.ceil(math.log(0.5) / math.log1p(-q))


def analytic_frontier(attempts):
    """Off the grid: the scale where 1 - (1 - q)^M = 1/2, q = 1 - 2^(-1/M)."""
    return scale_of_rate(-math.expm1(-math.log(2.0) / attempts))


def short(v):
    """10, 100, 1000, 1e4, 1e5, ...: budgets as the figure labels them."""
    return f"{v:g}" if v < 1e4 else f"{v:.0e}".replace("e+0", "e").replace("e+", "e")


def first_visible(p_zero, scales):
    """The smallest scale at which at most half the replicates score exactly 0 (NaN if none)."""
    hits = np.flatnonzero(np.asarray(p_zero) <= 0.5)
    return (float(scales[hits[0]]), int(hits[0])) if hits.size else (math.nan, -1)


rows = []  # way, budget label, items, attempts per item, draws, frontier, grid analytic, exact


def record(way, label, items, per_item, p_zero, draws_at, scales):
    frontier, index = first_visible(p_zero, scales)
    total = items * per_item  # attempts in all, at most (way c stops at the first success)
    visible = -np.expm1(total * np.log1p(-exact_rate(scales))) >= 0.5
    grid = float(scales[np.argmax(visible)]) if visible.any() else math.nan
    draws = draws_at(index) if index >= 0 else math.nan
    rows.append(dict(way=way, budget=label, items=items, attempts_per_item=per_item,
                     draws_per_test_set=draws, frontier_scale=frontier,
                     frontier_grid_analytic=grid,
                     frontier_exact_analytic=analytic_frontier(total)))


# (a) More items: one run, nested test sets; exact match costs n L draws per test set.
tree = mirage.run(test_sizes=SIZES, **common)
scales = tree["summary/exact_match"]["scale"].values
for n in SIZES:
    p_zero = tree["summary/exact_match"]["p_zero"].sel(length=L, test_size=n).values
    record("a: more items", f"n={short(n)}", n, 1, p_zero, lambda i, n=n: float(n * L), scales)
    simulated = float(tree["frontier"]["simulated_scale"].sel(length=L, test_size=n))
    assert rows[-1]["frontier_scale"] == simulated or (
        math.isnan(simulated) and math.isnan(rows[-1]["frontier_scale"])), (n, simulated)

# (b) Repeated attempts: pass@1 from A attempts per item; every attempt draws L tokens.
for a in ATTEMPTS:
    tree = mirage.run(test_sizes=[ITEMS], attempts=a, pass_at=[1], **common)
    p_zero = tree["summary/pass_at_1"]["p_zero"].sel(length=L, test_size=ITEMS).values
    record("b: attempts (pass@1)", f"A={short(a)}", ITEMS, a, p_zero,
           lambda i, a=a: float(ITEMS * a * L), scales)

# (c) Sampling until success: the draws actually used, from the attempts each test set used
# (/counts/until_attempts, summed over its items), L draws per attempt.
for b in BUDGETS:
    tree = mirage.run(test_sizes=[ITEMS], until_success=True, budget=b, **common)
    p_zero = tree["summary/until_success"]["p_zero"].sel(length=L, test_size=ITEMS).values
    used = tree["counts"]["until_attempts"].sel(length=L, test_size=ITEMS).values  # [S][R]
    assert int(used.sum()) * L == int(tree.attrs["token_draws"])
    record("c: until success", f"B={short(b)}", ITEMS, b, p_zero,
           lambda i, used=used: float(used[i].mean() * L), scales)

# The table.
print(f"L = {L}, scales {SCALES} (step x{scales[1] / scales[0]:.3f}), {REPLICATES} replicates; "
      "frontier = smallest scale with p_zero <= 1/2")
print(f"{'way':22s} {'budget':>9s} {'draws/test set':>15s} {'frontier N':>11s} "
      f"{'p^L there':>10s} {'analytic (grid)':>16s} {'analytic (exact)':>17s}")
for r in rows:
    q = exact_rate(r["frontier_scale"]) if not math.isnan(r["frontier_scale"]) else math.nan
    print(f"{r['way']:22s} {r['budget']:>9s} {r['draws_per_test_set']:15.3g} "
          f"{r['frontier_scale']:11.3g} {q:10.2g} {r['frontier_grid_analytic']:16.3g} "
          f"{r['frontier_exact_analytic']:17.3g}")

# What seeing L = 5 at N = 1e8 would cost: far beyond a simulation (about 1.8e10 draws per test
# set), so analytically. Each way sees a nonzero estimate iff one of its attempts succeeds.
N0 = 1e8
q0 = float(exact_rate(N0))
m0 = attempts_to_see(q0)  # attempts in all for a 1/2 chance of one success
a_max, b_max = max(ATTEMPTS), max(BUDGETS)
n_b, n_c = math.ceil(m0 / a_max), math.ceil(m0 / b_max)
per_item_c = -math.expm1(b_max * math.log1p(-q0)) / q0  # E[min(T, B)], T ~ Geometric(q)
print(f"\nTo see L = {L} at N = {N0:.0e} (p = {q0 ** (1 / L):.4f}, q = p^{L} = {q0:.3g}): "
      f"1 - (1 - q)^M >= 1/2 needs M = {m0:.3g} attempts in all (ln 2 / q)")
print(f"{'way':22s} {'how':44s} {'draws/test set':>15s}  source")
for way, how, draws in [
        ("a: more items", f"n = {m0:.3g} items, 1 attempt each", m0 * L),
        ("b: attempts (pass@1)", f"A = {a_max}, n = {n_b:.3g} items", n_b * a_max * L),
        ("b: attempts (pass@1)", f"n = {ITEMS}, A = {math.ceil(m0 / ITEMS):.3g} (limit 1024)",
         math.ceil(m0 / ITEMS) * ITEMS * L),
        ("c: until success", f"B = {b_max}, n = {n_c:.3g} items (expected use)",
         n_c * per_item_c * L),
        ("c: until success", f"n = {ITEMS}, B = {math.ceil(m0 / ITEMS):.3g} (limit 16384)",
         ITEMS * L * -math.expm1(math.ceil(m0 / ITEMS) * math.log1p(-q0)) / q0)]:
    print(f"{way:22s} {how:44s} {draws:15.3g}  analytic")

os.makedirs(args.output_dir, exist_ok=True)
table = os.path.join(args.output_dir, "buying-resolution.csv")
with open(table, "w", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print("wrote", table)

# The figure: frontier scale against draws per test set, one line per way, and the analytic
# frontier of M = draws / L attempts in all (the same curve for every way).
import matplotlib  # noqa: E402

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(8.0, 5.6), constrained_layout=True)
draws = np.logspace(np.log10(L * 2), np.log10(m0 * L * 3), 400)
ax.plot(draws, [analytic_frontier(d / L) for d in draws], color="0.55", lw=1.5, zorder=1,
        label="analytic: 1 - (1 - $p^L$)$^M$ = 1/2,  M = draws / L")
# The three ways meet at the same draws (n = 1000, A = 10 and B = 10 are 1000 attempts in all):
# (a) is labelled below the curve, (b) and (c) above it, one over the other.
styles = {"a: more items": ("C0", "o", 9, (-9, -14), "right"),
          "b: attempts (pass@1)": ("C3", "s", 7, (9, 5), "left"),
          "c: until success": ("C2", "^", 5, (9, 17), "left")}
for way, (color, marker, size, offset, align) in styles.items():
    mine = [r for r in rows if r["way"] == way and not math.isnan(r["frontier_scale"])]
    x = [r["draws_per_test_set"] for r in mine]
    y = [r["frontier_scale"] for r in mine]
    label = {"a: more items": "(a) exact match on n items",
             "b: attempts (pass@1)": f"(b) pass@1 from A attempts, n = {ITEMS}",
             "c: until success": f"(c) until success, budget B, n = {ITEMS}"}[way]
    ax.plot(x, y, color=color, marker=marker, ms=size, lw=1.2, label=label, zorder=3,
            mfc=color if marker == "o" else "white", mew=1.5)
    for r, xi, yi in zip(mine, x, y):
        ax.annotate(r["budget"], (xi, yi), textcoords="offset points", xytext=offset,
                    ha=align, fontsize=8.5, color=color)
ax.plot([m0 * L], [N0], marker="*", ms=13, color="k", zorder=4, ls="none")
ax.annotate(f"N = 1e8: q = {q0:.1e},\n{m0 * L:.1e} draws (analytic)", (m0 * L, N0),
            textcoords="offset points", xytext=(-10, 10), ha="right", fontsize=8.5)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel(f"token draws per test set (L = {L} per attempt)")
ax.set_ylabel("frontier: smallest scale N where half the test sets see > 0")
ax.set_title(f"Buying resolution at L = {L}: who sees the ability first per draw "
             f"({REPLICATES} test sets per point)", fontsize=10.5)
ax.set_ylim(N0 * 0.8, 1.25e10)
ax.grid(True, which="major", alpha=0.3)
ax.grid(True, which="minor", alpha=0.1)
ax.legend(loc="upper right", fontsize=9)
figure = os.path.join(args.output_dir, "buying-resolution.png")
fig.savefig(figure, dpi=150)
print("wrote", figure)
