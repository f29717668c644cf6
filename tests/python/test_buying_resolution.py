"""examples/buying_resolution.py --small runs, draws its figure, and its frontier for way (a)
(exact match) at the largest test size lies within one grid step of the analytic frontier,
the smallest grid scale with 1 - (1 - p^L)^n >= 1/2 (DESIGN.md §5.7), computed here on its own.

  PYTHONPATH=build/python python3 tests/python/test_buying_resolution.py   (or with pytest)
"""

from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "examples", "buying_resolution.py")
L, C, ALPHA = 5, 2e9, -0.5  # the default loss law the example uses


def test_buying_resolution_small() -> None:
    with tempfile.TemporaryDirectory(prefix="mirage_buying_") as out:
        env = dict(os.environ, MPLBACKEND="Agg")
        run = subprocess.run([sys.executable, SCRIPT, "--small", "-o", out], env=env,
                             capture_output=True, text=True, timeout=540)
        print(run.stdout)
        print(run.stderr, file=sys.stderr)
        assert run.returncode == 0, run.returncode

        png = os.path.join(out, "buying-resolution.png")
        assert os.path.isfile(png) and os.path.getsize(png) > 10_000, png
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

        # The scale grid the script reports, "scales LO:HI:K" (log-spaced, both ends included).
        match = re.search(r"scales ([0-9.e+-]+):([0-9.e+-]+):(\d+)", run.stdout)
        assert match, "the script does not print its scale grid"
        lo, hi, k = float(match[1]), float(match[2]), int(match[3])
        grid = [math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (k - 1))
                for i in range(k)]

        with open(os.path.join(out, "buying-resolution.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        ways = {r["way"][0] for r in rows}
        assert ways == {"a", "b", "c"}, ways
        exact = [r for r in rows if r["way"].startswith("a")]
        largest = max(exact, key=lambda r: int(r["items"]))
        n = int(largest["items"])
        assert float(largest["draws_per_test_set"]) == n * L

        # Analytic, on the grid: the smallest scale at which 1 - (1 - p^L)^n >= 1/2.
        def visible(scale: float) -> float:
            q = math.exp(-L * (scale / C) ** ALPHA)
            return -math.expm1(n * math.log1p(-q))

        analytic = next(i for i, s in enumerate(grid) if visible(s) >= 0.5)
        simulated = float(largest["frontier_scale"])
        index = min(range(k), key=lambda i: abs(math.log(grid[i] / simulated)))
        assert abs(math.log(grid[index] / simulated)) < 1e-6, (simulated, grid[index])
        assert abs(index - analytic) <= 1, (n, simulated, grid[analytic])
        assert math.isclose(float(largest["frontier_grid_analytic"]), grid[analytic],
                            rel_tol=1e-9)

        # Every way sees the ability somewhere on the grid, and more draws never see it later.
        for way in ways:
            mine = sorted((r for r in rows if r["way"][0] == way),
                          key=lambda r: float(r["draws_per_test_set"]))
            frontiers = [float(r["frontier_scale"]) for r in mine]
            assert all(not math.isnan(f) for f in frontiers), (way, frontiers)
            assert frontiers == sorted(frontiers, reverse=True), (way, frontiers)


if __name__ == "__main__":
    test_buying_resolution_small()
    print("ok")
