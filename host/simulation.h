// Copyright (c) Mirage developers.
//! \file simulation.h
//! From a validated Config to integer tallies: the model table (loss, p and threshold per
//! scale), the sweep spec that backends consume, running the work units, and the prefix sum
//! that turns segment tallies into nested test-set tallies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "config.h"
#include "mirage/sweep.h"

namespace mirage {

//! Per-scale model values (DESIGN.md section 1).
struct ModelTable {
  std::vector<double> scale;         //!< parameters
  std::vector<double> loss;          //!< nats per token
  std::vector<double> p_token;       //!< exp(-loss)
  std::vector<uint64_t> threshold;   //!< floor(p * 2^32), see model.h
};

//! Evaluates the model of `config` at its scales.
ModelTable make_model(const Config& config);

//! Owns the arrays that a SweepSpec borrows.
class Sweep {
 public:
  explicit Sweep(const Config& config);
  Sweep(const Sweep&) = delete;
  Sweep& operator=(const Sweep&) = delete;

  const SweepSpec& spec() const { return spec_; }
  UnitGrid grid() const { return UnitGrid{spec_, items_per_unit_}; }
  const ModelTable& model() const { return model_; }
  //! Total token draws of the whole sweep.
  int64_t total_draws() const;

 private:
  ModelTable model_;
  std::vector<int32_t> lengths_;
  std::vector<int64_t> test_sizes_;
  int64_t items_per_unit_;
  SweepSpec spec_;
};

//! The three tallies of DESIGN.md section 3, each [S][K][T][R] row-major.
struct Counts {
  std::vector<int64_t> exact_match;
  std::vector<int64_t> token_errors;
  std::vector<int64_t> token_errors_sq;
};

//! Nested test-set tallies from segment tallies ([NUM_TALLIES][S][K][T][R]): the count for
//! test size t is the sum of segments 0..t.
Counts nested_counts(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies);

//! Samples the units `unit_ids` with `backend`, with progress on stderr when asked, and
//! adds into `segment_tallies`. Returns the token draws done.
int64_t sample_units(Backend& backend, const UnitGrid& grid, const std::vector<int64_t>& unit_ids,
                     std::vector<int64_t>& segment_tallies, bool show_progress);

//! Ids 0..num_units(grid)-1.
std::vector<int64_t> all_unit_ids(const UnitGrid& grid);

}  // namespace mirage
