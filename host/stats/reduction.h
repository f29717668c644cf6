// Copyright (c) Mirage developers.
//! \file reduction.h
//! From integer tallies to metrics (DESIGN.md sections 4 and 5): per-replicate estimates and
//! intervals, analytic values, and cross-replicate summaries.
#pragma once

#include <string>
#include <vector>

#include "io/results.h"

namespace mirage {

//! Names of the metrics a run with `config` reports, in output order: exact_match,
//! token_edit_distance, token_accuracy, and for --task multiple-choice also
//! multiple_choice_grade and brier_score.
std::vector<std::string> metric_names(const Config& config);

//! Per-item expected value of `metric` for an item whose tokens are each correct with
//! probability p, at target length L with K choices: exact_match p^L, token_edit_distance
//! L(1 - p), token_accuracy p, multiple_choice_grade [p^L > 1/K], brier_score
//! (1 - q)^2 + (K - 1)((1 - q)/(K - 1))^2 with q = p^L.
double analytic_value(const std::string& metric, double p, int32_t length, int32_t choices = 4);

//! The analytic value of `metric` at scale s and length L: analytic_value averaged over the
//! item-difficulty bins with their exact probabilities (just analytic_value(p_s) without
//! difficulty).
double expected_value(const ModelTable& model, const std::string& metric, int32_t scale,
                      int32_t length, int32_t choices);

//! Computes every metric of `results.counts` into `results.metrics` using the interval
//! methods and confidence of `results.config`.
void compute_metrics(Results& results);

}  // namespace mirage
