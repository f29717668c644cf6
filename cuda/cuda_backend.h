// Copyright (c) Mirage developers.
//! \file cuda_backend.h
//! The CUDA backend as the host sees it: plain C++, no CUDA headers. Implemented in
//! cuda/cuda_backend.cu when the build has the backend (MIRAGE_HAVE_CUDA), and by
//! host/run/cuda_stub.cpp otherwise, which reports that the backend is missing.
//!
//! Determinism: sample_units adds exactly the integers that sample_unit_reference
//! (mirage/sampler.h) gives for each unit. Every tally is an int64 sum and
//! int64 addition is associative, so the result is bit for bit the same for any number or
//! order of devices, launches, blocks and threads, and for any split of the units between
//! calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mirage/sweep.h"

namespace mirage::cuda {

//! A CUDA device this build can run on.
struct DeviceInfo {
  int index = 0;                 //!< CUDA device ordinal (as in CUDA_VISIBLE_DEVICES order)
  std::string name;              //!< e.g. "NVIDIA H200"
  int major = 0;                 //!< compute capability, major
  int minor = 0;                 //!< compute capability, minor
  std::size_t total_memory = 0;  //!< bytes of device memory
  int multiprocessors = 0;       //!< streaming multiprocessors
};

//! True when this build has the CUDA backend (false for the stub).
bool built();

//! The CUDA devices this build can run on, in ordinal order. A device is listed only if this
//! build's kernels load on it (a compute capability it was compiled for, or PTX it can JIT).
//! When none is usable and `why_none` is non-null, *why_none says why in one sentence (no
//! driver, driver too old for this runtime, no device, no device this build supports, or a
//! build without CUDA), including the CUDA error string; it is cleared when devices are found.
//! Never throws for a missing driver or device.
std::vector<DeviceInfo> list_devices(std::string* why_none);

//! Samples the work units unit_ids[0..count) of `grid` (unit_at(grid, id); each id in
//! [0, num_units(grid)), ids may come in any order) on the CUDA devices `devices` (ordinals
//! from list_devices; an ordinal may repeat, each entry taking its own share), and ADDS their
//! tallies into `segment_tallies`, a host array of segment_tally_size(grid.spec) int64:
//! the tallies indexed by tally_array_index(spec, tally, scale, length_index, segment,
//! replicate) for every tally of num_tallies(spec) (the choice tallies too for multiple choice).
//! With difficulty spec.scale_logit ([S]) feeds the per-item thresholds; for multiple choice
//! spec.scale_log_p ([S]) the per-item option masses (item_model.h).
//! The tiles of the units are split into contiguous, equal shares, one per entry of
//! `devices`, each run by its own host thread; the sum is bit-identical to adding, for every
//! unit, add_unit_tallies of sample_unit_reference(), for any device list.
//! `progress`, when not empty, is called on the calling thread with the cumulative number of
//! token draws completed so far in this call (draws counted as by unit_draws(); monotonic,
//! the last call giving the sum of unit_draws over all the units); a throw from it cancels
//! the work and is rethrown.
//! Throws std::invalid_argument for an inconsistent grid (including a null threshold,
//! scale_logit or scale_log_p array that the sweep needs, an unknown difficulty family, a
//! number of choices outside 2..MAX_CHOICES, or a threshold above 2^32), an id
//! out of range, an empty device list or a device ordinal out of range; std::runtime_error naming
//! the device and the failed CUDA call for any CUDA error (out of memory, launch failure, device
//! lost). On a throw, segment_tallies is left unmodified: results are added to it only after every
//! device finished.
void sample_units(const UnitGrid& grid, const std::vector<int>& devices, const int64_t* unit_ids,
                  int64_t count, int64_t* segment_tallies,
                  const std::function<void(int64_t)>& progress);

}  // namespace mirage::cuda
