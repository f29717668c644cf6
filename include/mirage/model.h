// Copyright (c) Mirage developers.
//! \file model.h
//! The model family of Schaeffer, Miranda & Koyejo (NeurIPS 2023), docs/DESIGN.md §1:
//! per-token cross-entropy L(N) = (N / c)^alpha, probability of the correct token
//! p(N) = exp(-L(N)), and the integer threshold that turns p into a comparison of 32-bit
//! uniforms. These run on the host once per scale; nothing here is in a hot loop.
#pragma once

#include <cmath>
#include <cstdint>

#include "mirage/macros.h"

namespace mirage {

//! The paper's toy law, recovered from its figure 2: c = 2e9 parameters, alpha = -0.5.
constexpr double DEFAULT_LOSS_SCALE = 2e9;
constexpr double DEFAULT_LOSS_EXPONENT = -0.5;

//! 2^32 as the threshold of a token that is always correct (p = 1).
constexpr uint64_t THRESHOLD_ONE = uint64_t{1} << 32;

//! Per-token cross-entropy in nats at scale N (parameters, N > 0) under the power law
//! L(N) = (N / c)^alpha with c > 0 and alpha < 0.
inline double power_law_loss(double scale, double loss_scale, double loss_exponent) {
  return std::pow(scale / loss_scale, loss_exponent);
}

//! Probability of the correct token, exp(-loss), for a loss >= 0 in nats; in [0, 1].
inline double token_probability(double loss) {
  return std::exp(-loss);
}

//! T = floor(p * 2^32) computed in double and held in 64 bits, so that p = 1 gives exactly
//! 2^32 (every token correct) and p = 0 gives 0 (none). A token is correct iff its uniform
//! u < T, so P(correct) = T / 2^32, which differs from p by less than 2^-32.
//! Precondition: 0 <= p <= 1.
inline uint64_t token_threshold(double p) {
  const double t = std::floor(p * 4294967296.0);
  if (!(t > 0.0)) return 0;
  if (t >= 4294967296.0) return THRESHOLD_ONE;
  return static_cast<uint64_t>(t);
}

//! The probability that a token is correct as actually sampled: T / 2^32.
inline double threshold_probability(uint64_t threshold) {
  return static_cast<double>(threshold) / 4294967296.0;
}

//! Whether a token with uniform u is correct at threshold T (the whole per-token decision).
MIRAGE_HD inline uint32_t token_correct(uint32_t u, uint64_t threshold) {
  return static_cast<uint64_t>(u) < threshold ? 1u : 0u;
}

}  // namespace mirage
