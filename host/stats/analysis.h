// Copyright (c) Mirage developers.
//! \file analysis.h
//! The questions of the paper, answered from the metrics (DESIGN.md section 5): how good each
//! interval method is (coverage, width), where an ability becomes visible at all (the
//! resolution frontier), and how "emergent" each curve looks (the emergence score).
#pragma once

#include "io/results.h"

namespace mirage {

//! Coverage of p^L and mean width of every exact-match interval method, per (s, k, t).
std::vector<IntervalComparison> compare_intervals(const Results& results);

//! The resolution frontier from the simulated counts and from the formula.
Frontier resolution_frontier(const Results& results);

//! The scale at which the model's loss equals `loss` (nats), inverting the model of
//! `config`; NaN if no finite scale does.
double scale_for_loss(const Config& config, double loss);

//! Emergence scores of every metric: one per (length, test size, replicate) curve over the
//! scales (for token_edit_distance the curve is -distance, so improvement is positive), their
//! median and 2.5/97.5 % quantiles across replicates, and the score of the analytic curve.
std::vector<Emergence> emergence_scores(const Results& results);

//! All of the above into `results` (after compute_metrics).
void analyze(Results& results);

}  // namespace mirage
