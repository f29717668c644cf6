// Copyright (c) Mirage developers.
//! \file cpu_backend.h
//! The CPU sampler for one work unit, used by the OpenMP backend.
#pragma once

#include <string>

#include "mirage/sampler.h"
#include "mirage/sweep.h"

namespace mirage {

//! The inner loops sample_unit_cpu() can run. All give bit-identical tallies.
enum class CpuKernel {
  automatic,  //!< the one cpu_kernel_selected() names (the fastest that passed its checks)
  portable,   //!< plain C++ that any C++17 compiler builds (vectorized where it can)
  avx2,       //!< AVX2 intrinsics (x86-64 with AVX2, checked at run time)
  avx512,     //!< AVX-512 intrinsics (x86-64 with AVX-512F and BW, checked at run time)
};

//! Whether `kernel` can run here (automatic and portable always can). For avx512: the CPU
//! has AVX-512F and BW and the kernel passed its start-up self-check (cpu_kernel_self_check, run
//! once per process on first use; a failure is reported on stderr once).
bool cpu_kernel_available(CpuKernel kernel);

//! The kernel that CpuKernel::automatic runs here: the one force_cpu_kernel() chose, else the
//! fastest available (avx512, then avx2, then portable).
CpuKernel cpu_kernel_selected();

//! Throws std::invalid_argument naming --cpu-kernel, saying why, when `kernel` is not
//! available here (see cpu_kernel_available); returns otherwise.
void require_cpu_kernel(CpuKernel kernel);

//! Makes CpuKernel::automatic run `kernel` in this process (CpuKernel::automatic: back to the
//! fastest available); the CPU backend, `mirage bench` and the result files then name it.
//! Throws std::invalid_argument naming --cpu-kernel when `kernel` is not available here.
void force_cpu_kernel(CpuKernel kernel);

//! "portable", "AVX2" or "AVX-512" (automatic: the name of cpu_kernel_selected()).
const char* cpu_kernel_name(CpuKernel kernel);

//! The kernel an option value names: "auto", "portable", "avx2" or "avx512". Throws
//! std::invalid_argument naming `option` for any other text.
CpuKernel parse_cpu_kernel(const std::string& option, const std::string& text);

//! The start-up self-check of a vector kernel: runs `kernel` on a few small units (whole
//! blocks and partial groups, one threshold for all items and per-item thresholds of an
//! extreme item difficulty, several lengths) and compares the tallies with
//! sample_unit_tokens_reference(). Returns "" when they agree, else a description of the first
//! difference. `corrupt` (a test hook) alters one of the kernel's tallies before the
//! comparison, as a faulty kernel would; the process-wide check also does so when the
//! environment variable MIRAGE_TEST_CORRUPT_SELF_CHECK is set to a value other than "" or "0".
//! Where this CPU lacks what `kernel` needs, the description says so.
std::string cpu_kernel_self_check(CpuKernel kernel, bool corrupt = false);

//! Samples the token draws of one work unit on the calling thread and adds its token tallies,
//! one ItemTally per length, into `per_length[0..K)`, with item difficulty as the spec says
//! (per-item thresholds). Bit-identical to sample_unit_tokens_reference() for every kernel.
//! (The multiple-choice tallies, which need no token draws, come from sample_unit_choices.)
//! Throws std::invalid_argument if `kernel` is not available here. Allocates only when a
//! thread first sees a sweep with more lengths than before (thread-local scratch).
void sample_unit_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length,
                     CpuKernel kernel = CpuKernel::automatic);

}  // namespace mirage
