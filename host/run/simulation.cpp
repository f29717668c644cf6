// Copyright (c) Mirage developers.
#include "run/simulation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "model/loss_table.h"
#include "mirage/model.h"
#include "run/progress.h"
#include "stats/parallel_arrays.h"

namespace mirage {

ModelTable make_model(const Config& config) {
  ModelTable model;
  model.scale = config.scales;
  const LossTable table{config.loss_table_scales, config.loss_table_losses};
  for (double scale : config.scales) {
    const double loss = table.scale.empty()
                            ? power_law_loss(scale, config.loss_scale, config.loss_exponent)
                            : table_loss(table, scale);
    const double p = token_probability(loss);
    model.loss.push_back(loss);
    model.p_token.push_back(p);
    model.threshold.push_back(token_threshold(p));
    // log p = -loss exactly as the model defines it; logit p = log p - log(1 - p).
    model.log_p.push_back(p > 0.0 ? -loss : -std::numeric_limits<double>::infinity());
    model.logit.push_back(p > 0.0 ? -loss - std::log(-std::expm1(-loss))
                                  : -std::numeric_limits<double>::infinity());
  }
  model.difficulty = parse_difficulty("--difficulty", config.difficulty);
  model.choices = config.task == "multiple-choice" ? config.choices : 0;
  return model;
}

Sweep::Sweep(const Config& config)
    : model_(make_model(config)),
      lengths_(config.lengths),
      test_sizes_(config.test_sizes),
      items_per_unit_(config.items_per_unit) {
  spec_.seed = config.seed;
  spec_.num_scales = static_cast<int32_t>(model_.scale.size());
  spec_.num_lengths = static_cast<int32_t>(lengths_.size());
  spec_.num_test_sizes = static_cast<int32_t>(test_sizes_.size());
  spec_.num_replicates = config.replicates;
  spec_.threshold = model_.threshold.data();
  spec_.length = lengths_.data();
  spec_.test_size = test_sizes_.data();
  spec_.difficulty = model_.difficulty.family;
  spec_.difficulty_a = model_.difficulty.a;
  spec_.difficulty_b = model_.difficulty.b;
  spec_.scale_logit = model_.logit.data();
  spec_.choices = model_.choices;
  spec_.scale_log_p = model_.log_p.data();
  spec_.attempts = config.attempts;
  spec_.budget = config.until_success ? config.budget : 0;
  const UnitGrid plain{spec_, items_per_unit_};
  chunk_start_.assign(size_t(spec_.num_test_sizes) + 1, 0);
  for (int32_t t = 0; t < spec_.num_test_sizes; ++t) {
    chunk_start_[size_t(t) + 1] = chunk_start_[size_t(t)] + segment_chunks(plain, t);
  }
}

namespace {

// Nested counts of one tally: the running sum over segments 0..t, written to
// dst[tally_index(...) * stride + offset] (stride 1 for a plain [S][K][T][R] array; A + 1 and
// the bin for the attempt histogram, whose bin is last).
void nest_tally(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies, int tally,
                std::vector<int64_t>& dst, size_t stride, size_t offset) {
#pragma omp parallel for schedule(static) collapse(2)
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      for (int32_t r = 0; r < spec.num_replicates; ++r) {
        int64_t running = 0;
        for (int32_t t = 0; t < spec.num_test_sizes; ++t) {
          running += segment_tallies[tally_array_index(spec, tally, s, k, t, r)];
          dst[size_t(tally_index(spec, s, k, t, r)) * stride + offset] = running;
        }
      }
    }
  }
}

}  // namespace

Counts nested_counts(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies) {
  const int64_t cells = tally_cells(spec);
  Counts counts;
  std::vector<int64_t>* out[MAX_TALLIES] = {&counts.exact_match, &counts.token_errors,
                                            &counts.token_errors_sq, &counts.choice_grade,
                                            &counts.brier, &counts.brier_sq};
  // The arrays sized on all threads at once (stats/parallel_arrays.h), then filled.
  ParallelArrays arrays;
  for (int tally = 0; tally < num_item_tallies(spec); ++tally) {
    arrays.assign(out[tally], static_cast<size_t>(cells), int64_t{0});
  }
  arrays.run();
  for (int tally = 0; tally < num_item_tallies(spec); ++tally) {
    nest_tally(spec, segment_tallies, tally, *out[tally], 1, 0);
  }
  // The histogram of correct attempts, bin c last: [S][K][T][R][A+1].
  const int bins = attempt_bins(spec);
  if (bins > 0) {
    counts.attempt_histogram.assign(static_cast<size_t>(cells) * size_t(bins), 0);
    for (int32_t c = 0; c < bins; ++c) {
      nest_tally(spec, segment_tallies, attempt_tally(spec, c), counts.attempt_histogram,
                 size_t(bins), size_t(c));
    }
  }
  // Sampling until success: the four sums, [S][K][T][R] each.
  if (spec.budget > 0) {
    std::vector<int64_t>* until[NUM_UNTIL_TALLIES] = {&counts.until_solved, &counts.until_attempts,
                                                      &counts.until_attempts_sq,
                                                      &counts.until_solved_attempts};
    for (int which = 0; which < NUM_UNTIL_TALLIES; ++which) {
      until[which]->assign(static_cast<size_t>(cells), 0);
      nest_tally(spec, segment_tallies, until_tally(spec, which), *until[which], 1, 0);
    }
  }
  return counts;
}

int64_t until_draws(const SweepSpec& spec, const std::vector<int64_t>& segment_tallies) {
  if (spec.budget <= 0) return 0;
  int64_t attempts = 0;
  const int32_t k = spec.num_lengths - 1;
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    for (int32_t t = 0; t < spec.num_test_sizes; ++t) {
      for (int32_t r = 0; r < spec.num_replicates; ++r) {
        attempts += segment_tallies[tally_array_index(spec, until_tally(spec, UNTIL_ATTEMPTS), s, k,
                                                      t, r)];
      }
    }
  }
  return attempts * max_length(spec);
}

std::vector<int64_t> all_unit_ids(const UnitGrid& grid) {
  std::vector<int64_t> ids(static_cast<size_t>(num_units(grid)));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  return ids;
}

int64_t sample_units(Backend& backend, const UnitGrid& grid, const std::vector<int64_t>& unit_ids,
                     std::vector<int64_t>& segment_tallies, bool show_progress) {
  int64_t total = 0;
  for (int64_t id : unit_ids) total += unit_draws(grid.spec, unit_at(grid, id));
  Progress progress("sampling", total, show_progress);
  backend.sample(grid, unit_ids.data(), static_cast<int64_t>(unit_ids.size()),
                 segment_tallies.data(), [&](int64_t draws) { progress.add(draws); });
  progress.finish();
  return total;
}

}  // namespace mirage
