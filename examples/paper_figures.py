#!/usr/bin/env python3
"""Paper figures 2 and 4 (Schaeffer, Miranda & Koyejo, "Are Emergent Abilities of Large
Language Models a Mirage?", NeurIPS 2023) through the Python API, in a few lines.

  python3 -m pip install .                       # once, from the repository root
  python3 examples/paper_figures.py [-o results/figures] [--small]

The default sweep is `mirage run`'s: the toy model L(N) = (N / 2e9)^-0.5 at 41 scales from
1e8 to 1e13, lengths 1..5, nested test sets of 10..1e5 items, 100 replicates (a few seconds
on 2 cores). --small is the quick sweep the tests run. Writes model.png (figure 2: one smooth
model, exact match sharp, token edit distance smooth) and resolution.png (figure 4: a small
test set cannot see a small accuracy) and prints what they show.
"""

import argparse

import mirage
import mirage.plot

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("-o", "--output-dir", default="results/figures")
ap.add_argument("--small", action="store_true", help="21 scales, n <= 1000, 20 replicates")
args = ap.parse_args()

# 1. The sweep, as an xarray.DataTree (the content of the result file).
if args.small:
    tree = mirage.run(scales="1e8:1e13:21", test_sizes=[10, 100, 1000], replicates=20)
else:
    tree = mirage.run()  # the defaults of `mirage run`

# 2. Figure 2: the same per-token probability, two metrics, at L = 5 and the largest test set.
L, n = 5, int(tree["task"]["test_size"][-1])
exact = tree["summary/exact_match"]["mean"].sel(length=L, test_size=n)
edit = tree["summary/token_edit_distance"]["mean"].sel(length=L, test_size=n)
for scale in exact.scale.values[:: max(1, exact.sizes["scale"] // 6)]:
    print(f"N = {scale:8.2e}: exact match {float(exact.sel(scale=scale)):.4f}, "
          f"token edit distance {float(edit.sel(scale=scale)):.3f}")

# 3. Figure 4: the smallest scale at which half the test sets see a nonzero exact match.
frontier = tree["frontier"]["simulated_scale"].sel(length=L)
for size, scale in zip(frontier.test_size.values, frontier.values):
    print(f"n = {size:6d}: exact match first visible at N = {scale:.3g}")

for path in mirage.plot.save(tree, args.output_dir, ["model", "resolution"]):
    print("wrote", path)
