#!/usr/bin/env bash
# Redraw the figures of the README (docs/figure-*.png) from real runs, each with the command
# shown beside it in the README. About a minute on 2 cores after a build.
# Usage: scripts/docs-figures.sh [DPI]     (needs build/mirage; set MIRAGE_BUILD_DIR otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MIRAGE_BUILD_DIR:-build}
dpi=${1:-110}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirage() { "$build/mirage" "$@"; }
plot() { ${PYTHON:-python3} scripts/plot.py "$@" --format png --dpi "$dpi" -o "$work/png" > /dev/null; }

# The default sweep: the model (paper figure 2) and resolution (figure 4).
mirage run -q -o "$work/default.h5"
plot "$work/default.h5" --figures model,resolution
# The metric swap (figure 3) and jumps on all eight GPT-3 sizes, one test set of 1,000 items.
mirage run --preset gpt3-full --test-sizes 100,1000 --replicates 200 -q -o "$work/swap.h5"
plot "$work/swap.h5" --figures metric_swap,jumps --length 5 --test-size 1000
# The meta-analysis (figure 5).
mirage meta --config examples/meta.toml -o "$work/meta.h5" --csv "$work/meta.csv" > /dev/null
plot "$work/meta.h5" --figures meta
# Multiple choice on the BIG-G grid (figure 6) with a normal spread of item difficulty.
mirage run --preset big-g --task multiple-choice --choices 4 --difficulty normal:1 \
  --lengths 1,2,3 --test-sizes 100,1000 --replicates 200 -q -o "$work/mc.h5"
plot "$work/mc.h5" --figures multiple_choice,difficulty
# Interval coverage at n = 10 against its exact curve.
mirage run --scales 1e8:1e12:17 --lengths 1,5 --test-sizes 10,1000 --replicates 1000 -q \
  -o "$work/intervals.h5"
plot "$work/intervals.h5" --figures intervals --length 5 --test-size 10
# The forecast (docs/DESIGN.md §5.10): fitted below 1e10 parameters, forecast above it, with
# the coverage of each method's intervals at 2e11 (examples/forecast.toml: 1000 replicates).
mirage run --config examples/forecast.toml -q -o "$work/forecast-run.h5"
mirage forecast "$work/forecast-run.h5" --fit-below 1e10 -q -o "$work/forecast.h5"
plot "$work/forecast.h5" --figures forecast --forecast-scale 2e11
# Repeated attempts (format 1.3): pass@k against k and against scale, with a heavy-tailed
# (normal:1.5) item difficulty under which -log pass@k is close to a power law in k.
mirage run --scales 1e8:1e12:9 --lengths 5 --test-sizes 1000 --replicates 100 --attempts 100 \
  --pass-at 1,2,5,10,20,50,100 --difficulty normal:1.5 -q -o "$work/pass-at-k.h5"
plot "$work/pass-at-k.h5" --figures pass_at_k

for f in "$work"/png/*.png; do
  name=$(basename "$f" .png)
  cp "$f" "docs/figure-${name//_/-}.png"
  echo "docs/figure-${name//_/-}.png"
done
