// Copyright (c) Mirage developers.
//! \file item_model_avx2.h
//! The per-item model of item_model.h on four items at once, with the AVX2 math of
//! portable_math_avx2.h: difficulty uniforms, logit shifts, token thresholds and log p, the
//! multiple-choice splits and outcomes. Every result is, item by item, bit for bit the one
//! item_model.h computes (tests/test_portable_math_avx2.cpp checks it over millions of items
//! per family, extreme parameters included).
//!
//! Two layouts. The group functions (group_item_model_avx2) take the four items of one group,
//! lane w = item 4 group + w, and are drop-in twins of their scalar namesakes. The set
//! functions work on a set of four consecutive groups g0..g0+3, the layout in which Philox
//! runs four calls at once (philox_batch.h: one group per 64-bit lane): vector w holds word w
//! of each group's call, so lane l of vector w is item 4 (g0 + l) + w ("word-major"). The
//! per-item math does not care which item sits in which lane.
//!
//! CPU only, AVX2 functions (callers check cpu_has_avx2()); guarded by MIRAGE_HAVE_AVX2_PATH.
#pragma once

#include <cstdint>

#include "mirage/item_model.h"
#include "mirage/philox_batch.h"
#include "mirage/portable_math.h"
#include "mirage/portable_math_avx2.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"

#if MIRAGE_HAVE_AVX2_PATH && !defined(__CUDACC__)

namespace mirage {

//! The difficulty law of a sweep with what its logit shift needs precomputed: family
//! (DIFFICULTY_NORMAL, _LOGISTIC or _KUMARASWAMY), parameters a, b and, for Kumaraswamy,
//! pm::log(a) (a constant of item_logit_shift's q-rounds-to-1 branch).
struct ItemShiftParams {
  int32_t family = DIFFICULTY_NONE;
  double a = 0.0;
  double b = 0.0;
  double log_a = 0.0;
};

//! The ItemShiftParams of a family and its parameters. Plain C++ (no AVX needed).
inline ItemShiftParams item_shift_params(int32_t family, double a, double b) {
  ItemShiftParams m;
  m.family = family;
  m.a = a;
  m.b = b;
  m.log_a = family == DIFFICULTY_KUMARASWAMY ? pm::log(a) : 0.0;
  return m;
}

//! Four OpenUniforms, one per lane.
struct OpenUniform4 {
  __m256d u;           //!< (2m + 1) / 2^53
  __m256d complement;  //!< 1 - u, exact
};

//! open_uniform(high, low) per 64-bit lane, the two 32-bit words in the low halves of the
//! lanes of high and low (the high halves are ignored, as Philox4Lanes leaves them).
MIRAGE_AVX2_INLINE OpenUniform4 open_uniform_avx2(__m256i high, __m256i low) {
  const __m256i low32 = _mm256_set1_epi64x(0xffffffffll);
  const __m256i m = _mm256_or_si256(_mm256_slli_epi64(_mm256_and_si256(high, low32), 20),
                                    _mm256_srli_epi64(_mm256_and_si256(low, low32), 12));
  // m < 2^52: m exactly as a double from the bits of 2^52 + m; then u = m 2^-52 + 2^-53 and
  // 1 - u are exact (both are odd multiples of 2^-53 below 1), so they equal the scalar
  // (2m + 1) 2^-53 and (2^53 - 2m - 1) 2^-53 bit for bit.
  const __m256d two52 = _mm256_set1_pd(0x1p+52);
  const __m256d md =
      _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(m, _mm256_castpd_si256(two52))), two52);
  OpenUniform4 r;
  r.u = _mm256_add_pd(_mm256_mul_pd(md, _mm256_set1_pd(0x1p-52)), _mm256_set1_pd(0x1p-53));
  r.complement = _mm256_sub_pd(_mm256_set1_pd(1.0), r.u);
  return r;
}

