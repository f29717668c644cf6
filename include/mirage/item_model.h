// Copyright (c) Mirage developers.
//! \file item_model.h
//! What makes one item differ from another: continuous item difficulty and, for multiple
//! choice, the model's probability mass on the item's options. Everything here is per item
//! (never per token), computed from the item's own draws of the reserved streams (stream.h)
//! with portable_math.h, so that every backend (g++ and nvcc) gets the same bits.
//!
//! Item difficulty. Item i of replicate r has a logit shift d_i, and its per-token probability
//! at scale s is
//!     p_i(N_s) = sigmoid(logit(p(N_s)) + d_i),
//! so scale still acts only through the model's p(N). d_i = D(u_i), where u_i in (0, 1) is the
//! item's 53-bit uniform (two words of the difficulty stream, open_uniform) and D the quantile
//! function of the family:
//!   normal:SIGMA      d = SIGMA * Phi^-1(u)                     (the logit-normal model)
//!   logistic:S        d = S * log(u / (1 - u))                  (heavier tails: rate 1/S)
//!   kumaraswamy:A:B   d = logit(q), q = (1 - (1 - u)^(1/B))^(1/A): the item's per-token
//!                     probability at the scale where p(N) = 1/2 is q ~ Kumaraswamy(A, B), a
//!                     Beta-like law with density A B q^(A-1) (1 - q^A)^(B-1) whose left tail
//!                     near 0 is that of Beta(A, B) (~ q^(A-1)); with A < 1 a sizeable share of
//!                     items is nearly impossible at every scale (Schaeffer et al. 2025, "How
//!                     Do Large Language Monkeys Get Their Power (Laws)?"). Kumaraswamy (1980)
//!                     rather than Beta because its quantile has a closed form.
//! The item's token threshold is then floor(p_i * 2^32) (model.h), so the hot loop stays an
//! integer comparison. No bins: every item has its own threshold.
//!
//! Multiple choice with K options (choices = K >= 2). The model puts mass q_i = p_i^L on the
//! correct option (the probability of its L-token answer) and splits 1 - q_i among the
//! m = K - 1 distractors by a flat Dirichlet (concentration 1: the normalised spacings of
//! m independent Exp(1) draws E_j = -log u_ij from the choice stream, one word per distractor).
//! The split is a property of the item, the same at every scale and length. Then
//!   Multiple Choice Grade = [q_i > (1 - q_i) max_j D_j]        (the correct option wins)
//!   Brier score           = (1 - q_i)^2 + sum_j ((1 - q_i) D_j)^2 = (1 - q_i)^2 (1 + sum_j D_j^2)
//! both random per item even when every item is equally hard (except with K = 2, where the
//! single distractor takes all of 1 - q_i).
#pragma once

#include <cstdint>

#include "mirage/macros.h"
#include "mirage/model.h"
#include "mirage/portable_math.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"

namespace mirage {

//! Families of item difficulty (SweepSpec::difficulty).
enum DifficultyFamily : int32_t {
  DIFFICULTY_NONE = 0,         //!< every item as hard as the model says (the paper's model)
  DIFFICULTY_NORMAL = 1,       //!< d ~ Normal(0, a)
  DIFFICULTY_LOGISTIC = 2,     //!< d ~ Logistic(0, a)
  DIFFICULTY_KUMARASWAMY = 3,  //!< d = logit(q), q ~ Kumaraswamy(a, b)
};

//! A uniform in the open interval (0, 1) and its complement, both exact.
struct OpenUniform {
  double u;           //!< (2m + 1) / 2^53 for a 52-bit integer m
  double complement;  //!< 1 - u = (2^53 - 2m - 1) / 2^53, exact (not rounded from u)
};

//! The uniform (2m + 1) / 2^53 with m = the top 52 of the 64 bits high:low, and its exact
//! complement. Both numerators are odd integers below 2^53, so both values are exact doubles
//! in [2^-53, 1 - 2^-53].
MIRAGE_HD inline OpenUniform open_uniform(uint32_t high, uint32_t low) {
  const uint64_t m = (uint64_t{high} << 20) | (low >> 12);
  OpenUniform r;
  r.u = static_cast<double>(2 * m + 1) * 0x1p-53;
  r.complement = static_cast<double>((uint64_t{1} << 53) - 2 * m - 1) * 0x1p-53;
  return r;
}

//! The difficulty uniforms of items 4*group..4*group+3 of replicate r: word w of two Philox
//! calls of the difficulty stream (token index 0: high 32 bits, token index 1: low 32 bits;
//! scale 0, since an item's difficulty does not depend on the scale).
MIRAGE_HD inline void group_difficulty_uniforms(uint64_t seed, uint32_t replicate, uint32_t group,
                                                OpenUniform (&u)[ITEMS_PER_GROUP]) {
  const PhiloxKey key = philox_key(seed);
  const PhiloxCounter high =
      philox4x32_10(philox_counter(group, 0u, STREAM_DIFFICULTY, 0u, replicate), key);
  const PhiloxCounter low =
      philox4x32_10(philox_counter(group, 1u, STREAM_DIFFICULTY, 0u, replicate), key);
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) u[w] = open_uniform(high.v[w], low.v[w]);
}

