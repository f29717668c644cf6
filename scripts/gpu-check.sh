#!/usr/bin/env bash
# Usage: scripts/gpu-check.sh BUILD_DIR
#
# The checks that need an NVIDIA GPU, in one run of under 3 minutes (H200): the CUDA backend's
# tests (BUILD_DIR/tests/cuda/test_cuda_backend), `mirage bench` on the CUDA and the CPU
# backend, and the PyTorch baseline (bench/torch_baseline.py, when torch imports), then a
# summary of the figures with their ratios. Every step runs even when an earlier one failed;
# the exit status is non-zero when any step failed (or the GPU tests skipped).
#
# Output: gpu-check.log (everything), gpu_tests.xml, bench_cuda.json, bench_cpu.json,
# torch_baseline.json and summary.txt in $OUT when set, else in a new temporary directory.
# Shared libraries carried with the binaries are found in BUILD_DIR/lib or a lib/ folder next
# to BUILD_DIR.
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 BUILD_DIR   (a CMake build directory of mirage with the CUDA backend)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$(mktemp -d -t mirage-gpu-check.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/gpu-check.log
: >"$log"

for dir in "$build/lib" "$build/../lib"; do
  if [[ -d $dir ]]; then
    dir=$(cd "$dir" && pwd)
    export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
done

failed=()

# step NAME TIMEOUT_S STDOUT_FILE COMMAND...: runs COMMAND with a time limit, its stderr (and
# its stdout unless STDOUT_FILE is given) appended to the log; records a failure, never exits.
step() {
  local name=$1 limit=$2 stdout=$3
  shift 3
  echo "=== $name: $*" | tee -a "$log"
  local start=$SECONDS rc=0
  if [[ -n $stdout ]]; then
    timeout "$limit" "$@" >"$stdout" 2>>"$log" || rc=$?
  else
    timeout "$limit" "$@" >>"$log" 2>&1 || rc=$?
  fi
  echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
  if [[ $rc -ne 0 ]]; then
    if [[ $rc -eq 124 ]]; then
      failed+=("$name (timed out after $limit s)")
    else
      failed+=("$name (exit $rc)")
    fi
  fi
  return 0
}

echo "mirage gpu-check: build $build, output $out" | tee -a "$log"
if command -v nvidia-smi >/dev/null 2>&1; then
  step nvidia-smi 20 "" nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv
else
  echo "nvidia-smi not found" | tee -a "$log"
fi

# 1. The GPU tests. On a GPU machine a skip means the device was not seen: that is a failure.
tests=$build/tests/cuda/test_cuda_backend
if [[ -x $tests ]]; then
  tests_log=$out/.gpu_tests.out
  step gpu-tests 100 "$tests_log" "$tests" --gtest_color=no "--gtest_output=xml:$out/gpu_tests.xml"
  cat "$tests_log" >>"$log"
  # The summary block of GoogleTest, and why tests skipped if they did.
  sed -n '/Global test environment tear-down/,$p' "$tests_log" | grep -v "^ *$" || true
  grep -m1 "no CUDA device" "$tests_log" || true
  if grep -q "^\[  SKIPPED \]" "$tests_log"; then
    failed+=("gpu-tests (tests skipped: no CUDA device was seen; see gpu-check.log)")
  fi
  rm -f "$tests_log"
else
  echo "missing $tests (configure with nvcc available so that the CUDA backend is built)" |
    tee -a "$log"
  failed+=("gpu-tests (binary missing)")
fi

# 2. mirage bench on both backends.
mirage=$build/mirage
if [[ -x $mirage ]]; then
  step bench-cuda 60 "" "$mirage" bench --backend cuda --json "$out/bench_cuda.json"
  step bench-cpu 60 "" "$mirage" bench --backend cpu --draws 2e9 --json "$out/bench_cpu.json"
else
  echo "missing $mirage" | tee -a "$log"
  failed+=("bench (mirage binary missing)")
fi

# 3. The obvious PyTorch approach, when torch is importable.
if python3 -c "import torch" >/dev/null 2>&1; then
  step torch-baseline 60 "$out/torch_baseline.json" \
    python3 "$repo/bench/torch_baseline.py" --items 100000000
else
  echo "=== torch-baseline: skipped (python3 cannot import torch)" | tee -a "$log"
fi

# 4. Summary.
summary=$out/summary.txt
if command -v python3 >/dev/null 2>&1; then
  python3 - "$out" >"$summary" 2>>"$log" <<'PY' || true
import json, os, sys

out = sys.argv[1]

def rate(name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return float(json.load(f)["draws_per_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

def show(label, value):
    print(f"{label:<34} {value:.3e} draws/s" if value else f"{label:<34} (not measured)")

cuda, cpu, torch = rate("bench_cuda.json"), rate("bench_cpu.json"), rate("torch_baseline.json")
print("mirage gpu-check: token draws per second")
show("mirage bench, CUDA backend", cuda)
show("mirage bench, CPU backend", cpu)
show("PyTorch baseline (rand < p)", torch)
if cuda and cpu:
    print(f"{'CUDA / CPU':<34} {cuda / cpu:.1f}x")
if cuda and torch:
    print(f"{'CUDA / PyTorch':<34} {cuda / torch:.1f}x")
if cuda:
    print(f"{'CUDA / 1.0e12 target':<34} {cuda / 1.0e12:.2f}")
    print(f"{'CUDA / 1.5e12 Philox bound (H200)':<34} {cuda / 1.5e12:.2f}")
PY
else
  echo "python3 not found: see the JSON files" >"$summary"
fi
tee -a "$log" <"$summary"

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$log"
  echo "logs in $out" | tee -a "$log"
  exit 1
fi
echo "all steps passed; logs in $out" | tee -a "$log"
