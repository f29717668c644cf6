// Copyright (c) Mirage developers.
//! \file reduction.h
//! From integer tallies to metrics (docs/DESIGN.md §4 and §5): per-replicate estimates and
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

//! The analytic value of `metric` at scale s and length L under the true model, difficulty
//! included (model/truth.h): E[p_i^L], L E[1 - p_i], E[p_i], and for multiple choice the
//! grade and Brier score of the sampled options.
double expected_value(const ModelTable& model, const std::string& metric, int32_t scale,
                      int32_t length);

//! The half-width 2^-27 by which every Brier-score interval is widened: each item's score is
//! rounded to a multiple of BRIER_UNIT = 2^-26 before it is summed (sweep.h), which moves the
//! estimate by at most this much, so the widened interval keeps its promise for the unrounded
//! scores.
constexpr double BRIER_ROUNDING = 1.0 / 134217728.0;  // 2^-27

//! The name of the pass@k metric for k: "pass_at_K" (K in decimal).
std::string pass_at_name(int32_t k);

//! Computes every metric of `results.counts` into `results.metrics` using the interval
//! methods and confidence of `results.config`: those of metric_names, then, with attempts,
//! one pass@k metric per --pass-at k (from the histogram of correct attempts).
void compute_metrics(Results& results);

}  // namespace mirage
