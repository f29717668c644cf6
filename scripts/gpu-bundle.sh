#!/usr/bin/env bash
# Builds what a GPU machine without Mirage's build dependencies needs to run the GPU checks,
# into a git-ignored folder that can be copied there whole (default .carry/gpu):
#   mirage, tests/cuda/test_cuda_backend, and lib/ with every shared library they load that
#   is not part of the C runtime or the NVIDIA driver (HDF5 and its dependencies, OpenMP,
#   the C++ runtime, the CUDA runtime). MPI is left out of this build.
# Then, on the GPU machine:  OUT=DIR scripts/gpu-check.sh .carry/gpu
# Usage: scripts/gpu-bundle.sh [BUNDLE_DIR] [CUDA_ARCHITECTURES (default 90)]
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-.carry/gpu}
arch=${2:-90}
build=${MIRAGE_GPU_BUILD_DIR:-build-gpu}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
command -v nvcc >/dev/null || { echo "gpu-bundle: nvcc not found" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DMIRAGE_ENABLE_MPI=OFF -DMIRAGE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target mirage test_cuda_backend
rm -rf "$bundle"
mkdir -p "$bundle/tests/cuda" "$bundle/lib"
cp "$build/mirage" "$bundle/"
cp "$build/tests/cuda/test_cuda_backend" "$bundle/tests/cuda/"
# The loader, libc and the driver (libcuda) come from the target machine; all else travels.
for binary in "$bundle/mirage" "$bundle/tests/cuda/test_cuda_backend"; do
  ldd "$binary" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libcuda.so.*) ;;
      *) cp -nL "$lib" "$bundle/lib/" ;;
    esac
  done
done
du -sh "$bundle"
echo "gpu-bundle: run on the GPU machine: OUT=DIR scripts/gpu-check.sh $bundle"
