// Copyright (c) Mirage developers.
//! \file cpu_backend.h
//! The CPU sampler for one work unit, used by the OpenMP backend.
#pragma once

#include "mirage/sampler.h"
#include "mirage/sweep.h"

namespace mirage {

//! The inner loops sample_unit_cpu() can run. All give bit-identical tallies.
enum class CpuKernel {
  automatic,  //!< the fastest one this CPU supports (AVX2 when present, else portable)
  portable,   //!< plain C++ that any C++17 compiler builds (vectorized where it can)
  avx2,       //!< AVX2 intrinsics (x86-64 with AVX2, checked at run time)
};

//! Whether `kernel` can run on this CPU and build (automatic and portable always can).
bool cpu_kernel_available(CpuKernel kernel);

//! The kernel that CpuKernel::automatic runs here (portable or avx2).
CpuKernel cpu_kernel_selected();

//! "portable" or "AVX2" (automatic: the name of cpu_kernel_selected()).
const char* cpu_kernel_name(CpuKernel kernel);

//! Samples the token draws of one work unit on the calling thread and adds its token tallies,
//! one ItemTally per length, into `per_length[0..K)`, with item difficulty as the spec says
//! (per-item thresholds). Bit-identical to sample_unit_tokens_reference() for every kernel.
//! (The multiple-choice tallies, which need no token draws, come from sample_unit_choices.)
//! Throws std::invalid_argument if `kernel` is not available here. Allocates only when a
//! thread first sees a sweep with more lengths than before (thread-local scratch).
void sample_unit_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length,
                     CpuKernel kernel = CpuKernel::automatic);

}  // namespace mirage
