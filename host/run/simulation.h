// Copyright (c) Mirage developers.
//! \file simulation.h
//! From a validated Config to integer tallies: the model table (loss, p and threshold per
//! scale), the sweep spec that backends consume, running the work units, and the prefix sum
//! that turns segment tallies into nested test-set tallies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "run/backend.h"
#include "config/config.h"
#include "mirage/sweep.h"

namespace mirage {

//! Per-scale model values (DESIGN.md section 1).
struct ModelTable {
  std::vector<double> scale;        //!< parameters
  std::vector<double> loss;         //!< nats per token
  std::vector<double> p_token;      //!< exp(-loss)
  std::vector<uint64_t> threshold;  //!< floor(p * 2^32), see model.h
  // Item difficulty (difficulty.h); empty when every item is equally hard.
  std::vector<double> bin_probability;  //!< [B] exact probability of each bin
  std::vector<double> bin_shift;        //!< [B] logit shift of each bin (conditional median)
  std::vector<double> bin_p_token;      //!< [S][B] sigmoid(logit(p_s) + shift_b)
  std::vector<uint64_t> bin_threshold;  //!< [S][B] floor(bin_p_token * 2^32)

  int32_t num_bins() const { return static_cast<int32_t>(bin_probability.size()); }
  //! Per-token probabilities and weights of scale s as a mixture: B bins with difficulty, else
  //! the single component (p_s, 1). Calls f(p, weight) for each component.
  template <class F>
  void for_each_component(int32_t s, F&& f) const {
    if (bin_probability.empty()) {
      f(p_token[size_t(s)], 1.0);
      return;
    }
    const size_t B = bin_probability.size();
    for (size_t b = 0; b < B; ++b) f(bin_p_token[size_t(s) * B + b], bin_probability[b]);
  }
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
  //! A zeroed segment-tally array for this sweep.
  std::vector<int64_t> zero_tallies() const {
    return std::vector<int64_t>(size_t(segment_tally_size(spec_)), 0);
  }

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
  //! [T][R][B] items per difficulty bin in each nested test set (empty without difficulty).
  std::vector<int64_t> difficulty_bin;
};

//! Nested test-set tallies from a segment-tally array (segment_tally_size(spec) int64): the
//! count for test size t is the sum of segments 0..t.
Counts nested_counts(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies);

//! Samples the units `unit_ids` with `backend`, with progress on stderr when asked, and
//! adds into `segment_tallies`. Returns the token draws done.
int64_t sample_units(Backend& backend, const UnitGrid& grid, const std::vector<int64_t>& unit_ids,
                     std::vector<int64_t>& segment_tallies, bool show_progress);

//! Ids 0..num_units(grid)-1.
std::vector<int64_t> all_unit_ids(const UnitGrid& grid);

}  // namespace mirage
