// Copyright (c) Mirage developers.
//! \file difficulty.h
//! Item difficulty and multiple choice (the models beyond the paper's toy law).
//!
//! Each item i of replicate r draws a difficulty d_i ~ Normal(0, sigma) that shifts the
//! per-token logit: p_i = sigmoid(logit(p(N)) + d_i). To keep sampling integer-only, d is
//! quantized into B equal-probability bins: the item's bin is floor(u * B / 2^32) for its
//! word u of the reserved difficulty stream (stream.h), and the bin's representative is its
//! conditional median sigma * Phi^-1((b + 1/2) / B). Token thresholds are then precomputed
//! per (scale, bin) on the host. Because floor(u B / 2^32) is not exactly uniform when B does
//! not divide 2^32, every analytic value uses the exact bin probabilities, so coverage and
//! z-tests compare against the exact truth of what is sampled.
//!
//! Multiple choice with K options: the model puts mass q = p_i^L on the correct option (the
//! probability of its L-token answer) and spreads 1 - q evenly over the K - 1 distractors.
//! Multiple Choice Grade = [q > 1/K]; Brier score = (1 - q)^2 + (K - 1) ((1 - q) / (K - 1))^2.
#pragma once

#include <cstdint>
#include <vector>

namespace mirage {

//! The quantized difficulty distribution.
struct DifficultyBins {
  double sigma = 0.0;
  std::vector<double> probability;     //!< [B] exact probability of each bin under the sampler
  std::vector<double> representative;  //!< [B] the bin's conditional median, logit units
};

//! Bins of Normal(0, sigma): B >= 1 equal-probability bins (exact sampler probabilities).
DifficultyBins make_difficulty_bins(double sigma, int32_t bins);

//! Per-token probability of an item with logit shift d at per-token probability p:
//! sigmoid(logit(p) + d), with p = 0 and p = 1 kept exactly.
double shifted_probability(double p, double shift);

//! Multiple Choice Grade of an item with correct-option mass q among K >= 2 options.
inline double choice_grade(double q, int32_t choices) {
  return q > 1.0 / choices ? 1.0 : 0.0;
}

//! Brier score of an item with correct-option mass q among K >= 2 options, the rest spread
//! evenly over the K - 1 distractors: (1 - q)^2 + (K - 1) ((1 - q) / (K - 1))^2.
inline double brier_score(double q, int32_t choices) {
  const double miss = 1.0 - q;
  const double each = miss / (choices - 1);
  return miss * miss + (choices - 1) * each * each;
}

}  // namespace mirage
