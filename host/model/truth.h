// Copyright (c) Mirage developers.
//! \file truth.h
//! The exact analytic value of every metric per (scale, length): what a test set of infinite
//! size would report under the true continuous model (include/mirage/item_model.h), not under
//! any discretisation of it. Without item difficulty these are closed forms of the model's
//! per-token probability p; with it, expectations over the items computed by quadrature
//! (difficulty.h, Boost.Math tanh-sinh, relative error below 1e-9 promised; tests/test_difficulty.cpp
//! checks 1e-9 against an independent integration over the density).
//!
//! Per item with per-token probability p_i and q_i = p_i^L:
//!   exact_match          q_i                                   (expected: E[p_i^L])
//!   token_edit_distance  L (1 - p_i)
//!   token_accuracy       p_i
//!   multiple_choice_grade  P(max_j D_j < q_i / (1 - q_i)) = F_m(q_i / (1 - q_i)) for the flat
//!                        Dirichlet split D of m = K - 1 distractors (max_share_cdf)
//!   brier_score          (1 - q_i)^2 (1 + E[sum_j D_j^2]) = (1 - q_i)^2 (1 + 2 / (m + 1))
#pragma once

#include <cstdint>
#include <vector>

#include "model/difficulty.h"

namespace mirage {

//! P(max_j D_j <= t) for (D_1..D_m) ~ Dirichlet(1, ..., 1), m >= 1, t >= 0: the distribution
//! of the largest of the m spacings of m - 1 uniform points (Fisher 1929):
//!   sum_{j=0}^{floor(1/t)} (-1)^j C(m, j) (1 - j t)^(m-1)   for m >= 2,   [t >= 1] for m = 1.
//! Evaluated in long double, and in 50-digit arithmetic (Boost.Multiprecision) where the
//! alternating sum would lose more than 1e-13 to cancellation.
double max_share_cdf(int32_t m, double t);

//! The analytic values of the five metrics at one scale and length.
struct MetricTruth {
  double exact_match;
  double token_edit_distance;
  double token_accuracy;
  double multiple_choice_grade;  //!< NaN for choices == 0
  double brier_score;            //!< NaN for choices == 0
};

//! The analytic values for a model whose per-token probability at this scale is p (in [0, 1]),
//! target length L >= 1, item difficulty `difficulty`, and `choices` options (0: free-form).
MetricTruth metric_truth(double p, int32_t length, const DifficultyModel& difficulty,
                         int32_t choices);

//! E[p_i^L]: the probability that a random item is exactly right (just p^L without difficulty).
double exact_match_probability(double p, int32_t length, const DifficultyModel& difficulty);

//! pass@k under the true model: E[1 - (1 - q_i)^k], q_i = p_i^L, the probability that at
//! least one of k independent attempts at a random item is exactly right (difficulty is the
//! item's, shared by its attempts). Without difficulty -expm1(k log1p(-p^L)); with it the
//! expectation over the law of d by the quadrature of expect_over_items.
double pass_at_k_probability(double p, int32_t length, int32_t k,
                             const DifficultyModel& difficulty);

//! Sampling until success with budget B (docs/DESIGN.md §4.1): E[t_i], the attempts a random
//! item uses, t_i = min(first exactly right attempt, B), geometric with success rate
//! q_i = p_i^L truncated at B: E[(1 - (1 - q_i)^B) / q_i] (B where q_i = 0). The large-n limit
//! of the pooled estimate s / total is pass_at_k_probability(p, L, B) / this.
double until_success_attempts(double p, int32_t length, int32_t budget,
                              const DifficultyModel& difficulty);

//! The distribution of an item's number of correct tokens k among its first L: entry k is
//! E[C(L, k) p_i^k (1 - p_i)^(L-k)], k = 0..L (a mixture of binomials with difficulty).
std::vector<double> correct_tokens_pmf(double p, int32_t length, const DifficultyModel& difficulty);

//! The per-token probability p* of the model at which E[p_i^L] = accuracy (in (0, 1)), found
//! by bisection on logit p to full double precision (exact_match_probability increases with
//! p). Without difficulty accuracy^(1/L).
double token_probability_for_accuracy(double accuracy, int32_t length,
                                      const DifficultyModel& difficulty);

}  // namespace mirage
