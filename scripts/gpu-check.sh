#!/usr/bin/env bash
# Usage: scripts/gpu-check.sh BUILD_DIR
#
# Everything that needs an NVIDIA GPU, as one ordered run of a few minutes on an H200 (each
# step has its own time limit; the limits add up to 520 s, under the 10 minutes of one device
# command):
#   1. the CUDA backend's tests (BUILD_DIR/tests/cuda/test_cuda_backend; a skip counts as a
#      failure here), then the cancel and progress paths again, 20 times over;
#   2. compute-sanitizer racecheck, synccheck and memcheck on the small exactness test
#      (CudaBackendTest.SmallSweepsMatchTheReference: one sweep per kernel path);
#   3. `mirage bench --backend cuda` (lengths 1..5), a long-L run (lengths 256..1024, the
#      general kernel) and `mirage bench --backend cpu`;
#   4. an Nsight Compute section set (speed of light, occupancy, launch statistics, compute
#      workload, instruction statistics, warp state, scheduler) on one launch of the benchmark's
#      kernel (the fast kernel for 8 lengths);
#   5. the PyTorch baseline (bench/torch_baseline.py, when torch imports);
#   6. a summary of the figures and their ratios.
# Every step runs even when an earlier one failed; the exit status is non-zero when any step
# failed (or the GPU tests skipped). Tools that are missing (compute-sanitizer, ncu, torch) are
# reported and skipped.
#
# Output, in $OUT when set, else in a new temporary directory: gpu-check.log (everything),
# gpu_tests.xml, gpu_tests_cancel.xml, sanitizer_{racecheck,synccheck,memcheck}.log,
# bench_cuda.json, long_l.txt, bench_cpu.json, ncu_fast.txt (and ncu_fast.ncu-rep),
# torch_baseline.json and summary.txt. Shared libraries carried with the binaries are found in
# BUILD_DIR/lib or a lib/ folder next to BUILD_DIR (scripts/gpu-bundle.sh).
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
export PATH="$PATH:/usr/local/cuda/bin"

failed=()
skipped=()

# step NAME TIMEOUT_S STDOUT_FILE COMMAND...: runs COMMAND with a time limit, its stderr (and
# its stdout unless STDOUT_FILE is given) appended to the log; records a failure, never exits.
step() {
  local name=$1 limit=$2 stdout=$3
  shift 3
  echo "=== $name: $*" | tee -a "$log"
  local start=$SECONDS rc=0
  if [[ -n $stdout ]]; then
    timeout -k 10 "$limit" "$@" >"$stdout" 2>>"$log" || rc=$?
  else
    timeout -k 10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  fi
  echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
  if [[ $rc -ne 0 ]]; then
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
      failed+=("$name (timed out after $limit s)")
    else
      failed+=("$name (exit $rc)")
    fi
  fi
  return 0
}

# gtest_step NAME TIMEOUT_S XML ARGS...: the GPU test binary; a skipped test is a failure.
gtest_step() {
  local name=$1 limit=$2 xml=$3
  shift 3
  local text=$out/.$name.out
  step "$name" "$limit" "$text" "$tests" --gtest_color=no "--gtest_output=xml:$out/$xml" "$@"
  cat "$text" >>"$log"
  sed -n '/Global test environment tear-down/,$p' "$text" | grep -v "^ *$" | tail -n 12 || true
  grep -m1 "no CUDA device" "$text" || true
  if grep -q "^\[  SKIPPED \]" "$text"; then
    failed+=("$name (tests skipped: no CUDA device was seen; see gpu-check.log)")
  fi
  rm -f "$text"
}

echo "mirage gpu-check: build $build, output $out" | tee -a "$log"
if command -v nvidia-smi >/dev/null 2>&1; then
  step nvidia-smi 10 "" nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv
else
  echo "nvidia-smi not found" | tee -a "$log"
fi

# 1. The GPU tests, then the cancel and progress paths (a throwing callback, many small
# launches on two device threads, progress on the calling thread) 20 times: a deadlock or a
# lost cancellation shows up as a time-out here.
tests=$build/tests/cuda/test_cuda_backend
if [[ -x $tests ]]; then
  gtest_step gpu-tests 100 gpu_tests.xml
  gtest_step gpu-tests-cancel 40 gpu_tests_cancel.xml --gtest_repeat=20 \
    "--gtest_filter=CudaBackendTest.AThrowFromProgress*:CudaBackendTest.AddsIntoTheTallies*:CudaBackendTest.ManySmallLaunches*"
else
  echo "missing $tests (configure with nvcc available so that the CUDA backend is built)" |
    tee -a "$log"
  failed+=("gpu-tests (binary missing)")
fi

# 2. compute-sanitizer on the small exactness test: shared-memory races (racecheck),
# barrier misuse (synccheck), out-of-bounds and misaligned accesses (memcheck).
sanitizer=$(command -v compute-sanitizer 2>/dev/null || true)
if [[ -n $sanitizer && -x $tests ]]; then
  for tool in racecheck synccheck memcheck; do
    step "sanitizer-$tool" 50 "$out/sanitizer_$tool.log" "$sanitizer" --tool "$tool" \
      --error-exitcode 3 "$tests" --gtest_color=no \
      --gtest_filter=CudaBackendTest.SmallSweepsMatchTheReference
    tail -n 3 "$out/sanitizer_$tool.log" | tee -a "$log"
  done
