#!/usr/bin/env bash
# Usage: scripts/sass-report.sh BUILD_DIR [SOURCE_DIR]
#
# Registers, spills and SASS instructions per token draw of every sampling kernel of a CUDA
# build (BUILD_DIR: a CMake build of mirage with the CUDA backend; SOURCE_DIR: the sources it
# was built from, default this repository), measured without a GPU:
#
#  - registers and stack from `cuobjdump -res-usage` of BUILD_DIR's sample_kernels.cu.o, and
#    spill stores and loads from `ptxas -v` (the file recompiled with the build's own flags
#    when nvcc is found);
#  - instructions per draw by *executing the kernels' SASS* (nvdisasm of the same object) for
#    one thread at a time on the host: a small interpreter runs the integer, predicate,
#    uniform-datapath, constant-, global-, shared- and local-memory instructions exactly, so
#    loop counters, tile descriptors, lengths, thresholds, and even the Philox words and the
#    counts of correct tokens are the real ones, and every branch goes where it goes on the
#    GPU. Only what other lanes decide (warp reductions, shuffles, votes, atomics' old values)
#    and floating point are unknown; a branch on an unknown value is taken as not taken and
#    counted ("unresolved"): none in the token loops; the skips of zero adds after the warp
#    reductions (per tile in the fast kernels, per length in the general one), resolved as
#    "add". The item-difficulty kernels' per-item math is floating point, so for them only
#    registers, spills and code size are reported.
#    Each instruction executed is one issue slot (uniform, control and no-op instructions
#    included). This is "static counts of the loop bodies times their trip counts", with the
#    trip counts and the paths taken read off the execution rather than by hand.
#
# The tile is a full interior tile (4096 groups of 4 items, as in `mirage bench`, whose units
# of 2^20 items are 64 such tiles; p = 0.5). Lane 0 of warp 0 and lane 0 of warp 1 are run;
# warps 1..7 follow warp 1's path and lane 0 runs the lane-0-only code, so the block issues
# count(warp 0) + 7 count(warp 1) warp instructions, and
#     instructions per draw = 32 x (block's warp instructions) / (16384 items x L_max)
# (thread instructions per draw: the H200's 132 SMs x 4 schedulers x 1.98 GHz issue 1.05e12
# warp instructions, 3.35e13 thread instructions, per second).
#
# Sweeps: each kernel on the sweeps choose_kernel sends it: `mirage bench`'s lengths 1..5
# (fast kernel for 8 lengths), shorter and longer ones, a long-L sweep up to FAST_MAX_LENGTH for
# the fast kernels and 256..1024 for the general kernel (the difficulty kernels: registers,
# spills and size only).
#
# Tools: cuobjdump and nvdisasm from PATH, the nvcc directory (/usr/local/cuda/bin) or the
# PyPI packages nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm (pip install them where the
# toolkit lacks them); g++ and python3. Takes about a minute.
set -euo pipefail

