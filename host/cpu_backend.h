// Copyright (c) Mirage developers.
//! \file cpu_backend.h
//! The CPU sampler for one work unit, used by the OpenMP backend.
#pragma once

#include "mirage/sampler.h"
#include "mirage/sweep.h"

namespace mirage {

//! Samples one work unit on the calling thread and adds its tallies, one ItemTally per
//! length, into `per_length[0..K)`. Bit-identical to sample_unit_reference().
void sample_unit_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length);

}  // namespace mirage
