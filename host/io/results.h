// Copyright (c) Mirage developers.
//! \file results.h
//! Everything a run produces, in memory, in the shapes of the HDF5 file (docs/DESIGN.md §6).
//! Arrays are row-major: [S][K][T][R] per replicate, [S][K][T] summaries, [S][K] analytic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "run/simulation.h"

namespace mirage {

//! Cross-replicate summary arrays of one metric, each [S][K][T].
struct SummaryArrays {
  std::vector<double> mean, sd, q025, q500, q975, p_zero, coverage, mean_ci_width;
};

//! One metric: per-replicate estimates and intervals, analytic values, summaries.
struct MetricResult {
  std::string name;      //!< exact_match, token_edit_distance, token_accuracy, and for
                         //!< multiple choice multiple_choice_grade, brier_score; with
                         //!< attempts pass_at_K per --pass-at K
  std::string kind;      //!< "nonlinear", "linear" or "quadratic" (the Brier score)
  std::string interval;  //!< interval method name
  double confidence = 0.95;
  int32_t k = 0;  //!< k of a pass@k metric (pass_at_K), 0 for the others
  //! [S][K][T][N]: the first N = Results::num_stored_replicates() of the R replicates (all of
  //! them unless --keep-replicates); MetricCells (stats/metric_cells.h) computes the others.
  std::vector<double> estimate, ci_low, ci_high;
  std::vector<double> expected;                   //!< [S][K]
  //! until_success only, [S][K]: the large-n limit of the pooled estimate,
  //! E[1 - (1 - q_i)^B] / E[t_i] (equal to `expected` without item difficulty, below it with).
  std::vector<double> pooled_limit;
  SummaryArrays summary;
};

//! How one interval method of one metric keeps its promise, each [S][K][T]: the fraction of
//! replicate intervals that contain the analytic value (simulated), their mean width, and the
//! exact coverage probability where it is computable (NaN elsewhere): the binomial sum
//! sum_x P(X = x) [p in CI(x)] for exact match (test sizes up to EXACT_COVERAGE_MAX_N), the
//! exact distribution of the tallies (E, E2) for the linear metrics (small n L only,
//! exact_mean_coverage_feasible).
struct IntervalComparison {
  std::string metric;  //!< exact_match, token_edit_distance or token_accuracy
  std::string method;  //!< the interval method's command-line name
  std::vector<double> coverage, mean_ci_width, exact_coverage;
};

//! Whether the change between adjacent scales is distinguishable from zero: per pair of
//! scales (s, s + 1), length, test size and replicate, an interval for estimate(s + 1) -
//! estimate(s) (Newcombe's hybrid score interval for proportions, MOVER with the metric's
//! interval for means), whether it excludes 0, and across replicates the fraction that do.
struct Jumps {
  std::string metric;
  std::string method;                  //!< e.g. "newcombe" or "mover-wilson-deff"
  //! [S-1][K][T][N], for the first N = Results::num_stored_replicates() replicates only (the
  //! fractions and coverage below count all R).
  std::vector<double> low, high;
  std::vector<uint8_t> significant;  //!< [S-1][K][T][N] 1 if the interval excludes 0
  std::vector<double> fraction_significant;  //!< [S-1][K][T] (NaN if no interval is defined)
  std::vector<double> coverage;        //!< [S-1][K][T] fraction containing the true difference
  std::vector<double> expected;        //!< [S-1][K] the true difference
};

//! The resolution frontier (docs/DESIGN.md §5).
struct Frontier {
  //! [K][T] smallest scale at which at least half the replicates see a nonzero exact match;
  //! NaN when no scale of the grid does.
  std::vector<double> simulated_scale;
  //! [K][T] the same from the formula 1 - (1 - p^L)^n >= 1/2 on the scale grid (NaN: none).
  std::vector<double> analytic_scale;
  //! [K][T] the scale (not restricted to the grid) where 1 - (1 - p^L)^n = 1/2 exactly.
  std::vector<double> analytic_scale_exact;
  //! [S][K] the test size needed to see accuracy p^L with probability 1/2.
  std::vector<double> required_test_size;
  //! Runs with --until-success (else empty): [K][T] the smallest scale at which at least half
  //! the replicates see a nonzero until-success estimate (NaN: none of the grid).
  std::vector<double> until_success_scale;
  //! Runs with --attempts (else empty): [P][K][T] the same for pass@k, one row per --pass-at k
  //! in order.
  std::vector<double> pass_at_scale;
};

//! Emergence scores of one metric over the scale axis.
struct Emergence {
  std::string metric;
  std::vector<double> score;               //!< [K][T][R] per replicate curve
  std::vector<double> median, q025, q975;  //!< [K][T] across replicates
  std::vector<double> expected;            //!< [K] score of the analytic curve
};

//! Adaptive test-set size (docs/DESIGN.md §5.11): per (scale, length, replicate) the first step
//! n_j of the nested test sizes (adaptive_steps) whose exact-match interval (the run's
//! --interval at --confidence) has x > 0 and half-width (high - low) / 2 <= W x estimate;
//! else the last step, M. Empty unless the run is adaptive.
struct Adaptive {
  std::vector<int64_t> items_used;            //!< [S][K][R] the stopping step n_j
  std::vector<int64_t> draws_used;            //!< [S][K][R] items_used x the longest length
  std::vector<uint8_t> stopped;               //!< [S][K][R] 1 = width reached, 0 = hit M
  std::vector<double> estimate, ci_low, ci_high;  //!< [S][K][R] exact match at items_used
  //! [S][K] across replicates: median items used, fraction stopped, the fraction of the
  //! stopped replicates' intervals that contain the truth (NaN if none stopped), the same over
  //! every replicate, and the mean half-width / estimate over replicates with estimate > 0.
  std::vector<double> median_items_used, fraction_stopped, coverage, coverage_all,
      mean_relative_width;
  int64_t draws_sampled = 0;  //!< per cell: M x the longest length (what was sampled)
};

//! Provenance written as root attributes.
struct RunInfo {
  std::string command_line;
  std::string created_utc;  //!< ISO 8601
  std::string backend;      //!< "cpu", "cuda", or "merged" (mirage merge)
  std::string devices;      //!< what the backend ran on
  double elapsed_s = 0.0;   //!< sampling + reduction wall time
  int64_t draws = 0;        //!< token draws sampled
};

struct Results {
  Config config;
  RunInfo info;
  ModelTable model;
  Counts counts;
  std::vector<MetricResult> metrics;
  std::vector<IntervalComparison> interval_comparison;  //!< per (metric, method)
  std::vector<Jumps> jumps;                             //!< one per metric
  Frontier frontier;
  std::vector<Emergence> emergence;  //!< one per metric
  Adaptive adaptive;                 //!< adaptive runs only

  int32_t num_scales() const { return static_cast<int32_t>(config.scales.size()); }
  int32_t num_lengths() const { return static_cast<int32_t>(config.lengths.size()); }
  int32_t num_test_sizes() const { return static_cast<int32_t>(config.test_sizes.size()); }
  int32_t num_replicates() const { return config.replicates; }
  //! The replicates whose per-replicate arrays the file stores (the first ones; --keep-replicates).
  int32_t num_stored_replicates() const { return stored_replicates(config); }
  //! The emergence scores of `metric`, or nullptr.
  const Emergence* emergence_of(const std::string& metric) const {
    for (const auto& e : emergence) {
      if (e.metric == metric) return &e;
    }
    return nullptr;
  }
  //! The jumps of `metric`, or nullptr.
  const Jumps* jumps_of(const std::string& metric) const {
    for (const auto& j : jumps) {
      if (j.metric == metric) return &j;
    }
    return nullptr;
  }
  //! The metric called `name`, or nullptr.
  const MetricResult* metric(const std::string& name) const {
    for (const auto& m : metrics) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }
};

}  // namespace mirage
