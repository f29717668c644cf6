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
#include "model/difficulty.h"
#include "mirage/sweep.h"

namespace mirage {

//! Per-scale model values (the model of the README: loss law or table, p = exp(-loss)) and the
//! item-level model on top of it (difficulty, multiple choice).
struct ModelTable {
  std::vector<double> scale;        //!< parameters
  std::vector<double> loss;         //!< nats per token
  std::vector<double> p_token;      //!< exp(-loss)
  std::vector<uint64_t> threshold;  //!< floor(p * 2^32), see model.h
  std::vector<double> logit;        //!< logit(p) per scale (+/-inf at p = 0, 1)
  std::vector<double> log_p;        //!< log(p) per scale
  DifficultyModel difficulty;       //!< item difficulty (none: the paper's model)
  int32_t choices = 0;              //!< options per item for multiple choice, else 0
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
  UnitGrid grid() const { return UnitGrid{spec_, items_per_unit_, chunk_start_.data()}; }
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
  std::vector<int64_t> chunk_start_;  //!< UnitGrid::chunk_start
};

//! The tallies, each [S][K][T][R] row-major: the three token tallies of every sweep and, for
//! multiple choice, the three choice tallies (empty otherwise; sweep.h).
struct Counts {
  std::vector<int64_t> exact_match;
  std::vector<int64_t> token_errors;
  std::vector<int64_t> token_errors_sq;
  std::vector<int64_t> choice_grade;  //!< items whose correct option has the most mass
  std::vector<int64_t> brier;         //!< sum of Brier scores, in BRIER_UNIT (2^-26)
  std::vector<int64_t> brier_sq;      //!< sum of squared Brier scores, in BRIER_UNIT
  //! With attempts A > 1 (else empty): [S][K][T][R][A+1], items of the test set with c of
  //! their A attempts exactly right at length L, c = 0..A (docs/DESIGN.md §3.5).
  std::vector<int64_t> attempt_histogram;
  //! With --until-success (else empty), [S][K][T][R] each (docs/DESIGN.md §3.6): over the
  //! items of the test set, t_i the attempts item i used at length L (<= budget B) and y_i = 1
  //! if one of them was exactly right: sum y_i, sum t_i, sum t_i^2, sum y_i t_i.
  std::vector<int64_t> until_solved, until_attempts, until_attempts_sq, until_solved_attempts;
};

//! Nested test-set tallies from a segment-tally array (segment_tally_size(spec) int64): the
//! count for test size t is the sum of segments 0..t.
Counts nested_counts(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies);

//! Token draws a sweep with a budget (sampling until success) used, from its segment tallies:
//! max_length x the attempts of every item at the longest length (0 without a budget).
int64_t until_draws(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies);

//! Samples the units `unit_ids` with `backend`, with progress on stderr when asked, and
//! adds into `segment_tallies`. Returns the token draws done.
int64_t sample_units(Backend& backend, const UnitGrid& grid, const std::vector<int64_t>& unit_ids,
                     std::vector<int64_t>& segment_tallies, bool show_progress);

//! Ids 0..num_units(grid)-1.
std::vector<int64_t> all_unit_ids(const UnitGrid& grid);

}  // namespace mirage
