#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build (CUDA sources compiled when nvcc is
# present), run every test with ctest. GPU tests skip cleanly where no device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${MIRAGE_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
