// Copyright (c) Mirage developers.
//! \file portable_math_avx2.h
//! AVX2 twins of portable_math.h: exp, expm1, log, log1p, normal_quantile(p, pc), sigmoid,
//! log_sigmoid and log1m_sigmoid on four doubles at once (__m256d), in namespace
//! mirage::pm::avx2, plus exp_and_expm1 and sigmoid_and_log_sigmoid, which share the work of
//! the pair. Each returns, lane by lane, exactly the bits of the scalar mirage::pm function for
//! that lane's input, NaN results included (the quiet NaN 0x7ff8000000000000).
//!
//! How: every lane performs exactly the sequence of IEEE basic operations that the scalar
//! function performs for its input. AVX2's packed add, sub, mul, div and sqrt are correctly
//! rounded (round to nearest even) like the scalar SSE2 instructions, no FMA intrinsic is used
//! and the project compiles with -ffp-contract=off, so the results are identical. Each branch
//! of the scalar code becomes either both sides computed and blended per lane (the blend
//! picks the side the scalar code takes for that lane: log_split's two mantissa ranges,
//! log_kernel's k == 0, expm1's k == 0, the special values), or a side computed only when
//! some lane takes it, the others' results discarded (the tails of the normal quantile). A
//! well-predicted check skips the special-value blends when every lane is an ordinary input.
//! Integer conversions are exact and done from the bits (k of the exp reduction read off the
//! rounding shift, double(k) through the 1.5 * 2^52 shift, 2^k built from bits), giving the
//! same values as the scalar casts.
//!
//! One case is left to the scalar code: exp with a subnormal result (x < -708.4, reduction
//! k <= -1022), whose single final rounding takes the rare path of exp_finish. Lanes that need
//! it are extracted, run through pm::exp and reinserted (a cold, out-of-line call); every other
//! input, special values included, stays vectorized.
//!
//! CPU only: functions are marked __attribute__((target("avx2"))) (the file builds without
//! -mavx2; callers check cpu_has_avx2() at run time and must themselves be AVX2 functions, as
//! these are always inlined). Not for nvcc: guarded like philox_batch.h by
//! MIRAGE_HAVE_AVX2_PATH. tests/test_portable_math_avx2.cpp checks bit equality with the
//! scalar functions over millions of inputs per function. Speed on one Zen 4 core, per double
//! (scalar / AVX2): exp 7.2 / 2.0 ns, log 10.9 / 3.1 ns, sigmoid 9.1 / 2.6 ns, normal
//! quantile of uniform p 10.4 / 5.0 ns (the tails' log is taken for a whole vector when any of
//! its lanes needs it).
#pragma once

#include <cstdint>

#include "mirage/philox_batch.h"  // MIRAGE_HAVE_AVX2_PATH, <immintrin.h>, cpu_has_avx2()
#include "mirage/portable_math.h"

#if MIRAGE_HAVE_AVX2_PATH && !defined(__CUDACC__)

//! Attributes of the AVX2 math functions: AVX2 code, always inlined into AVX2 callers.
#define MIRAGE_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