//! The logit shift d = D(u) of an item of `family` (not DIFFICULTY_NONE) with parameters
//! (a, b) and difficulty uniform u; finite for every u open_uniform can give (the
//! Kumaraswamy tails included: q never rounds to exactly 0 or 1 in the log domain).
MIRAGE_HD inline double item_logit_shift(int32_t family, double a, double b, const OpenUniform& u) {
  switch (family) {
    case DIFFICULTY_NORMAL:
      return pm::mul(a, pm::normal_quantile(u.u, u.complement));
    case DIFFICULTY_LOGISTIC:
      return pm::mul(a, pm::sub(pm::log(u.u), pm::log(u.complement)));
    case DIFFICULTY_KUMARASWAMY: {
      // With t = (1 - u)^(1/b): log q = log(1 - t) / a, and logit(q) = log q - log(1 - q).
      // Each log of a difference is taken where it does not cancel: log(1 - t) as
      // log1p(-t) for t < 1/2, else log(-expm1(log t)); log(1 - q) likewise from log q; and
      // when q rounds to 1 (t below ~1e-16), log(1 - q) = log(t / a) to relative O(t).
      const double log_t = pm::div(pm::log(u.complement), b);
      const double log_q =
          pm::div(log_t < -0.6931471805599453 ? pm::log1p(-pm::exp(log_t))
                                              : pm::log(-pm::expm1(log_t)),
                  a);
      const double log_1mq = log_q < -0.6931471805599453 ? pm::log1p(-pm::exp(log_q))
                             : log_q < 0.0               ? pm::log(-pm::expm1(log_q))
                                                         : pm::sub(log_t, pm::log(a));
      return pm::sub(log_q, log_1mq);
    }
    default:
      return 0.0;
  }
}

//! floor(p * 2^32) held in 64 bits (2^32 for p = 1, 0 for p = 0 or NaN): model.h's
//! token_threshold, written for host and device alike (p * 2^32 is exact and the conversion
//! truncates, so both give the same integer).
MIRAGE_HD inline uint64_t probability_threshold(double p) {
  const double t = p * 4294967296.0;
  if (!(t > 0.0)) return 0;
  if (t >= 4294967296.0) return THRESHOLD_ONE;
  return static_cast<uint64_t>(t);
}

//! The token threshold of an item with logit shift `shift` at a scale whose logit(p) is
//! `scale_logit`: floor(sigmoid(scale_logit + shift) * 2^32).
MIRAGE_HD inline uint64_t item_threshold(double scale_logit, double shift) {
  return probability_threshold(pm::sigmoid(pm::add(scale_logit, shift)));
}

//! Per-item token thresholds of items 4*group..4*group+3 of replicate r at scale s and, when
//! log_p is not null, the log of each item's per-token probability (for multiple choice).
//! Without difficulty every item has threshold[s] and log p_s (spec.scale_log_p, read only
//! when log_p is not null).
MIRAGE_HD inline void group_item_model(const SweepSpec& spec, uint32_t replicate, uint32_t scale,
                                       uint32_t group, uint64_t (&thresholds)[ITEMS_PER_GROUP],
                                       double* log_p) {
  if (spec.difficulty == DIFFICULTY_NONE) {
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) thresholds[w] = spec.threshold[scale];
    if (log_p != nullptr) {
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) log_p[w] = spec.scale_log_p[scale];
    }
    return;
  }
  OpenUniform u[ITEMS_PER_GROUP];
  group_difficulty_uniforms(spec.seed, replicate, group, u);
  const double base = spec.scale_logit[scale];
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    const double x =
        pm::add(base, item_logit_shift(spec.difficulty, spec.difficulty_a, spec.difficulty_b,
                                          u[w]));
    thresholds[w] = probability_threshold(pm::sigmoid(x));
    if (log_p != nullptr) log_p[w] = pm::log_sigmoid(x);
  }
}

