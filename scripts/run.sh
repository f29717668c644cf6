#!/usr/bin/env bash
# The main job on a fresh machine: install, build, run the default sweep (docs/DESIGN.md §7.1,
# "The default sweep"), draw the figures. Extra arguments go to `mirage run` (e.g. --replicates 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p results
build=${MIRAGE_BUILD_DIR:-build}
"$build/mirage" run -o results/mirage.h5 --csv results/summary.csv "$@"
if [ -f scripts/plot.py ]; then
  ${PYTHON:-python3} scripts/plot.py results/mirage.h5 -o results/figures
fi
