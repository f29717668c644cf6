// Copyright (c) Mirage developers.
//! \file backend.h
//! The sampling backends behind one interface: each samples a list of work units and adds
//! their tallies into a segment-tally array (include/mirage/sweep.h). Integer sums make the
//! result independent of backend, thread count, device count and unit order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mirage/sweep.h"

namespace mirage {

struct Config;

//! Called with the number of token draws just completed; may be called from any thread.
using ProgressFn = std::function<void(int64_t)>;

class Backend {
 public:
  virtual ~Backend() = default;
  //! "cpu" or "cuda".
  virtual std::string name() const = 0;
  //! What it runs on, e.g. "OpenMP, 2 threads" or "0: NVIDIA H200 (sm_90)".
  virtual std::string devices() const = 0;
  //! Samples the units `unit_ids[0..count)` of `grid` and adds their tallies into
  //! `segment_tallies` (segment_tally_size(grid.spec) int64, tally_array_index layout): the
  //! token tallies and, for multiple choice, the choice tallies.
  virtual void sample(const UnitGrid& grid, const int64_t* unit_ids, int64_t count,
                      int64_t* segment_tallies, const ProgressFn& progress) = 0;
};

//! The CPU backend (OpenMP); `threads` = 0 uses every available core.
std::unique_ptr<Backend> make_cpu_backend(int32_t threads);

//! The CUDA backend on `devices` (empty: all visible). Throws std::invalid_argument naming
//! --backend when this build or machine has no usable CUDA device.
std::unique_ptr<Backend> make_cuda_backend(const std::vector<int32_t>& devices);

//! The backend that `config.backend` asks for. "auto" takes CUDA when a device is usable and
//! the CPU otherwise; `note` receives a sentence saying which it took and why.
std::unique_ptr<Backend> make_backend(const Config& config, std::string* note);

}  // namespace mirage
