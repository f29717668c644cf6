#!/usr/bin/env python3
# Copyright (c) Mirage developers.
"""Mirage's CPU sampler beside numpy on the same sweep, in token draws per second, one run.

It runs `MIRAGE bench --backend cpu --threads T --draws D --json ...` for each T in
--threads, reads the sweep that bench sampled (8 scales log-spaced over 1e8..1e13, target
lengths 1..5, 4 replicates, nested test sizes 10, 100, ... up to n_max items; host/cli/commands.cpp)
and samples that same sweep with numpy in this process, two ways:

  per-token  for each scale and chunk of items, u = rng.random((R, n, L_max)) and
             correct = u < p (docs/DESIGN.md §2: one uniform per token), k at every target length by
             a cumulative sum over tokens, then the three tallies per (scale, length, test
             size, replicate), exact_match, token_errors and token_errors_sq, from one
             np.bincount histogram of k (faster than reducing L - k three times);
  binomial   the per-item shortcut: no token is drawn; k at length L_i is k at L_(i-1) plus
             one Binomial(L_i - L_(i-1), p) draw per item (so the lengths stay nested, exactly
             as in Mirage), then the same tallies.
             ("binomial, L_max only" draws k ~ Binomial(L_max, p) once per item and tallies
             the longest length only: not the sweep, shown as numpy's most favourable case.)

Draws are counted as Mirage counts them: items x longest length per replicate and scale, the
uniforms the sweep stands for, whatever a method actually draws. numpy runs on one core
(its generators are single-threaded); chunks of --chunk-items items bound its memory. The
ratios "per core" divide Mirage's rate by its thread count. A z-score check of each numpy
method's pooled exact-match rate against p^L guards against measuring a wrong sampler.

Usage: python3 bench/peers.py --mirage build/mirage [--threads 1 2] [--draws 1e9]
       [--chunk-items 65536] [--seed 2023] [--json peers.json]
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

# numpy's own work is single-threaded here; keep any BLAS it loads the same.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

# The sweep of `mirage bench` (host/cli/commands.cpp, bench_config) and the model defaults
# (docs/DESIGN.md §1: L(N) = (N / 2e9)^-0.5, p = exp(-L)).
BENCH_SCALES = (1e8, 1e13, 8)
BENCH_LENGTHS = (1, 2, 3, 4, 5)
BENCH_REPLICATES = 4
LOSS_SCALE = 2e9
LOSS_EXPONENT = -0.5


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirage", required=True, help="the mirage binary (build/mirage)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="Mirage thread counts to run [default: 1 2]")
    parser.add_argument("--draws", type=float, default=1e9,
                        help="token draws of the sweep (mirage bench --draws) [default 1e9]")
    parser.add_argument("--chunk-items", type=int, default=65536,
                        help="items per numpy chunk (memory bound) [default 65536]")
    parser.add_argument("--seed", type=int, default=2023, help="numpy seed [default 2023]")
    parser.add_argument("--skip-lmax-only", action="store_true",
                        help="skip the 'binomial, L_max only' reference row")
    parser.add_argument("--json", help="also write every figure here as JSON")
    args = parser.parse_args(argv)
    if not os.access(args.mirage, os.X_OK):
        parser.error("--mirage: '%s' is not an executable file" % args.mirage)
    if any(t < 1 for t in args.threads):
        parser.error("--threads: thread counts must be >= 1")
    if not 1e6 <= args.draws <= 1e13:
        parser.error("--draws must be in [1e6, 1e13]")
    if args.chunk_items < 1:
        parser.error("--chunk-items must be >= 1")
    return args


def run_mirage(binary, threads, draws):
    """One `mirage bench` run; returns its JSON figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [binary, "bench", "--backend", "cpu", "--threads", str(threads),
               "--draws", "%.6g" % draws, "--json", out, "--quiet"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit("peers.py: '%s' failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                         proc.stderr.strip()))
        with open(out) as f:
            figures = json.load(f)
    figures["command"] = " ".join(c for c in cmd if c not in ("--json", out))
    return figures


def bench_sweep(items):
    """Scales, token probabilities, lengths, replicates and nested test sizes of the sweep."""
    lo, hi, n = BENCH_SCALES
    scales = np.geomspace(lo, hi, n)
    p = np.exp(-np.power(scales / LOSS_SCALE, LOSS_EXPONENT))
    sizes = []
    size = 10
    while size < items:
        sizes.append(size)
        size *= 10
    sizes.append(items)
    return scales, p, np.array(BENCH_LENGTHS), BENCH_REPLICATES, sizes


def chunks(sizes, chunk_items):
    """(segment index, items in chunk) over the nested test-size segments, in order."""
    begin = 0
    for t, end in enumerate(sizes):
        while begin < end:
            n = min(chunk_items, end - begin)
            yield t, n
            begin += n


def tally(k, lengths, seg, t):
    """Adds the tallies of per-item correct counts k (R, n, K; k[..., i] at length
    lengths[i]) into seg[:, :, t, :] ((3, K, T, R)), through a histogram of k per
    (replicate, length): one np.bincount pass, then exact matches, token errors and squared
    token errors follow exactly from the counts."""
    replicates, n, num_lengths = k.shape
    bins = int(lengths[-1]) + 1
    offset = (np.arange(replicates)[:, None, None] * num_lengths +
              np.arange(num_lengths)[None, None, :]) * bins
    hist = np.bincount((k + offset).ravel(), minlength=replicates * num_lengths * bins)
    hist = hist.reshape(replicates, num_lengths, bins)
    values = np.arange(bins, dtype=np.int64)
    sum_k = hist @ values                 # (R, K)
    sum_k2 = hist @ (values * values)
    L = lengths.astype(np.int64)[None, :]
    exact = hist[:, np.arange(num_lengths), lengths]  # items with k = L
    seg[0, :, t, :] += exact.T
    seg[1, :, t, :] += (n * L - sum_k).T
    seg[2, :, t, :] += (n * L * L - 2 * L * sum_k + sum_k2).T


def sample_per_token(rng, p, lengths, replicates, sizes, chunk_items):
    """Per-token numpy sampling of the sweep; returns segment tallies (S, 3, K, T, R)."""
    lmax = int(lengths[-1])
    index = lengths - 1
    out = np.zeros((len(p), 3, len(lengths), len(sizes), replicates), dtype=np.int64)
    for s, ps in enumerate(p):
        for t, n in chunks(sizes, chunk_items):
            correct = rng.random((replicates, n, lmax)) < ps
            k = np.cumsum(correct, axis=2, dtype=np.int16)
            if len(index) != lmax:
                k = k[:, :, index]
            tally(k, lengths, out[s], t)
    return out


def sample_binomial(rng, p, lengths, replicates, sizes, chunk_items):
    """Per-item binomial shortcut over nested lengths; segment tallies (S, 3, K, T, R)."""
    steps = np.diff(np.concatenate(([0], lengths)))
    out = np.zeros((len(p), 3, len(lengths), len(sizes), replicates), dtype=np.int64)
    for s, ps in enumerate(p):
        for t, n in chunks(sizes, chunk_items):
            k = np.empty((replicates, n, len(lengths)), dtype=np.int16)
            running = np.zeros((replicates, n), dtype=np.int16)
            for i, step in enumerate(steps):
                running += rng.binomial(int(step), ps, size=(replicates, n)).astype(np.int16)
                k[:, :, i] = running
            tally(k, lengths, out[s], t)
    return out


def sample_binomial_lmax(rng, p, lengths, replicates, sizes, chunk_items):
    """k ~ Binomial(L_max, p) once per item, tallies at L_max only (not the whole sweep)."""
    lmax = lengths[-1:]
    out = np.zeros((len(p), 3, 1, len(sizes), replicates), dtype=np.int64)
    for s, ps in enumerate(p):
        for t, n in chunks(sizes, chunk_items):
            k = rng.binomial(int(lmax[0]), ps, size=(replicates, n, 1)).astype(np.int16)
            tally(k, lmax, out[s], t)
    return out


def worst_z(seg, p, lengths, items, replicates):
    """Largest |z| of the pooled exact-match rate at each (scale, length) against p^L."""
    exact = seg[:, 0].sum(axis=(2, 3))  # (S, K): summed over segments and replicates
    n = items * replicates
    worst = 0.0
    for s, ps in enumerate(p):
        for i, L in enumerate(lengths):
            q = ps ** int(L)
            sd = math.sqrt(n * q * (1 - q)) if 0 < q < 1 else 1.0
            worst = max(worst, abs(exact[s, i] - n * q) / sd)
    return worst


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv):
    args = parse_args(argv)
    mirage = [run_mirage(args.mirage, t, args.draws) for t in args.threads]
    items = int(mirage[0]["sweep"]["items"])
    scales, p, lengths, replicates, sizes = bench_sweep(items)
    if int(mirage[0]["sweep"]["scales"]) != len(scales) or \
            int(mirage[0]["sweep"]["replicates"]) != replicates:
        sys.exit("peers.py: mirage bench ran a different sweep than this script assumes: %s"
                 % mirage[0]["sweep"])
    draws = len(scales) * replicates * items * int(lengths[-1])
    if draws != int(mirage[0]["draws"]):
        sys.exit("peers.py: draw counts differ (mirage %s, numpy %d)" % (mirage[0]["draws"], draws))

    rng = np.random.default_rng(args.seed)
    peers = []
    methods = [("numpy per-token", sample_per_token, lengths),
               ("numpy binomial per item", sample_binomial, lengths)]
    if not args.skip_lmax_only:
        methods.append(("numpy binomial, L_max only", sample_binomial_lmax, lengths[-1:]))
    for name, fn, check_lengths in methods:
        seconds, seg = timed(fn, rng, p, lengths, replicates, sizes, args.chunk_items)
        peers.append({"method": name, "seconds": seconds, "draws_per_s": draws / seconds,
                      "worst_z_exact_match": worst_z(seg, p, check_lengths, items, replicates)})

    print("machine   %s, %d logical CPUs; numpy %s, Python %s" %
          (cpu_model(), os.cpu_count() or 0, np.__version__, platform.python_version()))
    print("sweep     %d scales x lengths %s x %d replicates x %d items = %.4g token draws" %
          (len(scales), ",".join(str(int(x)) for x in lengths), replicates, items, draws))
    print("mirage    %s (%s)" % (mirage[0]["backend"], mirage[0]["device"]))
    print()
    print("%-30s %7s %12s %14s" % ("method", "threads", "draws/s", "draws/s/core"))
    for m, t in zip(mirage, args.threads):
        rate = float(m["draws_per_s"])
        print("%-30s %7d %12.4g %14.4g" % ("mirage bench (cpu)", t, rate, rate / t))
    for peer in peers:
        print("%-30s %7d %12.4g %14.4g   (|z| of exact match vs p^L <= %.1f)" %
              (peer["method"], 1, peer["draws_per_s"], peer["draws_per_s"],
               peer["worst_z_exact_match"]))
    print()
    ratios = {}
    for m, t in zip(mirage, args.threads):
        per_core = float(m["draws_per_s"]) / t
        for peer in peers:
            key = "mirage_%dt_per_core_over_%s" % (t, peer["method"].replace("numpy ", "")
                                                    .replace(" ", "_").replace(",", ""))
            ratios[key] = per_core / peer["draws_per_s"]
            print("mirage per core (%d thread%s) / %-27s %8.1fx" %
                  (t, "" if t == 1 else "s", peer["method"], ratios[key]))
    scaling = None
    if 1 in args.threads and 2 in args.threads:
        one = float(mirage[args.threads.index(1)]["draws_per_s"])
        two = float(mirage[args.threads.index(2)]["draws_per_s"])
        scaling = two / one
        print("mirage 1 -> 2 threads: %.2fx" % scaling)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_model(), "logical_cpus": os.cpu_count(),
                       "numpy": np.__version__, "python": platform.python_version(),
                       "sweep": {"scales": len(scales), "lengths": [int(x) for x in lengths],
                                 "replicates": replicates, "items": items,
                                 "test_sizes": sizes, "draws": draws},
                       "mirage": mirage, "peers": peers, "ratios": ratios,
                       "scaling_1_to_2_threads": scaling}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
