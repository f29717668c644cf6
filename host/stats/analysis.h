// Copyright (c) Mirage developers.
//! \file analysis.h
//! The questions of the paper, answered from the metrics (docs/DESIGN.md §5): how good each
//! interval method is (coverage, width), where an ability becomes visible at all (the
//! resolution frontier), and how "emergent" each curve looks (the emergence score).
#pragma once

#include <string>
#include <vector>

#include "io/results.h"

namespace mirage {

//! Largest test size for which the exact coverage of the exact-match intervals is computed
//! (above it, the binomial sums of every method at every scale would dominate the reduction).
constexpr int64_t EXACT_COVERAGE_MAX_N = 10000;
//! Largest n L for which the exact coverage of the linear metrics' intervals is computed (and
//! only where exact_mean_coverage_feasible): ~1 ms per cell and method at n L = 100.
constexpr int64_t EXACT_MEAN_COVERAGE_MAX_NL = 100;

//! Simulated coverage, mean width and exact coverage, per (s, k, t), of every interval method
//! of exact match (the proportion methods) and of the linear metrics (the mean methods).
std::vector<IntervalComparison> compare_intervals(const Results& results);

//! Intervals for the difference between adjacent scales of every metric, per replicate, and
//! the fraction of replicates in which that difference is significant (excludes 0).
std::vector<Jumps> jump_intervals(const Results& results);

//! The resolution frontier from the simulated counts and from the formula.
Frontier resolution_frontier(const Results& results);

//! The scale at which the model's loss equals `loss` (nats), inverting the model of
//! `config`; NaN if no finite scale does.
double scale_for_loss(const Config& config, double loss);

//! Emergence scores of every metric: one per (length, test size, replicate) curve over the
//! scales (for token_edit_distance the curve is -distance, so improvement is positive), their
//! median and 2.5/97.5 % quantiles across replicates, and the score of the analytic curve.
std::vector<Emergence> emergence_scores(const Results& results);

//! The emergence score of each metric's noise-free curve on one model family's scale grid.
struct FamilyEmergence {
  std::string family;
  int32_t scales = 0;
  //! Per metric_names(config) entry: the score, or NaN where the family's scales lie outside
  //! the model (a loss table without --extrapolate).
  std::vector<double> score;
};

//! For every preset family (config/presets.h): the emergence score of the analytic curve of
//! every metric at target length `length`, evaluated at the family's own scales under the
//! model, item difficulty and task of `config`. On the sparse grids of real families the
//! score separates nonlinear from linear metrics; on a dense grid every smooth monotone curve
//! scores about its number of steps.
std::vector<FamilyEmergence> family_emergence(const Config& config, int32_t length);

//! All of the above into `results` (after compute_metrics).
void analyze(Results& results);

}  // namespace mirage
