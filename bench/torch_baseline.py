#!/usr/bin/env python3
# Copyright (c) Mirage developers.
"""The obvious PyTorch approach to Mirage's sweep, as a throughput baseline.

For each scale s (probability p_s of a correct token, from the paper's toy law
L(N) = (N / 2e9)^-0.5, p = exp(-L), over scales 1e8..1e13 as in Mirage's default sweep) and
each chunk of items, it draws `correct = torch.rand(R, n, L_max, device='cuda') < p_s` and,
for every target length L, takes `correct[..., :L].all(-1).sum()` (exact matches) and
`L * R * n - correct[..., :L].sum()` (token errors), as int64 sums on the GPU. Chunks keep
each drawn tensor under --chunk-bytes. It times whole sweeps between torch.cuda.synchronize()
calls (after one warm-up sweep), repeating until --min-seconds have passed, and prints one
JSON object to stdout whose "draws_per_s" counts token draws (uniforms consumed), as
`mirage bench` does.

Usage: python3 bench/torch_baseline.py --items 100000000 [--replicates 1] [--scales 41]
       [--lengths 1,2,3,4,5] [--chunk-bytes 2e9] [--min-seconds 2] [--seed 0]
Exits with status 2 and a message on stderr when PyTorch or a CUDA device is missing.
"""

import argparse
import json
import math
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=float, default=1e8, help="items per replicate and scale (n)")
    parser.add_argument("--replicates", type=int, default=1, help="replicates (R)")
    parser.add_argument("--scales", type=int, default=41, help="scales, log-spaced over 1e8..1e13")
    parser.add_argument("--lengths", default="1,2,3,4,5", help="target lengths, comma-separated")
    parser.add_argument("--chunk-bytes", type=float, default=2e9,
                        help="largest float32 tensor of uniforms drawn at once, in bytes")
    parser.add_argument("--min-seconds", type=float, default=2.0,
                        help="repeat the timed sweep until this much time has passed")
    parser.add_argument("--max-repeats", type=int, default=20, help="at most this many timed sweeps")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed")
    args = parser.parse_args(argv)
    args.items = int(args.items)
    try:
        args.lengths = sorted({int(x) for x in args.lengths.split(",") if x.strip()})
    except ValueError:
        parser.error("--lengths: expected comma-separated integers, got '%s'" % args.lengths)
    if args.items < 1:
        parser.error("--items must be >= 1")
    if args.replicates < 1 or args.scales < 1:
        parser.error("--replicates and --scales must be >= 1")
    if not args.lengths or args.lengths[0] < 1:
        parser.error("--lengths must be positive integers")
    if args.chunk_bytes < 4 * args.replicates * args.lengths[-1]:
        parser.error("--chunk-bytes is too small for one item")
    return args


def probabilities(scales):
    """p = exp(-(N / 2e9)^-0.5) at `scales` log-spaced scales over 1e8..1e13."""
    out = []
    for s in range(scales):
        n = 10.0 ** (8.0 + 5.0 * s / max(1, scales - 1))
        out.append(math.exp(-((n / 2e9) ** -0.5)))
    return out


def sweep(torch, args, probs, chunk_items):
    """One sweep; returns the per-(scale, length) exact-match and token-error sums (on device)."""
    lengths = args.lengths
    max_length = lengths[-1]
    exact = torch.zeros(len(probs), len(lengths), dtype=torch.int64, device="cuda")
    errors = torch.zeros(len(probs), len(lengths), dtype=torch.int64, device="cuda")
    for s, p in enumerate(probs):
        for begin in range(0, args.items, chunk_items):
            n = min(chunk_items, args.items - begin)
            correct = torch.rand(args.replicates, n, max_length, device="cuda") < p
            for k, length in enumerate(lengths):
                prefix = correct[..., :length]
                exact[s, k] += prefix.all(-1).sum()
                errors[s, k] += length * args.replicates * n - prefix.sum()
    return exact, errors


def main(argv):
    args = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        print("torch_baseline: PyTorch is not installed (%s); install torch with CUDA support"
              % e, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("torch_baseline: PyTorch %s sees no CUDA device (torch.cuda.is_available() is "
              "False; CUDA build: %s)" % (torch.__version__, torch.version.cuda), file=sys.stderr)
        return 2

    torch.manual_seed(args.seed)
    probs = probabilities(args.scales)
    bytes_per_item = 4 * args.replicates * args.lengths[-1]
    chunk_items = max(1, min(args.items, int(args.chunk_bytes // bytes_per_item)))
    draws_per_sweep = len(probs) * args.replicates * args.items * args.lengths[-1]

    with torch.no_grad():
        sweep(torch, args, probs, chunk_items)  # warm-up: allocator, kernels, generator
        torch.cuda.synchronize()
        seconds = 0.0
        repeats = 0
        while repeats < max(1, args.max_repeats) and (repeats == 0 or seconds < args.min_seconds):
            torch.cuda.synchronize()
            start = time.perf_counter()
            exact, errors = sweep(torch, args, probs, chunk_items)
            torch.cuda.synchronize()
            seconds += time.perf_counter() - start
            repeats += 1

    draws = draws_per_sweep * repeats
    result = {
        "backend": "torch",
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device": torch.cuda.get_device_name(0),
        "method": "torch.rand(R, n, L) < p; .all(-1).sum() and .sum() per length, int64 on GPU",
        "sweep": {"scales": len(probs), "lengths": args.lengths, "replicates": args.replicates,
                  "items": args.items},
        "chunk_items": chunk_items,
        "repeats": repeats,
        "draws": draws,
        "seconds": seconds,
        "draws_per_s": draws / seconds,
        # The last sweep's tallies at the largest scale, as a sanity check against p^L.
        "largest_scale": {
            "p": probs[-1],
            "exact_match_fraction": [
                int(x) / (args.replicates * args.items) for x in exact[-1].tolist()],
            "token_errors": [int(x) for x in errors[-1].tolist()],
        },
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