//! item_logit_shift(family, a, b, u) per lane (family not DIFFICULTY_NONE). Kumaraswamy's
//! branches are computed on both sides for every lane (sharing exp's reduction and the log
//! kernel between them) and blended, so no branch depends on the lanes.
MIRAGE_AVX2_INLINE __m256d item_logit_shift_avx2(const ItemShiftParams& m, const OpenUniform4& u) {
  namespace v = pm::avx2;
  using v::detail::select;
  using v::detail::V;
  const V a = _mm256_set1_pd(m.a);
  switch (m.family) {
    case DIFFICULTY_NORMAL:
      return _mm256_mul_pd(a, v::normal_quantile(u.u, u.complement));
    case DIFFICULTY_LOGISTIC:
      return _mm256_mul_pd(a, _mm256_sub_pd(v::log(u.u), v::log(u.complement)));
    case DIFFICULTY_KUMARASWAMY: {
      // Each choice between log1p(-exp(y)) and log(-expm1(y)) shares exp's reduction between
      // the two sides and one log kernel (log1p_or_log), and is blended per lane.
      const V half_log = _mm256_set1_pd(-0.6931471805599453);
      const V log_t = _mm256_div_pd(v::log(u.complement), _mm256_set1_pd(m.b));
      // log(1 - t): log1p(-t) for log t < -ln 2, else log(-expm1(log t)).
      V e, em1;
      v::exp_and_expm1(log_t, e, em1);
      const V low_t = v::detail::lt(log_t, half_log);
      const V log_q =
          _mm256_div_pd(v::log1p_or_log(low_t, v::detail::neg(e), v::detail::neg(em1)), a);
      // log(1 - q): log1p(-q) for log q < -ln 2, log(-expm1(log q)) for -ln 2 <= log q < 0,
      // log t - log a where q rounds to 1.
      v::exp_and_expm1(log_q, e, em1);
      const V low_q = v::detail::lt(log_q, half_log);
      const V below_zero = v::detail::lt(log_q, _mm256_setzero_pd());
      const V log_1mq =
          select(below_zero, v::log1p_or_log(low_q, v::detail::neg(e), v::detail::neg(em1)),
                 _mm256_sub_pd(log_t, _mm256_set1_pd(m.log_a)));
      return _mm256_sub_pd(log_q, log_1mq);
    }
    default:
      return _mm256_setzero_pd();
  }
}

//! probability_threshold(p) per lane, as uint64 lanes (0 .. THRESHOLD_ONE).
MIRAGE_AVX2_INLINE __m256i probability_threshold_avx2(__m256d p) {
  const __m256d t = _mm256_mul_pd(p, _mm256_set1_pd(4294967296.0));
  const __m256d positive = _mm256_cmp_pd(t, _mm256_setzero_pd(), _CMP_GT_OQ);
  const __m256d one = _mm256_cmp_pd(t, _mm256_set1_pd(4294967296.0), _CMP_GE_OQ);
  // 0 < t < 2^32: floor(t) exactly, then its integer from the bits of floor(t) + 2^52.
  const __m256d two52 = _mm256_set1_pd(0x1p+52);
  const __m256d whole = _mm256_round_pd(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  __m256i r = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(whole, two52)),
                               _mm256_castpd_si256(two52));
  r = _mm256_and_si256(r, _mm256_castpd_si256(positive));
  return _mm256_blendv_epi8(r, _mm256_set1_epi64x(static_cast<int64_t>(THRESHOLD_ONE)),
                            _mm256_castpd_si256(one));
}

//! The item model of four items with difficulty uniforms u at a scale whose logit(p) is
//! scale_logit (family not DIFFICULTY_NONE): returns the token thresholds
//! probability_threshold(sigmoid(scale_logit + d)) as uint64 lanes and, when log_p is not
//! null, stores log_sigmoid(scale_logit + d) there: group_item_model's per-item results.
MIRAGE_AVX2_INLINE __m256i item_model_avx2(const ItemShiftParams& m, double scale_logit,
                                           const OpenUniform4& u, __m256d* log_p) {
  const __m256d x = _mm256_add_pd(_mm256_set1_pd(scale_logit), item_logit_shift_avx2(m, u));
  __m256d s;
  if (log_p != nullptr) {
    pm::avx2::sigmoid_and_log_sigmoid(x, s, *log_p);
  } else {
    s = pm::avx2::sigmoid(x);
  }
  return probability_threshold_avx2(s);
}

//! item_model_avx2 of four vectors of items at once (e.g. the four words of a set of four
//! groups): thresholds[w] and, when log_p is not null, log_p[w] for the items of u[w]. In two
//! phases, first every logit then every sigmoid, which keeps more independent work in flight
//! than four item_model_avx2 calls in a row (about 30% faster on Zen 4).
MIRAGE_AVX2_INLINE void item_model4_avx2(const ItemShiftParams& m, double scale_logit,
                                         const OpenUniform4 (&u)[ITEMS_PER_GROUP],
                                         __m256i (&thresholds)[ITEMS_PER_GROUP], __m256d* log_p) {
  const __m256d base = _mm256_set1_pd(scale_logit);
  __m256d x[ITEMS_PER_GROUP];
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    x[w] = _mm256_add_pd(base, item_logit_shift_avx2(m, u[w]));
  }
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    __m256d s;
    if (log_p != nullptr) {
      pm::avx2::sigmoid_and_log_sigmoid(x[w], s, log_p[w]);
    } else {
      s = pm::avx2::sigmoid(x[w]);
    }
    thresholds[w] = probability_threshold_avx2(s);
  }
}