if [[ $# -lt 1 || ! -d $1 ]]; then
  echo "usage: $0 BUILD_DIR [SOURCE_DIR]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source_dir=$(cd "${2:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
object=$build/cuda/CMakeFiles/mirage_cuda.dir/sample_kernels.cu.o
[[ -f $object ]] || { echo "sass-report: $object not found (build mirage_cuda first)" >&2; exit 1; }

find_tool() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for dir in /usr/local/cuda/bin "$(dirname "$(command -v nvcc 2>/dev/null || echo /nonexistent/x)")"; do
    [[ -x $dir/$name ]] && { echo "$dir/$name"; return; }
  done
  dir=$(python3 -c 'import nvidia, os; print(" ".join(nvidia.__path__))' 2>/dev/null || true)
  for d in $dir; do
    for candidate in "$d"/*/bin/"$name"; do
      [[ -x $candidate ]] && { echo "$candidate"; return; }
    done
  done
  echo "sass-report: $name not found (pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)" >&2
  exit 1
}
cuobjdump=$(find_tool cuobjdump)
nvdisasm=$(find_tool nvdisasm)
nvcc=$(command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)

work=$(mktemp -d -t mirage-sass.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$cuobjdump" -xelf all "$object" >/dev/null && mv ./*.cubin kernels.cubin)
"$nvdisasm" -c "$work/kernels.cubin" >"$work/kernels.sass"
"$cuobjdump" -res-usage "$object" >"$work/res-usage.txt" 2>&1

# Spills: ptxas -v on the same source with the build's flags.
: >"$work/ptxas.txt"
flags=$build/cuda/CMakeFiles/mirage_cuda.dir/flags.make
if [[ -n $nvcc && -f $flags ]]; then
  cuda_flags=$(sed -n 's/^CUDA_FLAGS = //p' "$flags")
  cuda_defines=$(sed -n 's/^CUDA_DEFINES = //p' "$flags")
  (cd "$build/cuda" && eval "\"$nvcc\" $cuda_defines --options-file CMakeFiles/mirage_cuda.dir/includes_CUDA.rsp $cuda_flags -Xptxas -v -x cu -c \"$source_dir/cuda/sample_kernels.cu\" -o \"$work/ptxas.o\"") \
    2>"$work/ptxas.txt" >/dev/null || echo "sass-report: ptxas -v failed; spills not reported" >&2
fi

# The kernel parameters and global memory of the simulated tile (the layout of SOURCE_DIR).
random123=$(sed -n 's/^MIRAGE_RANDOM123_INCLUDE_DIR:PATH=//p' "$build/CMakeCache.txt")
cuda_include=$(dirname "${nvcc:-/usr/local/cuda/bin/nvcc}")/../include
cat >"$work/params.cpp" <<'CPP'
// The kernel parameters and the global memory of one simulated tile, as JSON.
// Usage: params DIFFICULTY LENGTH,LENGTH,...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#if __has_include("device_workers.h")
#include "tiles.h"  // KernelParams, kernel_params (this layout)
#define MIRAGE_SASS_NEW_LAYOUT 1
#else
#include "sample_kernels.cuh"  // the first backend's KernelParams
#define MIRAGE_SASS_NEW_LAYOUT 0
#endif

using namespace mirage;
using namespace mirage::cuda::detail;

static void hex(const void* p, std::size_t n) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  std::printf("\"");
  for (std::size_t i = 0; i < n; ++i) std::printf("%02x", b[i]);
  std::printf("\"");
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int difficulty = std::atoi(argv[1]);
  std::vector<int32_t> lengths;
  for (char* t = std::strtok(argv[2], ","); t != nullptr; t = std::strtok(nullptr, ",")) {
    lengths.push_back(std::atoi(t));
  }
  // Fake device addresses of the arrays the kernels read.
  const uint64_t THRESHOLD = 0x7f0000000000ull, LENGTH = 0x7f0000100000ull,
                 TILES = 0x7f0000200000ull, TALLIES = 0x7f0000300000ull,
                 LOGIT = 0x7f0000400000ull;
  const std::vector<uint64_t> threshold = {uint64_t{1} << 31, 3000000000ull};  // p = 0.5, 0.7
  const std::vector<double> logit = {0.0, 0.8472978603872037};
  const std::vector<int64_t> test_size = {int64_t{1} << 24};
  SweepSpec spec;
  spec.seed = 2023;
  spec.num_scales = 2;
  spec.num_lengths = static_cast<int32_t>(lengths.size());
  spec.num_test_sizes = 1;
  spec.num_replicates = 4;
  spec.threshold = threshold.data();
  spec.length = lengths.data();
  spec.test_size = test_size.data();
  spec.difficulty = difficulty;
  spec.difficulty_a = 1.0;
  spec.difficulty_b = 1.0;
  spec.scale_logit = logit.data();
#if MIRAGE_SASS_NEW_LAYOUT
  KernelParams p = kernel_params(spec);
#else
  KernelParams p;
  p.spec = spec;
  for (std::size_t k = 0; k < lengths.size() && k < FAST_MAX_LENGTHS; ++k) {
    p.fast_length[k] = lengths[k];
  }
#endif
  p.spec.threshold = reinterpret_cast<const uint64_t*>(THRESHOLD);
  p.spec.length = reinterpret_cast<const int32_t*>(LENGTH);
  p.spec.test_size = nullptr;
  p.spec.scale_logit = difficulty != 0 ? reinterpret_cast<const double*>(LOGIT) : nullptr;
  p.spec.scale_log_p = nullptr;
  p.tiles = reinterpret_cast<const Tile*>(TILES);
  p.tallies = reinterpret_cast<unsigned long long*>(TALLIES);
  // One full interior tile: the sixth of a unit of 2^20 items at scale 0, replicate 1.
  Tile tile;
  tile.group_begin = 5 * TILE_GROUPS;
  tile.num_groups = static_cast<int32_t>(TILE_GROUPS);
  tile.item_begin = 0;
  tile.item_end = int64_t{1} << 20;
  tile.scale = 0;
  tile.replicate = 1;
  tile.segment = 0;
  // Constant bank 0 (sm_90): block and grid sizes at 0x0, the local stack at 0x28, the
  // kernel parameters at 0x210.
  const uint32_t dims[6] = {BLOCK_THREADS, 1, 1, 1000, 1, 1};
  const uint32_t stack = 0x00fffdc0u;
  std::printf("{\"const0\": [[0, ");
  hex(dims, sizeof dims);
  std::printf("], [40, ");
  hex(&stack, sizeof stack);
  std::printf("], [528, ");
  hex(&p, sizeof p);
  std::printf("]], \"memory\": [[%llu, ", static_cast<unsigned long long>(THRESHOLD));
  hex(threshold.data(), threshold.size() * sizeof(uint64_t));
  std::printf("], [%llu, ", static_cast<unsigned long long>(LENGTH));
  hex(lengths.data(), lengths.size() * sizeof(int32_t));
  std::printf("], [%llu, ", static_cast<unsigned long long>(TILES));
  hex(&tile, sizeof tile);
  std::printf("], [%llu, ", static_cast<unsigned long long>(LOGIT));
  hex(logit.data(), logit.size() * sizeof(double));
  std::printf("]], \"draws\": %lld}\n",
              static_cast<long long>(tile_items(tile) * lengths.back()));
  return 0;
}
CPP
g++ -std=c++17 -O1 -w -I"$source_dir/cuda" -I"$source_dir/include" -I"$random123" \
  -I"$cuda_include" "$work/params.cpp" -o "$work/params"

cat >"$work/sass_report.py" <<'PY'
"""Counts the SASS instructions a CUDA thread executes, by running the kernel's control flow.

Input: the disassembly of one cubin (nvdisasm -c), a kernel name, the bytes of the kernel's
parameters and of the global memory it reads, and a thread index. The interpreter executes
the kernel's instructions for that one thread: integer arithmetic, predicates, constant,
global, shared and local memory are evaluated exactly (so loop counters, tile descriptors,
lengths, thresholds, and even the Philox words and the counts of correct tokens are the real
values); what depends on other threads (warp reductions, shuffles, votes) or on arithmetic
this interpreter does not model (floating point) is "unknown". A branch whose predicate is
unknown is taken as not taken and counted, so that such a figure is marked approximate.

Every instruction executed counts one issue slot (uniform-datapath, control and no-op
instructions included): for a warp whose lanes all follow this thread's path, the count is
the warp's instruction issues.
"""
import json
import re
import struct
import subprocess
import sys

MASK = 0xFFFFFFFF


class Unknown(Exception):
    pass


def u32(v):
    return None if v is None else v & MASK


def s32(v):
    v &= MASK
    return v - (1 << 32) if v & 0x80000000 else v


def half_bits(x):
    return struct.unpack("<H", struct.pack("<e", x))[0]


INSTR_RE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;\s*(?:/\*.*\*/)?\s*$")
LABEL_RE = re.compile(r"^([.$\w]+):\s*$")
FUNC_RE = re.compile(r"^\.text\.(\S+):")


def parse_cubin_listing(text):
    """{kernel name: (list of (addr, guard, opcode, operands), {label: addr})}"""
    kernels = {}
    current = None
    pending_labels = []
    for line in text.splitlines():
        m = FUNC_RE.match(line)
        if m:
            current = m.group(1)
            kernels[current] = ([], {})
            pending_labels = []
            continue
        if current is None:
            continue
        m = LABEL_RE.match(line)
        if m and not line.startswith(".text."):
            pending_labels.append(m.group(1))
            continue
        m = INSTR_RE.match(line)
        if not m:
            continue
        addr = int(m.group(1), 16)
        body = m.group(2)
        guard = None
        gm = re.match(r"^@(!?)(U?P[T0-9])\s+(.*)$", body)
        if gm:
            guard = (gm.group(1) == "!", gm.group(2))
            body = gm.group(3)
        parts = body.split(None, 1)
        opcode = parts[0]
        operands = split_operands(parts[1]) if len(parts) > 1 else []
        instrs, labels = kernels[current]
        for lab in pending_labels:
            labels[lab] = addr
        pending_labels = []
        instrs.append((addr, guard, opcode, operands))
    return kernels


def split_operands(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Machine:
    def __init__(self, instrs, labels, const0, memory, tid, ctaid, max_steps=200_000_000,
                 shared=None):
        self.instrs = instrs
        self.index = {a: i for i, (a, *_rest) in enumerate(instrs)}
        self.labels = labels
        self.const0 = const0  # bytes of constant bank 0
        self.memory = memory  # dict addr -> byte value or None (global)
        self.shared = {} if shared is None else shared
        self.local = {}
        self.R = {}
        self.UR = {}
        self.P = {}
        self.UP = {}
        self.tid = tid
        self.ctaid = ctaid
        self.max_steps = max_steps
        self.unknown_branches = 0
        self.unhandled = {}
        self.executed = 0
        self.per_addr = {}

    # ---- registers ----
    def reg(self, name):
        if name in ("RZ", "URZ"):
            return 0
        if name.startswith("UR"):
            return self.UR.get(int(name[2:]))
        if name.startswith("R"):
            return self.R.get(int(name[1:]))
        raise Unknown(name)

    def setreg(self, name, v):
        if name in ("RZ", "URZ"):
            return
        v = u32(v)
        if name.startswith("UR"):
            self.UR[int(name[2:])] = v
        else:
            self.R[int(name[1:])] = v

    def regn(self, name, k):
        """name of the k-th register after `name` (register pairs)."""
        if name in ("RZ", "URZ"):
            return name
        if name.startswith("UR"):
            return "UR%d" % (int(name[2:]) + k)
        return "R%d" % (int(name[1:]) + k)

    def pred(self, tok):
        neg = tok.startswith("!")
        name = tok[1:] if neg else tok
        if name in ("PT", "UPT"):
            v = True
        elif name.startswith("UP"):
            v = self.UP.get(int(name[2:]))
        elif name.startswith("P"):
            v = self.P.get(int(name[1:]))
        else:
            raise Unknown(tok)
        if v is None:
            return None
        return (not v) if neg else v

    def setpred(self, name, v):
        if name in ("PT", "UPT"):
            return
        if name.startswith("UP"):
            self.UP[int(name[2:])] = v
        else:
            self.P[int(name[1:])] = v

    @staticmethod
    def is_pred(tok):
        t = tok.lstrip("!")
        return re.fullmatch(r"U?P[T0-6]", t) is not None

    # ---- operands ----
    def const_addr(self, tok):
        m = re.fullmatch(r"c\[0x([0-9a-f]+)\]\[(.*)\]", tok)
        if not m:
            return None
        bank = int(m.group(1), 16)
        inner = m.group(2)
        off = 0
        for part in re.findall(r"[+-]?[^+-]+", inner):
            part = part.strip()
            sign = -1 if part.startswith("-") else 1
            part = part.lstrip("+-")
            if re.fullmatch(r"U?R[0-9Z]+", part):
                v = self.reg(part)
                if v is None:
                    return (bank, None)
                off += sign * v
            else:
                off += sign * int(part, 0)
        return (bank, off)

    def load_const(self, bank, off, size=4):
        if bank != 0 or off is None or off < 0 or off + size > len(self.const0):
            return None
        chunk = self.const0[off:off + size]
        if any(b is None for b in chunk):
            return None
        return int.from_bytes(bytes(chunk), "little")

    _decoded = {}

    @classmethod
    def decode(cls, tok):
        d = cls._decoded.get(tok)
        if d is not None:
            return d
        t = tok.replace(".reuse", "")
        neg = bitnot = absv = False
        d = None
        if re.fullmatch(r"-0x[0-9a-f]+|-\d+", t):
            d = ("imm", int(t, 0) & MASK, False, False, False)
        else:
            if t.startswith("-"):
                neg, t = True, t[1:]
            elif t.startswith("~"):
                bitnot, t = True, t[1:]
            if t.startswith("|") and t.endswith("|"):
                absv, t = True, t[1:-1]
            if t.endswith((".H0_H0", ".H1_H1", ".F32")):
                d = ("none", None, False, False, False)
            elif t in ("RZ", "URZ"):
                d = ("imm", 0, neg, bitnot, absv)
            elif re.fullmatch(r"UR[0-9]+", t):
                d = ("ureg", int(t[2:]), neg, bitnot, absv)
            elif re.fullmatch(r"R[0-9]+", t):
                d = ("reg", int(t[1:]), neg, bitnot, absv)
            elif re.fullmatch(r"0x[0-9a-f]+|\d+", t):
                d = ("imm", int(t, 0) & MASK, neg, bitnot, absv)
            elif t.startswith("c["):
                d = ("const", t, neg, bitnot, absv)
            elif t.startswith("SR"):
                d = ("sr", t, neg, bitnot, absv)
            else:
                d = ("none", None, False, False, False)
        cls._decoded[tok] = d
        return d

    def val(self, tok):
        """Value of a source operand (32 bits) or None."""
        kind, x, neg, bitnot, absv = self.decode(tok)
        if kind == "reg":
            v = self.R.get(x)
        elif kind == "imm":
            v = x
        elif kind == "ureg":
            v = self.UR.get(x)
        elif kind == "const":
            bank, off = self.const_addr(x)
            v = self.load_const(bank, off)
        elif kind == "sr":
            v = self.special(x)
        else:
            return None
        if v is None:
            return None
        if absv:
            v = abs(s32(v)) & MASK
        if neg:
            v = (-v) & MASK
        if bitnot:
            v = (~v) & MASK
        return v

    def special(self, name):
        if name == "SR_TID.X":
            return self.tid
        if name in ("SR_TID.Y", "SR_TID.Z", "SR_CTAID.Y", "SR_CTAID.Z", "SRZ"):
            return 0
        if name == "SR_CTAID.X":
            return self.ctaid
        if name == "SR_LANEID":
            return self.tid % 32
        if name.startswith("SR_CgaCtaId") or name.startswith("SR_SWINHI"):
            return 0
        return None

    def mem_addr(self, tok):
        """Address of a memory operand such as desc[UR4][R2.64+0x8], [R3+UR4+0x10]."""
        tok = tok.replace(".reuse", "")
        m = re.search(r"\[([^\[\]]*)\]$", tok)
        inner = m.group(1)
        addr = 0
        for part in re.findall(r"[+-]?[^+-]+", inner):
            part = part.strip()
            sign = -1 if part.startswith("-") else 1
            part = part.lstrip("+-")
            if part.endswith(".64") or part.endswith(".U32") or part.endswith(".X4") or part.endswith(".X8"):
                base = part.split(".")[0]
                if part.endswith(".64"):
                    lo, hi = self.reg(base), self.reg(self.regn(base, 1))
                    if lo is None or hi is None:
                        return None
                    v = lo | (hi << 32)
                else:
                    v = self.reg(base)
                    if v is None:
                        return None
                    if part.endswith(".X4"):
                        v *= 4
                    elif part.endswith(".X8"):
                        v *= 8
                addr += sign * v
            elif re.fullmatch(r"U?R[0-9Z]+", part):
                v = self.reg(part)
                if v is None:
                    return None
                addr += sign * v
            else:
                addr += sign * int(part, 0)
        return addr

    # ---- memory ----
    def mem_space(self, opcode):
        if opcode.startswith(("LDS", "STS", "ATOMS")):
            return self.shared
        if opcode.startswith(("LDL", "STL")):
            return self.local
        return self.memory

    def load(self, space, addr, size):
        if addr is None:
            return None
        out = 0
        for i in range(size):
            b = space.get(addr + i)
            if b is None:
                return None
            out |= b << (8 * i)
        return out

    def store(self, space, addr, size, value):
        if addr is None:
            return
        for i in range(size):
            space[addr + i] = None if value is None else (value >> (8 * i)) & 0xFF

    # ---- execution ----
    def run(self, stop_at_barrier=False):
        """Executes the thread to its end (or, with stop_at_barrier, to its first BAR)."""
        pc = 0
        call_stack = []
        n = len(self.instrs)
        while pc < n:
            addr, guard, opcode, ops = self.instrs[pc]
            self.executed += 1
            self.per_addr[addr] = self.per_addr.get(addr, 0) + 1
            if self.executed > self.max_steps:
                raise RuntimeError("step limit reached")
            g = True
            if guard is not None:
                neg, name = guard
                g = self.pred(("!" if neg else "") + name)
            base = opcode.split(".")[0]
            if opcode.startswith("BRA.DIV"):
                # Taken only when the warp has diverged; the simulated warp is converged.
                pc += 1
                continue
            if base in ("BRA", "JMP", "BRX", "CALL", "RET", "EXIT"):
                if g is None:
                    self.unknown_branches += 1
                    g = False
                if not g:
                    pc += 1
                    continue
                if base == "EXIT":
                    return
                if base == "RET":
                    if not call_stack:
                        return
                    pc = call_stack.pop()
                    continue
                target = None
                for o in ops:
                    m = re.search(r"\(([^()]+)\)", o)
                    if m and m.group(1) in self.labels:
                        target = self.labels[m.group(1)]
                if target is None:
                    raise RuntimeError("unresolved branch at %x: %s %s" % (addr, opcode, ops))
                if base == "CALL":
                    call_stack.append(pc + 1)
                pc = self.index[target]
                continue
            if g is False:
                pc += 1
                continue
            if stop_at_barrier and base == "BAR":
                return
            self.execute(opcode, ops, g is None)
            pc += 1

    def write_dest(self, dest, v, width=1, unknown=False):
        if unknown:
            v = None
        for k in range(width):
            self.setreg(self.regn(dest, k), None if v is None else (v >> (32 * k)) & MASK)

    def execute(self, opcode, ops, unknown_guard):
        mods = opcode.split(".")
        base = mods[0]
        if base.startswith("U") and base[1:] in ALU_BASES:
            base = base[1:]
        h = getattr(self, "op_" + base, None)
        if h is None:
            self.unhandled[opcode] = self.unhandled.get(opcode, 0) + 1
            self.clobber(opcode, ops)
            return
        try:
            h(mods, ops, unknown_guard)
        except Unknown:
            self.unhandled[opcode] = self.unhandled.get(opcode, 0) + 1
            self.clobber(opcode, ops)

    def clobber(self, opcode, ops):
        """Unknown result (floating point and other unmodelled instructions): the destination
        predicate(s), or register (two for a 64-bit result), become unknown."""
        wide = (opcode[0] == "D" and not opcode.startswith("DSETP")) or \
            (opcode.startswith("F2I") and ("64" in opcode.split(".")[1])) or \
            opcode.startswith(("I2F.F64", "F2F.F64"))
        for o in ops[:2]:
            t = o.lstrip("!")
            if self.is_pred(t):
                self.setpred(t, None)
            elif re.fullmatch(r"U?R[0-9]+", t.replace(".reuse", "")):
                for k in range(2 if wide else 1):
                    self.setreg(self.regn(t.replace(".reuse", ""), k), None)
                break
            else:
                break

    # ---- handlers ----
    def op_NOP(self, m, o, ug):
        pass

    op_BSSY = op_BSYNC = op_WARPSYNC = op_BAR = op_DEPBAR = op_NOP
    op_YIELD = op_MEMBAR = op_FENCE = op_ERRBAR = op_CCTL = op_ENDCOLLECTIVE = op_NOP
    op_REDG = None  # handled as store-like below

    def op_MOV(self, m, o, ug):
        self.write_dest(o[0], self.val(o[1]), unknown=ug)

    def op_S2R(self, m, o, ug):
        self.write_dest(o[0], self.special(o[1]), unknown=ug)

    op_S2UR = op_S2R

    def op_CS2R(self, m, o, ug):
        v = 0 if o[1] == "SRZ" else None
        width = 2 if "32" not in m else 1
        self.write_dest(o[0], v, width, ug)

    def op_R2UR(self, m, o, ug):
        self.write_dest(o[0], self.val(o[1]), unknown=ug)

    def op_MOV32I(self, m, o, ug):
        self.write_dest(o[0], self.val(o[1]), unknown=ug)

    def op_LDC(self, m, o, ug):
        size = 8 if "64" in m else 4
        if "U8" in m:
            size = 1
        bank, off = self.const_addr(o[1])
        v = self.load_const(bank, off, size)
        self.write_dest(o[0], v, 2 if size == 8 else 1, ug)

    op_ULDC = op_LDC

    def op_HFMA2(self, m, o, ug):
        # The compiler materializes constants with HFMA2.MMA Rd, -RZ, RZ, imm_hi, imm_lo.
        if len(o) == 5 and o[1].lstrip("-") == "RZ" and o[2] == "RZ":
            try:
                hi = half_bits(float(o[3]))
                lo = half_bits(float(o[4]))
                self.write_dest(o[0], (hi << 16) | lo, unknown=ug)
                return
            except ValueError:
                pass
        raise Unknown()

    def three(self, o):
        return [self.val(x) for x in o]

    def op_IADD3(self, m, o, ug):
        dest = o[0]
        rest = o[1:]
        outs = []
        while rest and self.is_pred(rest[0]) and len(rest) > 3:
            outs.append(rest[0])
            rest = rest[1:]
        srcs = rest[:3]
        carries_in = rest[3:]
        vals = [self.val(x) for x in srcs]
        cin = 0
        cknown = True
        if "X" in m:
            for c in carries_in:
                pv = self.pred(c)
                if pv is None:
                    cknown = False
                else:
                    cin += 1 if pv else 0
        if any(v is None for v in vals) or not cknown:
            self.write_dest(dest, None)
            for p in outs:
                self.setpred(p, None)
            return
        # Carries out: first predicate = carry of a + b, second = carry of (a + b) + c.
        s1 = vals[0] + vals[1] + (cin if "X" in m else 0)
        total = s1 + vals[2]
        # A negated source in a subtraction: a + (-b) = a + ~b + 1 for carry purposes
        neg_adjust = sum(1 for x in srcs if x.startswith("-") and not re.fullmatch(r"-0x[0-9a-f]+|-\d+", x))
        self.write_dest(dest, total, unknown=ug)
        if outs:
            # Carry semantics with negated operands: compute with ~b + 1 form.
            def term(x, v):
                if x.startswith("-") and not re.fullmatch(r"-0x[0-9a-f]+|-\d+", x):
                    return (v - 1) & MASK, 1  # v = -b = ~b + 1
                return v, 0
            t0, a0 = term(srcs[0], vals[0])
            t1, a1 = term(srcs[1], vals[1])
            t2, a2 = term(srcs[2], vals[2])
            c1 = t0 + t1 + a0 + a1 + (cin if "X" in m else 0)
            self.setpred(outs[0], c1 > MASK)
            if len(outs) > 1:
                self.setpred(outs[1], (c1 & MASK) + t2 + a2 > MASK)

    def op_VIADD(self, m, o, ug):
        a, b = self.val(o[1]), self.val(o[2])
        self.write_dest(o[0], None if a is None or b is None else a + b, unknown=ug)

    def op_IMAD(self, m, o, ug):
        dest = o[0]
        rest = o[1:]
        outs = []
        if rest and self.is_pred(rest[0]) and len(rest) > 3:
            outs.append(rest[0])
            rest = rest[1:]
        if "MOV" in m:
            # IMAD.MOV[.U32] Rd, RZ, RZ, src
            self.write_dest(dest, self.val(rest[2]), unknown=ug)
            return
        a, b = self.val(rest[0]), self.val(rest[1])
        wide = "WIDE" in m
        if wide:
            c_lo = self.val(rest[2])
            c_hi = 0 if rest[2].replace(".reuse", "") in ("RZ", "URZ") else self.val(self.regn(rest[2].replace(".reuse", ""), 1))
            if None in (a, b, c_lo, c_hi):
                self.write_dest(dest, None, 2)
                return
            if "U32" in m:
                p = a * b
            else:
                p = s32(a) * s32(b)
            v = (p + (c_lo | (c_hi << 32))) & 0xFFFFFFFFFFFFFFFF
            self.write_dest(dest, v, 2, ug)
            return
        c = self.val(rest[2])
        cin = 0
        if "X" in m:
            pv = self.pred(rest[3]) if len(rest) > 3 else False
            if pv is None:
                self.write_dest(dest, None)
                return
            cin = 1 if pv else 0
        if None in (a, b, c):
            self.write_dest(dest, None)
            return
        if "HI" in m:
            if "U32" in m:
                p = (a * b) >> 32
            else:
                p = (s32(a) * s32(b)) >> 32
            self.write_dest(dest, p + c + cin, unknown=ug)
            return
        self.write_dest(dest, a * b + c + cin, unknown=ug)

    def op_LOP3(self, m, o, ug):
        dest = o[0]
        rest = o[1:]
        pout = None
        if self.is_pred(dest):
            pout, dest, rest = dest, rest[0], rest[1:]
        a, b, c = self.val(rest[0]), self.val(rest[1]), self.val(rest[2])
        lut = int(rest[3], 0)
        if None in (a, b, c):
            self.write_dest(dest, None)
            if pout:
                self.setpred(pout, None)
            return
        r = 0
        for bit in range(32):
            idx = (((a >> bit) & 1) << 2) | (((b >> bit) & 1) << 1) | ((c >> bit) & 1)
            r |= ((lut >> idx) & 1) << bit
        self.write_dest(dest, r, unknown=ug)
        if pout:
            self.setpred(pout, r != 0)

    def op_PLOP3(self, m, o, ug):
        d1, d2 = o[0], o[1]
        a, b, c = self.pred(o[2]), self.pred(o[3]), self.pred(o[4])
        lut = int(o[5], 0)
        if None in (a, b, c):
            self.setpred(d1, None)
            self.setpred(d2, None)
            return
        idx = (int(a) << 2) | (int(b) << 1) | int(c)
        self.setpred(d1, bool((lut >> idx) & 1))
        lut2 = int(o[6], 0) if len(o) > 6 else 0
        self.setpred(d2, bool((lut2 >> idx) & 1))

    def compare(self, cmp, a, b, signed):
        if signed:
            a, b = s32(a), s32(b)
        return {"EQ": a == b, "NE": a != b, "LT": a < b, "LE": a <= b, "GT": a > b,
                "GE": a >= b, "F": False, "T": True}[cmp]

    def op_ISETP(self, m, o, ug):
        cmp = m[1]
        signed = "U32" not in m
        bop = [x for x in m if x in ("AND", "OR", "XOR")][0]
        ex = "EX" in m
        d1, d2 = o[0], o[1]
        a, b = self.val(o[2]), self.val(o[3])
        pc = self.pred(o[4])
        pex = self.pred(o[5]) if ex else None
        if a is None or b is None or pc is None or (ex and pex is None):
            self.setpred(d1, None)
            self.setpred(d2, None)
            return
        if not ex:
            r = self.compare(cmp, a, b, signed)
        else:
            hi_eq = a == b
            if cmp == "EQ":
                r = hi_eq and pex
            elif cmp == "NE":
                r = (not hi_eq) or pex
            else:
                r = self.compare(cmp[0] + "T", a, b, signed) or (hi_eq and pex)
                if cmp in ("LE", "GE"):
                    r = self.compare(cmp[0] + "T", a, b, signed) or (hi_eq and pex)
        def comb(x):
            return {"AND": x and pc, "OR": x or pc, "XOR": x != pc}[bop]
        if ug:
            self.setpred(d1, None)
            self.setpred(d2, None)
            return
        self.setpred(d1, comb(r))
        self.setpred(d2, comb(not r))

    def op_SEL(self, m, o, ug):
        p = self.pred(o[3])
        if p is None:
            self.write_dest(o[0], None)
            return
        self.write_dest(o[0], self.val(o[1] if p else o[2]), unknown=ug)

    def op_SHF(self, m, o, ug):
        a, sh, b = self.val(o[1]), self.val(o[2]), self.val(o[3])
        if None in (a, sh, b):
            self.write_dest(o[0], None)
            return
        sh &= 63 if ("U64" in m or "S64" in m) else 63
        signed = "S32" in m or "S64" in m
        hi = s32(b) if signed else b
        v = (hi << 32) | a
        if "L" in m:
            r = v << sh
        else:
            r = v >> sh
        r = (r >> 32) if "HI" in m else r
        self.write_dest(o[0], r & MASK, unknown=ug)

    def op_LEA(self, m, o, ug):
        dest = o[0]
        rest = o[1:]
        pout = None
        if self.is_pred(rest[0]) and len(rest) > 3:
            pout, rest = rest[0], rest[1:]
        if "HI" in m:
            # LEA.HI[.X][.SX32] Rd, a, b, c, sh[, Pcarry]
            a, b = self.val(rest[0]), self.val(rest[1])
            if "SX32" in m:
                c = (MASK if (a is not None and a & 0x80000000) else 0) if a is not None else None
                sh_tok, tail = rest[2], rest[3:]
            else:
                c = self.val(rest[2])
                sh_tok, tail = rest[3], rest[4:]
            sh = int(sh_tok, 0)
            cin = 0
            if "X" in m and tail:
                pv = self.pred(tail[0])
                if pv is None:
                    self.write_dest(dest, None)
                    return
                cin = int(pv)
            if None in (a, b, c):
                self.write_dest(dest, None)
                return
            v = (((c << 32) | a) << sh) >> 32
            self.write_dest(dest, v + b + cin, unknown=ug)
            return
        a, b = self.val(rest[0]), self.val(rest[1])
        sh = int(rest[2], 0)
        if None in (a, b):
            self.write_dest(dest, None)
            if pout:
                self.setpred(pout, None)
            return
        t = (a << sh) & MASK
        self.write_dest(dest, t + b, unknown=ug)
        if pout:
            self.setpred(pout, t + b > MASK)

    def op_IDP(self, m, o, ug):
        a, b, c = self.val(o[1]), self.val(o[2]), self.val(o[3])
        if None in (a, b, c):
            self.write_dest(o[0], None)
            return
        sa = "S8" in m[2] if len(m) > 2 else True
        sb = "S8" in m[3] if len(m) > 3 else True
        s = 0
        for i in range(4):
            x, y = (a >> 8 * i) & 0xFF, (b >> 8 * i) & 0xFF
            if sa and x & 0x80:
                x -= 256
            if sb and y & 0x80:
                y -= 256
            s += x * y
        self.write_dest(o[0], s + c, unknown=ug)

    def op_POPC(self, m, o, ug):
        a = self.val(o[1])
        self.write_dest(o[0], None if a is None else bin(a).count("1"), unknown=ug)

    def op_FLO(self, m, o, ug):
        a = self.val(o[1])
        if a is None:
            self.write_dest(o[0], None)
            return
        self.write_dest(o[0], (a.bit_length() - 1) & MASK if a else MASK, unknown=ug)

    def op_PRMT(self, m, o, ug):
        a, sel, b = self.val(o[1]), self.val(o[2]), self.val(o[3])
        if None in (a, sel, b):
            self.write_dest(o[0], None)
            return
        src = a | (b << 32)
        r = 0
        for i in range(4):
            s = (sel >> (4 * i)) & 0xF
            byte = (src >> (8 * (s & 7))) & 0xFF
            if s & 8:
                byte = 0xFF if byte & 0x80 else 0
            r |= byte << (8 * i)
        self.write_dest(o[0], r, unknown=ug)

    def op_IMNMX(self, m, o, ug):
        a, b = self.val(o[1]), self.val(o[2])
        p = self.pred(o[3])
        if None in (a, b, p):
            self.write_dest(o[0], None)
            return
        signed = "U32" not in m
        x, y = (s32(a), s32(b)) if signed else (a, b)
        self.write_dest(o[0], (min(x, y) if p else max(x, y)) & MASK, unknown=ug)

    op_VIMNMX = op_IMNMX

    def op_VIADDMNMX(self, m, o, ug):
        a, b, c = self.val(o[1]), self.val(o[2]), self.val(o[3])
        p = self.pred(o[4])
        if None in (a, b, c, p):
            self.write_dest(o[0], None)
            return
        signed = "U32" not in m
        s = (a + b) & MASK
        x, y = (s32(s), s32(c)) if signed else (s, c)
        self.write_dest(o[0], (min(x, y) if p else max(x, y)) & MASK, unknown=ug)

    def op_IABS(self, m, o, ug):
        a = self.val(o[1])
        self.write_dest(o[0], None if a is None else abs(s32(a)), unknown=ug)

    def op_P2R(self, m, o, ug):
        mask = self.val(o[3]) if len(o) > 3 else self.val(o[2])
        r = 0
        for i in range(7):
            if mask is not None and (mask >> i) & 1:
                pv = self.P.get(i)
                if pv is None:
                    self.write_dest(o[0], None)
                    return
                r |= int(pv) << i
        base = self.val(o[2]) if len(o) > 3 else 0
        self.write_dest(o[0], r if base is None else (base & ~(mask or 0)) | r, unknown=ug)

    def op_R2P(self, m, o, ug):
        v, mask = self.val(o[1]), self.val(o[2])
        for i in range(7):
            if mask is not None and (mask >> i) & 1:
                self.P[i] = None if v is None else bool((v >> i) & 1)

    def op_BREV(self, m, o, ug):
        a = self.val(o[1])
        self.write_dest(o[0], None if a is None else int("{:032b}".format(a)[::-1], 2), unknown=ug)

    # memory
    def size_of(self, m):
        for k, s in (("128", 16), ("64", 8), ("U8", 1), ("S8", 1), ("U16", 2), ("S16", 2)):
            if k in m:
                return s
        return 4

    def op_LDG(self, m, o, ug):
        size = self.size_of(m)
        space, addr = self.mem_space(m[0]), self.mem_addr(o[1])
        if size > 4:
            # Each 32-bit word on its own: a vector load may read words nobody wrote.
            for k in range(size // 4):
                w = None if addr is None else self.load(space, addr + 4 * k, 4)
                self.setreg(self.regn(o[0], k), None if ug else w)
            return
        v = self.load(space, addr, size)
        if v is not None and ("S8" in m or "S16" in m):
            bits = 8 * size
            if v >> (bits - 1):
                v -= 1 << bits
        self.write_dest(o[0], v, 1, ug)

    op_LDS = op_LDL = op_LD = op_LDG

    def register_value(self, src, size):
        # The value of `size` bytes held in src and the registers after it (RZ: zero),
        # or None when any of them is unknown.
        v = 0
        for k in range(max(1, size // 4)):
            x = self.val(self.regn(src, k)) if src not in ("RZ", "URZ") else 0
            if x is None:
                return None
            v |= x << (32 * k)
        return v

    def op_STG(self, m, o, ug):
        size = self.size_of(m)
        space = self.mem_space(m[0])
        src = o[1].replace(".reuse", "")
        v = self.register_value(src, size)
        if v is not None and size < 4:
            v &= (1 << (8 * size)) - 1
        self.store(space, self.mem_addr(o[0]), size, None if ug else v)

    def op_STS(self, m, o, ug):
        space = self.shared
        size = self.size_of(m)
        src = o[1].replace(".reuse", "")
        v = self.register_value(src, size)
        if v is not None and size < 4:
            v &= (1 << (8 * size)) - 1
        self.store(space, self.mem_addr(o[0]), size, None if ug else v)

    def op_STL(self, m, o, ug):
        size = self.size_of(m)
        src = o[1].replace(".reuse", "")
        v = self.register_value(src, size)
        self.store(self.local, self.mem_addr(o[0]), size, None if ug else v)

    def op_ATOMS(self, m, o, ug):
        # Shared atomics: the old value depends on other threads.
        self.write_dest(o[0], None, 2 if "64" in m else 1)

    def op_ATOMG(self, m, o, ug):
        self.write_dest(o[0], None, 2 if "64" in m else 1)

    op_ATOM = op_ATOMG

    def op_RED(self, m, o, ug):
        pass

    op_REDG = op_RED

    def op_REDUX(self, m, o, ug):
        self.write_dest(o[0], None)

    def op_SHFL(self, m, o, ug):
        if self.is_pred(o[0]):
            self.setpred(o[0], None)
            self.write_dest(o[1], None)
        else:
            self.write_dest(o[0], None)

    def op_VOTE(self, m, o, ug):
        for x in o[:2]:
            if self.is_pred(x):
                self.setpred(x.lstrip("!"), None)
            elif re.fullmatch(r"U?R[0-9]+", x):
                self.write_dest(x, None)

    op_VOTEU = op_VOTE
    op_MATCH = op_VOTE


ALU_BASES = {"IADD3", "IMAD", "LOP3", "ISETP", "SEL", "SHF", "LEA", "MOV", "PLOP3", "POPC",
             "FLO", "PRMT", "IMNMX", "VIADD", "BREV"}




def parse_res_usage(text):
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"REG:(\d+) STACK:(\d+)", line)
        if m and name:
            out[name] = (int(m.group(1)), int(m.group(2)))
            name = None
    return out


def parse_ptxas(text):
    out, name = {}, None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '(\S+)' for 'sm_", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and name:
            out[name] = (int(m.group(1)), int(m.group(2)))
    return out


def lengths(a, b):
    return ",".join(str(x) for x in range(a, b + 1))


LONG8 = "16,32,48,64,80,96,112,127"
KERNELS = [
    # label, mangled-name part, [(sweep label, lengths)]
    ("fast<1>", "sample_tiles_fast_kernelILi1ELb{d}E", [("L=5", "5"), ("L=127", "127")]),
    ("fast<2>", "sample_tiles_fast_kernelILi2ELb{d}E", [("4,5", "4,5"), ("64,127", "64,127")]),
    ("fast<4>", "sample_tiles_fast_kernelILi4ELb{d}E",
     [("2..5", "2,3,4,5"), ("32,64,96,127", "32,64,96,127")]),
    ("fast<8>", "sample_tiles_fast_kernelILi8ELb{d}E",
     [("bench 1..5", "1,2,3,4,5"), ("16,32,..,127", LONG8)]),
    ("general", "sample_tiles_general_kernelILb{d}E",
     [("1..9", lengths(1, 9)), ("256,512,1024", "256,512,1024")]),
]


def main():
    listing, res_path, ptxas_path, params = sys.argv[1:5]
    kernels = parse_cubin_listing(open(listing).read())
    res = parse_res_usage(open(res_path).read())
    spills = parse_ptxas(open(ptxas_path).read())
    print("%-20s %4s %5s %11s %6s  %-14s %10s %9s %s" % (
        "kernel", "regs", "stack", "spill st/ld", "static", "lengths", "instr/draw",
        "per group", "unresolved branches"))
    for difficulty in (0, 1):
        for label, pattern, sweeps in KERNELS:
            part = pattern.format(d=difficulty)
            names = [k for k in kernels if part in k]
            if len(names) != 1:
                print("%-20s (not in this build)" % label)
                continue
            name = names[0]
            instrs, labels = kernels[name]
            regs, stack = res.get(name, ("?", "?"))
            sp = spills.get(name)
            spill = "%d/%d" % sp if sp else "?"
            kname = label + (" difficulty" if difficulty else "")
            if difficulty:
                # The per-item model is floating point, which the interpreter does not model:
                # branches on its values would be guessed, so no figure is given.
                print("%-20s %4s %5s %11s %6s  %s" % (
                    kname, regs, stack, spill, len(instrs),
                    "(per-item floating point: not simulated)"))
                continue
            first = True
            for sweep_label, sweep in sweeps:
                job = json.loads(subprocess.check_output([params, str(difficulty), sweep]))
                const0 = [None] * 0x1000
                for off, h in job["const0"]:
                    for i, x in enumerate(bytes.fromhex(h)):
                        const0[off + i] = x
                memory = {}
                for addr, h in job["memory"]:
                    for i, x in enumerate(bytes.fromhex(h)):
                        memory[addr + i] = x
                counts, unresolved = {}, 0
                # The block fills shared memory (the tile's token table) before its first
                # barrier: every thread's part of it is written first, so that the measured
                # threads read the real values.
                shared = {}
                for tid in range(256):
                    Machine(instrs, labels, const0, memory, tid, 0, shared=shared).run(True)
                for tid in (0, 32):
                    m = Machine(instrs, labels, const0, memory, tid, 0, shared=shared)
                    m.run()
                    counts[tid] = m.executed
                    unresolved += m.unknown_branches

                issues = counts[0] + 7 * counts[32]
                per_draw = 32.0 * issues / job["draws"]
                per_group = counts[32] / 16.0
                mark = " "
                print("%-20s %4s %5s %11s %6s  %-14s %9.2f%s %9.0f %d" % (
                    kname if first else "", regs if first else "", stack if first else "",
                    spill if first else "", len(instrs) if first else "", sweep_label, per_draw,
                    mark, per_group, unresolved))
                first = False
    for name in kernels:
        if "choice_kernel" in name:
            regs, stack = res.get(name, ("?", "?"))
            sp = spills.get(name)
            print("%-20s %4s %5s %11s %6s  (draws no tokens)" % (
                "choice", regs, stack, "%d/%d" % sp if sp else "?", len(kernels[name][0])))


if __name__ == "__main__":
    main()
PY

echo "mirage sass-report: $object"
echo "(instructions executed per token draw on a full interior tile; see the header of $0)"
python3 "$work/sass_report.py" "$work/kernels.sass" "$work/res-usage.txt" "$work/ptxas.txt" \
  "$work/params"