//! The flat-Dirichlet split of an item's distractor mass, reduced to what the metrics need.
struct ChoiceSplit {
  double max_share;     //!< max_j D_j
  double sum_sq_share;  //!< sum_j D_j^2
};

//! The splits of items 4*group..4*group+3 of replicate r among m = choices - 1 distractors:
//! D_j = E_j / sum E, E_j = -log((w_j + 1/2) / 2^32) for word w_j of the choice stream at token
//! index j (scale 0: the split belongs to the item). choices >= 2; with m = 1 nothing is drawn.
MIRAGE_HD inline void group_choice_splits(uint64_t seed, uint32_t replicate, uint32_t group,
                                          int32_t choices, ChoiceSplit (&split)[ITEMS_PER_GROUP]) {
  const int32_t m = choices - 1;
  if (m <= 1) {
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) split[w] = ChoiceSplit{1.0, 1.0};
    return;
  }
  const PhiloxKey key = philox_key(seed);
  double sum[ITEMS_PER_GROUP] = {0.0, 0.0, 0.0, 0.0};
  double sum_sq[ITEMS_PER_GROUP] = {0.0, 0.0, 0.0, 0.0};
  double largest[ITEMS_PER_GROUP] = {0.0, 0.0, 0.0, 0.0};
  for (int32_t j = 0; j < m; ++j) {
    const PhiloxCounter x = philox4x32_10(
        philox_counter(group, static_cast<uint32_t>(j), STREAM_CHOICE, 0u, replicate), key);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      // (2 w + 1) / 2^33 is exact and in (0, 1): E is finite and positive.
      const double e = -pm::log(static_cast<double>(2 * uint64_t{x.v[w]} + 1) * 0x1p-33);
      sum[w] = pm::add(sum[w], e);
      sum_sq[w] = pm::add(sum_sq[w], pm::mul(e, e));
      largest[w] = e > largest[w] ? e : largest[w];
    }
  }
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    split[w].max_share = pm::div(largest[w], sum[w]);
    split[w].sum_sq_share = pm::div(sum_sq[w], pm::mul(sum[w], sum[w]));
  }
}

//! One item's multiple-choice outcome at one target length.
struct ChoiceOutcome {
  uint32_t grade;          //!< 1 if the correct option has the highest mass
  int64_t brier;           //!< round(Brier score / BRIER_UNIT)
  int64_t brier_sq;        //!< round(Brier score^2 / BRIER_UNIT)
};

//! round(v * 2^26) for 0 <= v <= 4 (exact scaling, then floor(x + 1/2)).
MIRAGE_HD inline int64_t brier_units(double v) {
  const double x = pm::add(pm::mul(v, BRIER_SCALE), 0.5);
  return static_cast<int64_t>(x);  // x >= 0.5: truncation is floor
}

//! The outcome of an item whose per-token probability has log `log_p` (<= 0), at target
//! length L, with distractor split `split`: q = p^L = exp(L log p), 1 - q = -expm1(L log p).
MIRAGE_HD inline ChoiceOutcome choice_outcome(double log_p, int32_t length,
                                              const ChoiceSplit& split) {
  const double log_q = pm::mul(static_cast<double>(length), log_p);
  const double q = pm::exp(log_q);
  const double miss = -pm::expm1(log_q);
  ChoiceOutcome out;
  out.grade = q > pm::mul(miss, split.max_share) ? 1u : 0u;
  const double brier = pm::mul(pm::mul(miss, miss), pm::add(1.0, split.sum_sq_share));
  out.brier = brier_units(brier);
  out.brier_sq = brier_units(pm::mul(brier, brier));
  return out;
}

}  // namespace mirage