//! The AVX2 twin of group_item_model(): the same thresholds and log p, bit for bit, for the
//! four items of one group (Philox by Random123, the math vectorized).
__attribute__((target("avx2"))) inline void group_item_model_avx2(
    const SweepSpec& spec, uint32_t replicate, uint32_t scale, uint32_t group,
    uint64_t (&thresholds)[ITEMS_PER_GROUP], double* log_p) {
  if (spec.difficulty == DIFFICULTY_NONE) {
    group_item_model(spec, replicate, scale, group, thresholds, log_p);
    return;
  }
  OpenUniform u[ITEMS_PER_GROUP];
  group_difficulty_uniforms(spec.seed, replicate, group, u);
  OpenUniform4 u4;
  u4.u = _mm256_setr_pd(u[0].u, u[1].u, u[2].u, u[3].u);
  u4.complement =
      _mm256_setr_pd(u[0].complement, u[1].complement, u[2].complement, u[3].complement);
  const ItemShiftParams m =
      item_shift_params(spec.difficulty, spec.difficulty_a, spec.difficulty_b);
  __m256d lp;
  const __m256i t = item_model_avx2(m, spec.scale_logit[scale], u4, log_p ? &lp : nullptr);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(thresholds), t);
  if (log_p != nullptr) _mm256_storeu_pd(log_p, lp);
}

// ---------------------------------------------------------------------------------------------
// Sets of four groups (word-major lanes).

//! The reserved streams of one replicate for sets of four groups: the Philox stream of
//! counters {group, *, 0, replicate} (difficulty and choice draws are scale 0), broadcast.
struct ItemStreamsAvx2 {
  PhiloxStreamPrefix prefix;
  PhiloxStreamAvx2 v;
};

//! The item streams of replicate r under `seed`.
__attribute__((target("avx2"))) inline ItemStreamsAvx2 item_streams_avx2(uint64_t seed,
                                                                         uint32_t replicate) {
  ItemStreamsAvx2 s;
  s.prefix = philox_stream_prefix(philox_key(seed), 0u, replicate);
  s.v = philox_stream_avx2(s.prefix);
  return s;
}

//! The group prefixes of groups g0..g0+3, one per lane (shared by every reserved stream).
MIRAGE_AVX2_INLINE PhiloxGroups4 item_groups_avx2(const ItemStreamsAvx2& s, uint32_t g0) {
  return philox_group_prefix_avx2(
      s.v, _mm256_add_epi64(_mm256_set1_epi64x(int64_t{g0}), _mm256_setr_epi64x(0, 1, 2, 3)));
}

//! Words of the calls {g0 + l, token | stream << 24, 0, r}, l = 0..3, one call per lane.
MIRAGE_AVX2_INLINE Philox4Lanes item_words_avx2(const ItemStreamsAvx2& s, const PhiloxGroups4& g,
                                                uint32_t token, uint32_t stream) {
  const PhiloxTokenPrefix t = philox_token_prefix(s.prefix, counter_token_word(token, stream));
  const PhiloxGroups4 gg[1] = {g};
  Philox4Lanes x[1];
  philox_finish_avx2<1>(s.v, gg, _mm256_set1_epi64x(t.hb_key), _mm256_set1_epi64x(t.lo_b), x);
  return x[0];
}

//! group_difficulty_uniforms of groups g0..g0+3: u[w] lane l is item 4 (g0 + l) + w.
MIRAGE_AVX2_INLINE void set_difficulty_uniforms_avx2(const ItemStreamsAvx2& s,
                                                     const PhiloxGroups4& g,
                                                     OpenUniform4 (&u)[ITEMS_PER_GROUP]) {
  const Philox4Lanes high = item_words_avx2(s, g, 0u, STREAM_DIFFICULTY);
  const Philox4Lanes low = item_words_avx2(s, g, 1u, STREAM_DIFFICULTY);
  u[0] = open_uniform_avx2(high.x0, low.x0);
  u[1] = open_uniform_avx2(high.x1, low.x1);
  u[2] = open_uniform_avx2(high.x2, low.x2);
  u[3] = open_uniform_avx2(high.x3, low.x3);
}

//! Four ChoiceSplits, one per lane.
struct ChoiceSplit4 {
  __m256d max_share;
  __m256d sum_sq_share;
};

