#!/usr/bin/env python3
"""Coverage of every interval method, as a Markdown table, from a Mirage result file.

For each metric (exact match at the shortest length, token accuracy and token edit distance
at the longest) and each interval method in /interval_comparison, the simulated coverage at
every (test size, scale) of the file, with the exact coverage in parentheses where the file
has it. The README's table of methods comes from this command:

  build/mirage run --scales 9.4306e7,4.1627e9 --lengths 1,5 --test-sizes 10,1000 \\
      --replicates 4000 -q -o results/intervals.h5
  python3 scripts/interval_table.py results/intervals.h5

(the two scales put the default model's per-token probability at p = 0.01 and p = 0.5, so
exact match at L = 1 and token accuracy at every L have a small and a middling accuracy).

Exit status 2 for a file without /interval_comparison/<metric>/<method> (format 1.1).
"""

import argparse
import sys

import h5py
import numpy as np


def text(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return text(value.item())
    return str(value)


ORDER = ("wilson", "clopper-pearson", "jeffreys", "agresti-coull", "wald", "logit",
         "likelihood-ratio", "blaker", "wilson-deff", "clopper-pearson-deff", "student-t",
         "normal")


def cell(sim, exact):
    if np.isnan(sim):
        return "undefined"
    return f"{sim:.3f}" + ("" if np.isnan(exact) else f" ({exact:.3f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="Mirage result file (format 1.1)")
    args = ap.parse_args(argv)
    with h5py.File(args.input, "r") as f:
        if "interval_comparison" not in f or "exact_match" not in f["interval_comparison"]:
            print(f"interval_table.py: error: {args.input} has no "
                  "/interval_comparison/<metric>/<method> (format 1.1)", file=sys.stderr)
            return 2
        lengths = f["task/length"][()]
        sizes = f["task/test_size"][()]
        replicates = int(f["task/test_size"].attrs["replicates"])
        conf = float(f["interval_comparison"].attrs["confidence"])
        rows = [("exact_match", 0)] + [(m, len(lengths) - 1)
                                       for m in ("token_accuracy", "token_edit_distance")]
        print(f"Coverage of nominal {100 * conf:g} % intervals: simulated over {replicates} "
              "replicates (exact in parentheses where computed)\n")
        for metric, k in rows:
            if metric not in f["interval_comparison"]:
                continue
            group = f["interval_comparison"][metric]
            expected = f[f"metrics/{metric}/expected"][:, k]
            header = ["method"] + [f"n = {int(n)}, {'p' if metric != 'token_edit_distance' else 'd'}"
                                   f" = {expected[s]:.3g}"
                                   for n in sizes for s in range(len(expected))]
            print(f"**{metric}** (L = {int(lengths[k])})\n")
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
            methods = sorted(group, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))
            for method in methods:
                cov = group[method]["coverage"][()]
                exact = group[method]["exact_coverage"][()]
                cells = [cell(cov[s, k, t], exact[s, k, t])
                         for t in range(len(sizes)) for s in range(len(expected))]
                print(f"| {method} | " + " | ".join(cells) + " |")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
