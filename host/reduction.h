// Copyright (c) Mirage developers.
//! \file reduction.h
//! From integer tallies to metrics (DESIGN.md sections 4 and 5): per-replicate estimates and
//! intervals, analytic values, and cross-replicate summaries.
#pragma once

#include <vector>

#include "results.h"

namespace mirage {

//! Names of the metrics of DESIGN.md section 4, in output order.
const std::vector<std::string>& metric_names();

//! Analytic value of `metric` for per-token probability p and target length L:
//! exact_match p^L, token_edit_distance L(1 - p), token_accuracy p.
double analytic_value(const std::string& metric, double p, int32_t length);

//! Computes every metric of `results.counts` into `results.metrics` using the interval
//! methods and confidence of `results.config`.
void compute_metrics(Results& results);

}  // namespace mirage