//! group_choice_splits of groups g0..g0+3 among choices - 1 distractors: split[w] lane l is
//! item 4 (g0 + l) + w.
MIRAGE_AVX2_INLINE void set_choice_splits_avx2(const ItemStreamsAvx2& s, const PhiloxGroups4& g,
                                               int32_t choices,
                                               ChoiceSplit4 (&split)[ITEMS_PER_GROUP]) {
  const int32_t m = choices - 1;
  if (m <= 1) {
    for (auto& sp : split) sp = ChoiceSplit4{_mm256_set1_pd(1.0), _mm256_set1_pd(1.0)};
    return;
  }
  __m256d sum[ITEMS_PER_GROUP], sum_sq[ITEMS_PER_GROUP], largest[ITEMS_PER_GROUP];
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    sum[w] = sum_sq[w] = largest[w] = _mm256_setzero_pd();
  }
  const __m256i low32 = _mm256_set1_epi64x(0xffffffffll);
  const __m256d two52 = _mm256_set1_pd(0x1p+52);
  for (int32_t j = 0; j < m; ++j) {
    const Philox4Lanes x = item_words_avx2(s, g, static_cast<uint32_t>(j), STREAM_CHOICE);
    const __m256i words[ITEMS_PER_GROUP] = {x.x0, x.x1, x.x2, x.x3};
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      // 2 x + 1 < 2^33 for the word x, exactly as a double from the bits of 2^52 + 2 x + 1.
      const __m256i odd = _mm256_or_si256(_mm256_slli_epi64(_mm256_and_si256(words[w], low32), 1),
                                          _mm256_set1_epi64x(1));
      const __m256d n = _mm256_sub_pd(
          _mm256_castsi256_pd(_mm256_or_si256(odd, _mm256_castpd_si256(two52))), two52);
      const __m256d e =
          pm::avx2::detail::neg(pm::avx2::log(_mm256_mul_pd(n, _mm256_set1_pd(0x1p-33))));
      sum[w] = _mm256_add_pd(sum[w], e);
      sum_sq[w] = _mm256_add_pd(sum_sq[w], _mm256_mul_pd(e, e));
      largest[w] = _mm256_blendv_pd(largest[w], e, _mm256_cmp_pd(e, largest[w], _CMP_GT_OQ));
    }
  }
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    split[w].max_share = _mm256_div_pd(largest[w], sum[w]);
    split[w].sum_sq_share = _mm256_div_pd(sum_sq[w], _mm256_mul_pd(sum[w], sum[w]));
  }
}

//! Four ChoiceOutcomes, one per 64-bit lane.
struct ChoiceOutcome4 {
  __m256i grade;     //!< 1 or 0
  __m256i brier;     //!< round(Brier score / BRIER_UNIT)
  __m256i brier_sq;  //!< round(Brier score^2 / BRIER_UNIT)
};

//! brier_units(v) per lane for 0 <= v <= 4 (the truncation of v 2^26 + 1/2 < 2^31 to 32
//! bits, widened). Brier scores are never NaN (1 - q is in [0, 1] for every log p <= 0,
//! -inf included); a NaN would give -2^31 here where the scalar cast gives -2^63.
MIRAGE_AVX2_INLINE __m256i brier_units_avx2(__m256d v) {
  const __m256d x =
      _mm256_add_pd(_mm256_mul_pd(v, _mm256_set1_pd(BRIER_SCALE)), _mm256_set1_pd(0.5));
  return _mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(x));
}

//! The rest of choice_outcome per lane given q = exp(L log p) and miss = -expm1(L log p)
//! (for items that share log p, e.g. without difficulty, q and miss are computed once).
MIRAGE_AVX2_INLINE ChoiceOutcome4 choice_outcome_from_q_avx2(__m256d q, __m256d miss,
                                                             const ChoiceSplit4& split) {
  ChoiceOutcome4 out;
  const __m256d win = _mm256_cmp_pd(q, _mm256_mul_pd(miss, split.max_share), _CMP_GT_OQ);
  out.grade = _mm256_srli_epi64(_mm256_castpd_si256(win), 63);
  const __m256d brier = _mm256_mul_pd(_mm256_mul_pd(miss, miss),
                                      _mm256_add_pd(_mm256_set1_pd(1.0), split.sum_sq_share));
  out.brier = brier_units_avx2(brier);
  out.brier_sq = brier_units_avx2(_mm256_mul_pd(brier, brier));
  return out;
}

//! choice_outcome(log_p, length, split) per lane.
MIRAGE_AVX2_INLINE ChoiceOutcome4 choice_outcome_avx2(__m256d log_p, int32_t length,
                                                      const ChoiceSplit4& split) {
  const __m256d log_q = _mm256_mul_pd(_mm256_set1_pd(static_cast<double>(length)), log_p);
  __m256d q, em1;
  pm::avx2::exp_and_expm1(log_q, q, em1);
  return choice_outcome_from_q_avx2(q, pm::avx2::detail::neg(em1), split);
}

}  // namespace mirage

#endif  // MIRAGE_HAVE_AVX2_PATH && !__CUDACC__