namespace mirage {
namespace pm {
namespace avx2 {

namespace detail {

using V = __m256d;
using I = __m256i;

//! The largest finite double.
constexpr double DBL_MAX_VALUE = 0x1.fffffffffffffp+1023;

// Thin wrappers, named as portable_math.h's primitives. Operand order is kept as in the scalar
// code throughout.
MIRAGE_AVX2_INLINE V set1(double x) {
  return _mm256_set1_pd(x);
}
MIRAGE_AVX2_INLINE I set1i(int64_t x) {
  return _mm256_set1_epi64x(x);
}
MIRAGE_AVX2_INLINE V add(V a, V b) {
  return _mm256_add_pd(a, b);
}
MIRAGE_AVX2_INLINE V sub(V a, V b) {
  return _mm256_sub_pd(a, b);
}
MIRAGE_AVX2_INLINE V mul(V a, V b) {
  return _mm256_mul_pd(a, b);
}
MIRAGE_AVX2_INLINE V div(V a, V b) {
  return _mm256_div_pd(a, b);
}
MIRAGE_AVX2_INLINE V sqrt(V a) {
  return _mm256_sqrt_pd(a);
}
//! -a (a sign flip, as the scalar unary minus).
MIRAGE_AVX2_INLINE V neg(V a) {
  return _mm256_xor_pd(a, set1(-0.0));
}
//! mask ? b : a, per lane (mask lanes all ones or all zeros).
MIRAGE_AVX2_INLINE V select(V mask, V b, V a) {
  return _mm256_blendv_pd(a, b, mask);
}
MIRAGE_AVX2_INLINE I selecti(I mask, I b, I a) {
  return _mm256_blendv_epi8(a, b, mask);
}
MIRAGE_AVX2_INLINE V cast(I a) {
  return _mm256_castsi256_pd(a);
}
MIRAGE_AVX2_INLINE I casti(V a) {
  return _mm256_castpd_si256(a);
}
MIRAGE_AVX2_INLINE V mask_and(V a, V b) {
  return _mm256_and_pd(a, b);
}
MIRAGE_AVX2_INLINE V mask_or(V a, V b) {
  return _mm256_or_pd(a, b);
}
//! a & ~b.
MIRAGE_AVX2_INLINE V mask_andnot(V a, V b) {
  return _mm256_andnot_pd(b, a);
}
// Comparisons with the scalar semantics (ordered: false if either side is NaN).
MIRAGE_AVX2_INLINE V lt(V a, V b) {
  return _mm256_cmp_pd(a, b, _CMP_LT_OQ);
}
MIRAGE_AVX2_INLINE V le(V a, V b) {
  return _mm256_cmp_pd(a, b, _CMP_LE_OQ);
}
MIRAGE_AVX2_INLINE V gt(V a, V b) {
  return _mm256_cmp_pd(a, b, _CMP_GT_OQ);
}
MIRAGE_AVX2_INLINE V ge(V a, V b) {
  return _mm256_cmp_pd(a, b, _CMP_GE_OQ);
}
MIRAGE_AVX2_INLINE V eq(V a, V b) {
  return _mm256_cmp_pd(a, b, _CMP_EQ_OQ);
}
MIRAGE_AVX2_INLINE V is_nan(V a) {
  return _mm256_cmp_pd(a, a, _CMP_UNORD_Q);
}
MIRAGE_AVX2_INLINE int lanes(V mask) {
  return _mm256_movemask_pd(mask);
}
MIRAGE_AVX2_INLINE V quiet_nan() {
  return cast(set1i(0x7ff8000000000000ll));
}
MIRAGE_AVX2_INLINE V infinity() {
  return cast(set1i(0x7ff0000000000000ll));
}

//! The double value of each int64 lane k, |k| < 2^51 (exact, as static_cast<double>(k)).
MIRAGE_AVX2_INLINE V to_double(I k) {
  const I shift = set1i(0x4338000000000000ll);  // bits of 1.5 * 2^52
  return sub(cast(_mm256_add_epi64(k, shift)), set1(0x1.8p+52));
}

//! 2^k for -1022 <= k <= 1023 per int64 lane, from bits.
MIRAGE_AVX2_INLINE V pow2(I k) {
  return cast(_mm256_slli_epi64(_mm256_add_epi64(k, set1i(1023)), 52));
}

MIRAGE_AVX2_INLINE void two_sum(V a, V b, V& s, V& e) {
  s = add(a, b);
  const V bb = sub(s, a);
  e = add(sub(a, sub(s, bb)), sub(b, bb));
}

MIRAGE_AVX2_INLINE void fast_two_sum(V a, V b, V& s, V& e) {
  s = add(a, b);
  e = sub(b, sub(s, a));
}

MIRAGE_AVX2_INLINE void two_square(V a, V& p, V& e) {
  const V splitter = set1(pm::detail::SPLITTER);
  const V t = mul(splitter, a);
  const V ah = sub(t, sub(t, a));
  const V al = sub(a, ah);
  p = mul(a, a);
  e = add(add(sub(mul(ah, ah), p), mul(add(ah, ah), al)), mul(al, al));
}

MIRAGE_AVX2_INLINE void two_prod(V a, V b, V& p, V& e) {
  const V splitter = set1(pm::detail::SPLITTER);
  const V ta = mul(splitter, a);
  const V ah = sub(ta, sub(ta, a));
  const V al = sub(a, ah);
  const V tb = mul(splitter, b);
  const V bh = sub(tb, sub(tb, b));
  const V bl = sub(b, bh);
  p = mul(a, b);
  e = add(add(add(sub(mul(ah, bh), p), mul(ah, bl)), mul(al, bh)), mul(al, bl));
}

//! pm::detail::exp_reduce, with k as int64 lanes: read off the bits of x / ln 2 + 1.5 * 2^52
//! (which lies in [2^52, 2^53) for |x| < 2^50, where its last bit has weight 1). Lanes with
//! |x| >= 746 get garbage; callers discard them.
MIRAGE_AVX2_INLINE void exp_reduce(V x, I& k, V& r, V& c) {
  using pm::detail::INV_LN2;
  using pm::detail::LN2_HI;
  using pm::detail::LN2_LO;
  using pm::detail::ROUND_SHIFT;
  const V t = add(mul(x, set1(INV_LN2)), set1(ROUND_SHIFT));
  const V kd = sub(t, set1(ROUND_SHIFT));
  k = _mm256_sub_epi64(casti(t), casti(set1(ROUND_SHIFT)));
  const V hi = sub(x, mul(kd, set1(LN2_HI)));
  const V lo = mul(kd, set1(LN2_LO));
  two_sum(hi, neg(lo), r, c);
}

MIRAGE_AVX2_INLINE V exp_q3(V r) {
  const V r2 = mul(r, r);
  const V r4 = mul(r2, r2);
  const V r8 = mul(r4, r4);
  const V a0 = add(set1(0x1.5555555555555p-5), mul(r, set1(0x1.1111111111111p-7)));
  const V a1 = add(set1(0x1.6c16c16c16c17p-10), mul(r, set1(0x1.a01a01a01a01ap-13)));
  const V a2 = add(set1(0x1.a01a01a01a01ap-16), mul(r, set1(0x1.71de3a556c734p-19)));
  const V a3 = add(set1(0x1.27e4fb7789f5cp-22), mul(r, set1(0x1.ae64567f544e4p-26)));
  const V a4 = add(set1(0x1.1eed8eff8d898p-29), mul(r, set1(0x1.6124613a86d09p-33)));
  const V b0 = add(a0, mul(a1, r2));
  const V b1 = add(a2, mul(a3, r2));
  const V b2 = add(a4, mul(set1(0x1.93974a8c07c9dp-37), r2));
  const V u = add(add(b0, mul(b1, r4)), mul(b2, r8));
  return add(set1(0x1.5555555555555p-3), mul(r, u));
}

MIRAGE_AVX2_INLINE V log_r(V z) {
  const V z2 = mul(z, z);
  const V z4 = mul(z2, z2);
  const V z8 = mul(z4, z4);
  const V a0 = add(set1(0x1.5555555555555p-1), mul(z, set1(0x1.999999999999ap-2)));
  const V a1 = add(set1(0x1.2492492492492p-2), mul(z, set1(0x1.c71c71c71c71cp-3)));
  const V a2 = add(set1(0x1.745d1745d1746p-3), mul(z, set1(0x1.3b13b13b13b14p-3)));
  const V a3 = add(set1(0x1.1111111111111p-3), mul(z, set1(0x1.e1e1e1e1e1e1ep-4)));
  const V a4 = add(set1(0x1.af286bca1af28p-4), mul(z, set1(0x1.8618618618618p-4)));
  const V b0 = add(a0, mul(a1, z2));
  const V b1 = add(a2, mul(a3, z2));
  const V p = add(add(b0, mul(b1, z4)), mul(a4, z8));
  return mul(p, z);
}

//! pm::detail::log_kernel per lane (k as int64 lanes): both of its cases (k == 0 and not)
//! computed and blended.
MIRAGE_AVX2_INLINE V log_kernel(I k, V f, V cx) {
  using pm::detail::LN2_HI;
  using pm::detail::LN2_LO;
  V dh, dl;
  fast_two_sum(set1(2.0), f, dh, dl);
  const V inv = div(set1(1.0), dh);
  const V sh = mul(f, inv);
  V ph, pl;
  two_prod(sh, dh, ph, pl);
  const V sl = mul(sub(sub(sub(f, ph), pl), mul(sh, dl)), inv);
  const V rz = log_r(mul(sh, sh));
  const V sr = add(mul(sh, rz), mul(sl, mul(set1(3.0), rz)));
  const V dk = to_double(k);
  const V tail = add(add(add(sl, sl), sr), add(mul(dk, set1(LN2_LO)), cx));
  const V s2 = add(sh, sh);
  const V zero_k = add(s2, tail);
  V kh, kl;
  fast_two_sum(mul(dk, set1(LN2_HI)), s2, kh, kl);
  const V other_k = add(kh, add(kl, tail));
  return select(cast(_mm256_cmpeq_epi64(k, _mm256_setzero_si256())), zero_k, other_k);
}

//! pm::detail::log_split per lane for positive normal x (other lanes: garbage).
MIRAGE_AVX2_INLINE V log_split(V x, I& k) {
  const I b = casti(x);
  const I mant = _mm256_and_si256(b, set1i(0x000fffffffffffffll));
  const I e = _mm256_sub_epi64(_mm256_srli_epi64(b, 52), set1i(1023));
  // mant >= 0x6a09e667f3bcd (both sides below 2^52, so the signed comparison is fine).
  const I big = _mm256_cmpgt_epi64(mant, set1i(0x6a09e667f3bccll));
  k = _mm256_sub_epi64(e, big);  // big lanes are -1: k + 1
  const I expo =
      _mm256_sub_epi64(set1i(int64_t{1023} << 52), _mm256_and_si256(big, set1i(int64_t{1} << 52)));
  return sub(cast(_mm256_or_si256(mant, expo)), set1(1.0));
}

//! The coefficients c0..c7 of one AS 241 polynomial, broadcast.
struct Poly7 {
  V c[8];
};

MIRAGE_AVX2_INLINE Poly7 poly_const(double c0, double c1, double c2, double c3, double c4,
                                    double c5, double c6, double c7) {
  return Poly7{{set1(c0), set1(c1), set1(c2), set1(c3), set1(c4), set1(c5), set1(c6), set1(c7)}};
}

//! Per lane, the coefficients of `a` where mask is set, else those of `b`.
MIRAGE_AVX2_INLINE Poly7 poly_select(V mask, const Poly7& a, const Poly7& b) {
  Poly7 p;
  for (int i = 0; i < 8; ++i) p.c[i] = select(mask, a.c[i], b.c[i]);
  return p;
}

//! pm::detail::poly7 (Horner, highest first) with per-lane coefficients.
MIRAGE_AVX2_INLINE V poly7(V x, const Poly7& p) {
  V r = p.c[7];
  for (int i = 6; i >= 0; --i) r = add(mul(r, x), p.c[i]);
  return r;
}

// The six polynomials of AS 241 (pm::detail::normal_quantile_core): numerator and denominator
// of the central region, the tail with r <= 5 and the far tail.
MIRAGE_AVX2_INLINE Poly7 central_num() {
  return poly_const(0x1.b18d91e9eef75p+1, 0x1.0a4888b1a436ep+7, 0x1.ece5d2213c0ccp+10,
                    0x1.ad1d8cd4ee71dp+13, 0x1.66c3e869b752ap+15, 0x1.06c1c55b78f20p+16,
                    0x1.052d26b2e45e4p+15, 0x1.39a296f7d925ep+11);
}
MIRAGE_AVX2_INLINE Poly7 central_den() {
  return poly_const(1.0, 0x1.5281b386e1ab5p+5, 0x1.5797efdc8b3f7p+9, 0x1.512322e75c89fp+12,
                    0x1.4b772d5d65266p+14, 0x1.3317caa64f4bep+15, 0x1.c0e457cb1ae76p+14,
                    0x1.46a7eca984b69p+12);
}
MIRAGE_AVX2_INLINE Poly7 tail_num() {
  return poly_const(0x1.6c665fde9526ap+0, 0x1.2857748cab19bp+2, 0x1.713f71462256ap+2,
                    0x1.d2ecb1a3d02c4p+1, 0x1.453cc085375b2p+0, 0x1.ef2abb9b85c37p-3,
                    0x1.744eb6c45ec67p-6, 0x1.9615ac0b7ace9p-11);
}
MIRAGE_AVX2_INLINE Poly7 tail_den() {
  return poly_const(1.0, 0x1.06cefbb46a449p+1, 0x1.ad278e6526633p+0, 0x1.61292f23385c9p-1,
                    0x1.2f5123394f040p-3, 0x1.f207a7eab17bfp-7, 0x1.1f18cbfdf2728p-11,
                    0x1.20d3f686439e4p-30);
}
MIRAGE_AVX2_INLINE Poly7 far_num() {
  return poly_const(0x1.aa1b1c13ee526p+2, 0x1.5daea6e875003p+2, 0x1.c8ea6461fa445p+0,
                    0x1.2fad9315255cfp-2, 0x1.b2b41193b4ee7p-6, 0x1.45c1908425345p-10,
                    0x1.c6ec6cc59e02ap-16, 0x1.afb74d693bf93p-23);
}
MIRAGE_AVX2_INLINE Poly7 far_den() {
  return poly_const(1.0, 0x1.331d34fc7d77fp-1, 0x1.186eb183443fbp-3, 0x1.e76f93215462ap-7,
                    0x1.9c8bc979dc5d7p-11, 0x1.35c2c496374bfp-16, 0x1.31446f740b9e0p-23,
                    0x1.269bff1f8c190p-49);
}

//! Lanes of `mask` (bit l: lane l) of r replaced by pm::exp of the lanes of x: exp's
//! subnormal results, which take exp_finish's rare path. Out of line and cold.
__attribute__((noinline, cold)) inline void exp_scalar_lanes(const double* x, double* r, int mask) {
  for (int l = 0; l < 4; ++l) {
    if ((mask >> l) & 1) r[l] = pm::exp(x[l]);
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Exponential and logarithm.

namespace detail {

//! pm::exp after the reduction x = k ln2 + r + c, with q3 = exp_q3(r).
MIRAGE_AVX2_INLINE V exp_reduced(V x, I k, V r, V c, V q3) {
  const V p = mul(mul(r, r), add(set1(0.5), mul(r, q3)));
  V sh, sl;
  fast_two_sum(set1(1.0), r, sh, sl);
  const V tail = add(sl, add(p, add(c, mul(c, r))));
  // exp_finish for k >= -1021: scale_normal(hi + lo, k), which for k = 1024 scales by 2^1023
  // first.
  V y = add(sh, tail);
  const I big = _mm256_cmpgt_epi64(k, set1i(1023));
  y = select(cast(big), mul(y, set1(0x1p+1023)), y);
  const I ks = _mm256_sub_epi64(k, _mm256_and_si256(big, set1i(1023)));
  V res = mul(y, pow2(ks));
  // The common case, every lane with -708 <= x <= 709 (so -1021 <= k <= 1023, a normal
  // result, no special value): nothing else applies.
  if (__builtin_expect(lanes(mask_and(ge(x, set1(-708.0)), le(x, set1(709.0)))) == 0xF, 1)) {
    return res;
  }
  const V over = gt(x, set1(pm::detail::EXP_MAX_ARG));
  const V under = lt(x, set1(pm::detail::EXP_MIN_ARG));
  const V nan = is_nan(x);
  res = select(over, infinity(), res);
  res = select(under, _mm256_setzero_pd(), res);
  res = select(nan, quiet_nan(), res);
  // k <= -1022 in range: a (nearly) subnormal result, left to the scalar code.
  const V regular =
      mask_and(ge(x, set1(pm::detail::EXP_MIN_ARG)), le(x, set1(pm::detail::EXP_MAX_ARG)));
  const int tiny = lanes(mask_and(regular, cast(_mm256_cmpgt_epi64(set1i(-1021), k))));
  if (__builtin_expect(tiny != 0, 0)) {
    alignas(32) double xs[4], rs[4];
    _mm256_store_pd(xs, x);
    _mm256_store_pd(rs, res);
    exp_scalar_lanes(xs, rs, tiny);
    res = _mm256_load_pd(rs);
  }
  return res;
}

//! pm::expm1 after the reduction x = k ln2 + r + c, with q3 = exp_q3(r).
MIRAGE_AVX2_INLINE V expm1_reduced(V x, I k, V r, V c, V q3) {
  V r2h, r2l;
  two_square(r, r2h, r2l);
  V eh, elo;
  two_sum(r, mul(r2h, set1(0.5)), eh, elo);
  const V r3q = mul(mul(r2h, r), q3);
  const V el = add(elo, add(add(mul(r2l, set1(0.5)), r3q), add(c, mul(c, r))));
  const V res_k0 = add(eh, el);
  V sh, sl;
  fast_two_sum(set1(1.0), eh, sh, sl);
  const V lo = add(sl, el);
  const V sc = pow2(k);
  V th, tl;
  two_sum(mul(sh, sc), set1(-1.0), th, tl);
  const V res_k = add(th, add(tl, mul(lo, sc)));
  V res = select(cast(_mm256_cmpeq_epi64(k, _mm256_setzero_si256())), res_k0, res_k);
  const V small = mask_and(gt(x, set1(-0x1p-54)), lt(x, set1(0x1p-54)));
  res = select(small, x, res);
  // The common case, every lane with -40 <= x <= 709 (so k <= 1023, no special value).
  if (__builtin_expect(lanes(mask_and(ge(x, set1(-40.0)), le(x, set1(709.0)))) == 0xF, 1)) {
    return res;
  }
  // k = 1024 (x > 709.43): scale_normal(s.hi + lo, 1024).
  const V res_big = mul(mul(add(sh, lo), set1(0x1p+1023)), set1(2.0));
  res = select(mask_andnot(cast(_mm256_cmpgt_epi64(k, set1i(1023))), small), res_big, res);
  res = select(lt(x, set1(-40.0)), set1(-1.0), res);
  res = select(gt(x, set1(pm::detail::EXP_MAX_ARG)), infinity(), res);
  return select(is_nan(x), quiet_nan(), res);
}

}  // namespace detail

//! pm::exp per lane.
MIRAGE_AVX2_INLINE __m256d exp(__m256d x) {
  using namespace detail;
  I k;
  V r, c;
  exp_reduce(x, k, r, c);
  return exp_reduced(x, k, r, c, exp_q3(r));
}

//! pm::expm1 per lane.
MIRAGE_AVX2_INLINE __m256d expm1(__m256d x) {
  using namespace detail;
  I k;
  V r, c;
  exp_reduce(x, k, r, c);
  return expm1_reduced(x, k, r, c, exp_q3(r));
}

//! pm::exp and pm::expm1 of the same x per lane, sharing their reduction and polynomial.
MIRAGE_AVX2_INLINE void exp_and_expm1(__m256d x, __m256d& e, __m256d& em1) {
  using namespace detail;
  I k;
  V r, c;
  exp_reduce(x, k, r, c);
  const V q3 = exp_q3(r);
  e = exp_reduced(x, k, r, c, q3);
  em1 = expm1_reduced(x, k, r, c, q3);
}

namespace detail {

//! pm::log's reduction to log_kernel(k, f, 0) for positive x (other lanes: garbage):
//! subnormal x rescaled by 2^54 first.
MIRAGE_AVX2_INLINE V log_prepare(V x, I& k) {
  const V subnormal = lt(x, set1(0x1p-1022));
  const V xs = select(subnormal, mul(x, set1(0x1p+54)), x);
  const V f = log_split(xs, k);
  k = _mm256_add_epi64(k, _mm256_and_si256(casti(subnormal), set1i(-54)));
  return f;
}

//! pm::log's special values, over its kernel's result res.
MIRAGE_AVX2_INLINE V log_specials(V x, V res) {
  res = select(eq(x, infinity()), x, res);
  res = select(lt(x, _mm256_setzero_pd()), quiet_nan(), res);
  res = select(eq(x, _mm256_setzero_pd()), neg(infinity()), res);
  return select(is_nan(x), quiet_nan(), res);
}

//! Lanes where pm::log takes no special case: positive normal finite x.
MIRAGE_AVX2_INLINE V log_ordinary(V x) {
  return mask_and(ge(x, set1(0x1p-1022)), le(x, set1(DBL_MAX_VALUE)));
}

//! pm::log1p's reduction to log_kernel(k, f, cx) for x > -1 (other lanes: garbage): on
//! [RN(sqrt(1/2) - 1), RN(sqrt(2) - 1)) the kernel on x itself (k = 0, cx = 0), elsewhere
//! 1 + x = u.hi + u.lo split from the bits, cx = u.lo / u.hi.
MIRAGE_AVX2_INLINE V log1p_prepare(V x, I& k, V& cx) {
  const V direct = mask_and(ge(x, set1(-0x1.2bec333018867p-2)), lt(x, set1(0x1.a827999fcef32p-2)));
  V uh, ul;
  two_sum(set1(1.0), x, uh, ul);
  const V f = log_split(uh, k);
  cx = select(direct, _mm256_setzero_pd(), div(ul, uh));
  k = _mm256_andnot_si256(casti(direct), k);
  return select(direct, x, f);
}

//! Lanes where pm::log1p returns x itself: |x| < 2^-54.
MIRAGE_AVX2_INLINE V log1p_small(V x) {
  return mask_and(gt(x, set1(-0x1p-54)), lt(x, set1(0x1p-54)));
}

//! pm::log1p's special values other than the small x, over its kernel's result res.
MIRAGE_AVX2_INLINE V log1p_specials(V x, V res) {
  res = select(eq(x, infinity()), x, res);
  res = select(lt(x, set1(-1.0)), quiet_nan(), res);
  res = select(eq(x, set1(-1.0)), neg(infinity()), res);
  return select(is_nan(x), quiet_nan(), res);
}

//! Lanes where pm::log1p takes no special case other than the small x: -1 < x <= DBL_MAX.
MIRAGE_AVX2_INLINE V log1p_ordinary(V x) {
  return mask_and(gt(x, set1(-1.0)), le(x, set1(DBL_MAX_VALUE)));
}

}  // namespace detail

//! pm::log per lane.
MIRAGE_AVX2_INLINE __m256d log(__m256d x) {
  using namespace detail;
  // The common case, every lane a positive normal finite x: the kernel alone.
  if (__builtin_expect(lanes(log_ordinary(x)) == 0xF, 1)) {
    I k;
    const V f = log_split(x, k);
    return log_kernel(k, f, _mm256_setzero_pd());
  }
  I k;
  const V f = log_prepare(x, k);
  return log_specials(x, log_kernel(k, f, _mm256_setzero_pd()));
}

//! pm::log1p per lane.
MIRAGE_AVX2_INLINE __m256d log1p(__m256d x) {
  using namespace detail;
  I k;
  V cx;
  const V f = log1p_prepare(x, k, cx);
  const V res = select(log1p_small(x), x, log_kernel(k, f, cx));
  // The common case, every lane with -1 < x <= DBL_MAX: no other special value.
  if (__builtin_expect(lanes(log1p_ordinary(x)) == 0xF, 1)) return res;
  return log1p_specials(x, res);
}

//! Per lane, pm::log1p(a) where use_log1p is set, else pm::log(b): one log kernel for both
//! (the two functions differ only in how they reduce their argument to it), for callers that
//! pick one of the two per lane (the Kumaraswamy shift).
MIRAGE_AVX2_INLINE __m256d log1p_or_log(__m256d use_log1p, __m256d a, __m256d b) {
  using namespace detail;
  I ka, kb;
  V cxa;
  const V fa = log1p_prepare(a, ka, cxa);
  const V fb = log_prepare(b, kb);
  const I k = selecti(casti(use_log1p), ka, kb);
  const V f = select(use_log1p, fa, fb);
  const V cx = select(use_log1p, cxa, _mm256_setzero_pd());
  V res = log_kernel(k, f, cx);
  res = select(mask_and(use_log1p, log1p_small(a)), a, res);
  const V ordinary = select(use_log1p, log1p_ordinary(a), log_ordinary(b));
  if (__builtin_expect(lanes(ordinary) == 0xF, 1)) return res;
  return select(use_log1p, log1p_specials(a, res), log_specials(b, res));
}

// ---------------------------------------------------------------------------------------------
// Standard normal quantile.

//! pm::normal_quantile(p, pc) per lane (p + pc == 1 exactly in every lane that matters).
//! The central rational function is always evaluated; the tails (log, sqrt) only when some
//! lane is in a tail, and then one evaluation serves every lane, each with its own region's
//! argument and coefficients (the same operations: the central q * num becomes 1 * num,
//! which is exact, for tail lanes).
MIRAGE_AVX2_INLINE __m256d normal_quantile(__m256d p, __m256d pc) {
  using namespace detail;
  const V zero = _mm256_setzero_pd();
  const V one = set1(1.0);
  const V half = set1(0.5);
  const V upper = ge(p, half);
  const V q = select(upper, sub(p, half), sub(half, pc));
  const V t = select(upper, pc, p);
  // normal_quantile_core(q, t).
  const V aq = _mm256_andnot_pd(set1(-0.0), q);
  const V central = le(aq, set1(0x1.b333333333333p-2));  // 0.425
  const V rc = sub(set1(0x1.71eb851eb851fp-3), mul(q, q));
  V res;
  if (__builtin_expect(lanes(central) == 0xF, 1)) {
    res = div(mul(q, poly7(rc, central_num())), poly7(rc, central_den()));
  } else {
    const V r = sqrt(neg(log(t)));
    const V far = _mm256_cmp_pd(r, set1(5.0), _CMP_NLE_UQ);  // !(r <= 5)
    const V rt = sub(r, select(far, set1(5.0), set1(0x1.999999999999ap+0)));
    const V x = select(central, rc, rt);
    Poly7 num, den;
    if (__builtin_expect(lanes(mask_andnot(far, central)) == 0, 1)) {
      num = poly_select(central, central_num(), tail_num());
      den = poly_select(central, central_den(), tail_den());
    } else {
      num = poly_select(central, central_num(), poly_select(far, far_num(), tail_num()));
      den = poly_select(central, central_den(), poly_select(far, far_den(), tail_den()));
    }
    const V v = div(mul(select(central, q, one), poly7(x, num)), poly7(x, den));
    res = select(mask_andnot(lt(q, zero), central), neg(v), v);
  }
  res = select(eq(pc, zero), infinity(), res);
  res = select(eq(p, zero), neg(infinity()), res);
  const V valid = mask_and(mask_and(ge(p, zero), le(p, one)), mask_and(ge(pc, zero), le(pc, one)));
  return select(valid, res, quiet_nan());
}

// ---------------------------------------------------------------------------------------------
// Logistic helpers.

//! pm::sigmoid and pm::log_sigmoid of the same x per lane, sharing their exponential (both
//! compute e^-|x|: e^-x for x >= 0, e^x for x < 0).
MIRAGE_AVX2_INLINE void sigmoid_and_log_sigmoid(__m256d x, __m256d& s, __m256d& ls) {
  using namespace detail;
  const V one = set1(1.0);
  const V nonneg = ge(x, _mm256_setzero_pd());
  const V e = exp(select(nonneg, neg(x), x));
  s = div(select(nonneg, one, e), add(one, e));
  ls = sub(select(nonneg, _mm256_setzero_pd(), x), log1p(e));
  const V nan = is_nan(x);
  s = select(nan, quiet_nan(), s);
  ls = select(nan, quiet_nan(), ls);
}

//! pm::sigmoid per lane.
MIRAGE_AVX2_INLINE __m256d sigmoid(__m256d x) {
  using namespace detail;
  const V one = set1(1.0);
  const V nonneg = ge(x, _mm256_setzero_pd());
  const V e = exp(select(nonneg, neg(x), x));
  const V s = div(select(nonneg, one, e), add(one, e));
  return select(is_nan(x), quiet_nan(), s);
}

//! pm::log_sigmoid per lane.
MIRAGE_AVX2_INLINE __m256d log_sigmoid(__m256d x) {
  using namespace detail;
  const V nonneg = ge(x, _mm256_setzero_pd());
  const V e = exp(select(nonneg, neg(x), x));
  const V ls = sub(select(nonneg, _mm256_setzero_pd(), x), log1p(e));
  return select(is_nan(x), quiet_nan(), ls);
}

//! pm::log1m_sigmoid per lane.
MIRAGE_AVX2_INLINE __m256d log1m_sigmoid(__m256d x) {
  return log_sigmoid(detail::neg(x));
}

}  // namespace avx2
}  // namespace pm
}  // namespace mirage

#endif  // MIRAGE_HAVE_AVX2_PATH && !__CUDACC__