else
  echo "=== sanitizers: skipped (compute-sanitizer not found)" | tee -a "$log"
  skipped+=("compute-sanitizer (not found)")
fi

# 3. mirage bench on both backends, and a long-L run on the CUDA backend (the general
# kernel: lengths 256, 512, 1024; 8 scales x 4 replicates x 2e6 items = 6.6e10 draws).
mirage=$build/mirage
if [[ -x $mirage ]]; then
  step bench-cuda 40 "" "$mirage" bench --backend cuda --json "$out/bench_cuda.json"
  long_start=$(date +%s.%N)
  failures_before=${#failed[@]}
  step long-l 30 "$out/long_l.txt" "$mirage" run --backend cuda --scales 1e8:1e13:8 \
    --lengths 256,512,1024 --test-sizes 2000000 --replicates 4 -q -o "$out/long_l.h5"
  long_end=$(date +%s.%N)
  if [[ ${#failed[@]} -eq $failures_before ]]; then
    python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); \
print('long-L run: 6.55e10 draws in %.2f s of wall time (process start, sampling, reduction, HDF5): %.3e draws/s' % (s, 6.5536e10 / s))" \
      "$long_start" "$long_end" | tee -a "$out/long_l.txt" | tee -a "$log"
  fi
  rm -f "$out/long_l.h5"
  step bench-cpu 30 "" "$mirage" bench --backend cpu --draws 2e9 --json "$out/bench_cpu.json"
else
  echo "missing $mirage" | tee -a "$log"
  failed+=("bench (mirage binary missing)")
fi

# 4. Nsight Compute on one launch of the benchmark's kernel (after a few launches' warm-up).
ncu=$(command -v ncu 2>/dev/null || true)
if [[ -n $ncu && -x $mirage ]]; then
  step ncu 80 "" "$ncu" --target-processes all --kernel-name regex:sample_tiles_fast_kernel \
    --launch-skip 3 --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section LaunchStats --section ComputeWorkloadAnalysis --section InstructionStats \
    --section WarpStateStats --section SchedulerStats -f -o "$out/ncu_fast" \
    "$mirage" bench --backend cuda --draws 2e11
  if [[ -f $out/ncu_fast.ncu-rep ]]; then
    "$ncu" --import "$out/ncu_fast.ncu-rep" --page details >"$out/ncu_fast.txt" 2>>"$log" || true
    grep -E "Executed Ipc|Issue Slots Busy|Achieved Occupancy|Theoretical Occupancy|Registers Per|Executed Instructions  |Duration" \
      "$out/ncu_fast.txt" | tee -a "$log" || true
  fi
else
  echo "=== ncu: skipped (ncu not found)" | tee -a "$log"
  skipped+=("ncu (not found)")
fi

# 5. The obvious PyTorch approach, when torch is importable.
if python3 -c "import torch" >/dev/null 2>&1; then
  step torch-baseline 40 "$out/torch_baseline.json" \
    python3 "$repo/bench/torch_baseline.py" --items 100000000
else
  echo "=== torch-baseline: skipped (python3 cannot import torch)" | tee -a "$log"
  skipped+=("torch baseline (torch not importable)")
fi

# 6. Summary.
summary=$out/summary.txt
if command -v python3 >/dev/null 2>&1; then
  python3 - "$out" >"$summary" 2>>"$log" <<'PY' || true
import json, os, re, sys

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
try:
    with open(os.path.join(out, "long_l.txt")) as f:
        m = re.search(r"([0-9.e+]+) draws/s", f.read())
    show("long-L run (256..1024, wall time)", float(m.group(1)) if m else None)
except OSError:
    pass
if cuda and cpu:
    print(f"{'CUDA / CPU':<34} {cuda / cpu:.1f}x")
if cuda and torch:
    print(f"{'CUDA / PyTorch':<34} {cuda / torch:.1f}x")
if cuda:
    print(f"{'CUDA / 1.0e12 target':<34} {cuda / 1.0e12:.2f}")
    # 3.35e13 thread-instruction issue slots per second on an H200 (132 SMs x 4 schedulers
    # x 32 lanes x 1.98 GHz) over 13.5 instructions per draw (scripts/sass-report.sh).
    print(f"{'CUDA / 2.48e12 issue bound':<34} {cuda / 2.48e12:.2f}")
PY
else
  echo "python3 not found: see the JSON files" >"$summary"
fi
tee -a "$log" <"$summary"

if [[ ${#skipped[@]} -gt 0 ]]; then
  printf 'skipped: %s\n' "${skipped[@]}" | tee -a "$log"
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$log"
  echo "logs in $out" | tee -a "$log"
  exit 1
fi
echo "all steps passed; logs in $out" | tee -a "$log"
