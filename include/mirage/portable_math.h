// Copyright (c) Mirage developers.
//! \file portable_math.h
//! Portable double-precision math that gives the same bits on the CPU (g++) and the GPU
//! (nvcc): exp, expm1, log, log1p, the standard normal quantile and logistic helpers, all in
//! namespace mirage::pm.
//!
//! Why: per-item probabilities are computed from per-item uniforms on both backends, and the
//! two must agree bit for bit. libm and the CUDA math library are accurate but not identical in
//! the last bit, and a compiler that contracts a*b+c into one fused multiply-add changes
//! results too. So every function here is built from
//!   - the IEEE-754 basic operations +, -, *, /, sqrt (correctly rounded, round to nearest
//!     even), each through the wrappers pm::add, sub, mul, div, sqrt: on the device the
//!     __dadd_rn etc. intrinsics, which nvcc never fuses; on the host the plain operators,
//!     which must be compiled with -ffp-contract=off (the mirage_core target sets it for every
//!     consumer; GCC's ISO mode -std=c++17 has it off by default as well),
//!   - comparisons, exact conversions between int and double, and integer bit manipulation
//!     (pm::to_bits / pm::from_bits),
//! evaluated in one fixed order, with every constant an exact hexadecimal literal (or a
//! decimal that rounds to the intended double). No lookup tables, no globals.
//! Callers that do their own floating-point arithmetic on the values (e.g. logit + sigma * z)
//! must use the same wrappers, or device code may fuse it.
//!
//! Every NaN result is the quiet NaN 0x7ff8000000000000 (hardware NaN payloads differ between
//! x86 and CUDA), so even NaN outputs agree bit for bit.
//!
//! Errors: each function states a bound, which tests/test_portable_math.cpp asserts, and the
//! maxima MEASURED against long double libm / Boost.Math references (themselves checked against
//! 50-digit arithmetic): "test" over the test's input sets (dense sweeps of the whole domain,
//! the reduction boundaries and thresholds, plus 200000 fixed-seed random points per
//! function), "extra" over a further 10^7 .. 4 * 10^7 random points per function run once
//! during development. ulp = spacing of doubles at the exact result (2^-1074 below 2^-1022).
//! Sources: Cody & Waite, "Software Manual for the Elementary Functions" (1980) for the
//! additive range reductions with a two-part ln 2 and the log's s = (m - 1) / (m + 1) form;
//! Dekker (1971) / Knuth for the error-free TwoSum and TwoProduct (Veltkamp splitting, no FMA);
//! Wichura, "Algorithm AS 241: The Percentage Points of the Normal Distribution", Applied
//! Statistics 37(3), 477-484 (1988) for the quantile. No tables (no Tang 1989). Polynomial
//! coefficients are Taylor coefficients (1/n!, 2/(2j+1)), not minimax fits.
//! Cost on x86-64 (g++ -O2): roughly 2-3x the glibc function (exp ~15 ns, log ~20 ns).
#pragma once

#include <cstdint>
#include <cstring>

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

#include "mirage/macros.h"

#if !defined(__CUDA_ARCH__) && defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "portable_math.h needs double arithmetic without excess precision (e.g. SSE2, not x87)"
#endif

namespace mirage {
namespace pm {

// ---------------------------------------------------------------------------------------------
// Primitives: the only floating-point arithmetic used below.

//! a + b, correctly rounded, never fused.
MIRAGE_HD inline double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

//! a - b, correctly rounded, never fused.
MIRAGE_HD inline double sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

//! a * b, correctly rounded, never fused.
MIRAGE_HD inline double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

//! a / b, correctly rounded.
MIRAGE_HD inline double div(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

//! sqrt(a), correctly rounded (IEEE requires it on both sides).
MIRAGE_HD inline double sqrt(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

//! The IEEE-754 bit pattern of x.
MIRAGE_HD inline uint64_t to_bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
#endif
}

//! The double with bit pattern b.
MIRAGE_HD inline double from_bits(uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(b));
#else
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
#endif
}

//! The quiet NaN every function returns for a NaN result.
MIRAGE_HD inline double quiet_nan() {
  return from_bits(0x7ff8000000000000ull);
}
//! +infinity.
MIRAGE_HD inline double infinity() {
  return from_bits(0x7ff0000000000000ull);
}
//! Whether x is a NaN (by its bits, so it holds under any compiler flags).
MIRAGE_HD inline bool is_nan(double x) {
  return (to_bits(x) & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
}

namespace detail {

// ln 2 split for Cody-Waite reduction: LN2_HI has 32 significant bits, so k * LN2_HI is exact
// for |k| < 2^21; LN2_LO = RN(ln 2 - LN2_HI).
constexpr double LN2_HI = 0x1.62e42feep-1;
constexpr double LN2_LO = 0x1.a39ef35793c76p-33;
constexpr double INV_LN2 = 0x1.71547652b82fep+0;  // RN(1 / ln 2)
// Adding then subtracting 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer
// (round to nearest even).
constexpr double ROUND_SHIFT = 0x1.8p+52;
// Largest x with exp(x) finite, and smallest x with exp(x) > 0 (checked in the test).
constexpr double EXP_MAX_ARG = 0x1.62e42fefa39efp+9;   //  709.782712893383973...
constexpr double EXP_MIN_ARG = -0x1.74910d52d3051p+9;  // -745.133219101941108...
// Veltkamp splitting constant 2^27 + 1.
constexpr double SPLITTER = 134217729.0;

//! An unevaluated sum hi + lo.
struct DD {
  double hi;
  double lo;
};

//! Knuth's TwoSum: s + e == a + b exactly (6 operations, no ordering precondition).
MIRAGE_HD inline DD two_sum(double a, double b) {
  const double s = add(a, b);
  const double bb = sub(s, a);
  const double e = add(sub(a, sub(s, bb)), sub(b, bb));
  return {s, e};
}

//! Dekker's Fast2Sum: s + e == a + b exactly when |a| >= |b| (or a == 0).
MIRAGE_HD inline DD fast_two_sum(double a, double b) {
  const double s = add(a, b);
  const double e = sub(b, sub(s, a));
  return {s, e};
}

//! Dekker's TwoProduct with Veltkamp splitting (no FMA): p + e == a * a exactly, barring
//! overflow or underflow.
MIRAGE_HD inline DD two_square(double a) {
  const double t = mul(SPLITTER, a);
  const double ah = sub(t, sub(t, a));
  const double al = sub(a, ah);
  const double p = mul(a, a);
  const double e = add(add(sub(mul(ah, ah), p), mul(add(ah, ah), al)), mul(al, al));
  return {p, e};
}

//! Dekker's TwoProduct with Veltkamp splitting (no FMA): p + e == a * b exactly, barring
//! overflow or underflow.
MIRAGE_HD inline DD two_prod(double a, double b) {
  const double ta = mul(SPLITTER, a);
  const double ah = sub(ta, sub(ta, a));
  const double al = sub(a, ah);
  const double tb = mul(SPLITTER, b);
  const double bh = sub(tb, sub(tb, b));
  const double bl = sub(b, bh);
  const double p = mul(a, b);
  const double e = add(add(add(sub(mul(ah, bh), p), mul(ah, bl)), mul(al, bh)), mul(al, bl));
  return {p, e};
}

//! 2^k for -1022 <= k <= 1023, from bits.
MIRAGE_HD inline double pow2(int k) {
  return from_bits(static_cast<uint64_t>(k + 1023) << 52);
}

//! y * 2^k for -1022 <= k <= 1024, exact whenever the result is normal.
MIRAGE_HD inline double scale_normal(double y, int k) {
  if (k > 1023) {
    y = mul(y, 0x1p+1023);
    k -= 1023;
  }
  return mul(y, pow2(k));
}

//! Cody-Waite reduction for exp/expm1: x = k ln2 + r + c with |r| <= ~0.3466 and c the
//! rounding error of r (|c| <= ulp(r)/2 plus the error of k * LN2_LO). Requires |x| < 2^20
//! (so that |k| < 2^21 and k * LN2_HI is exact); callers pass |x| < 746.
MIRAGE_HD inline void exp_reduce(double x, int& k, double& r, double& c) {
  const double kd = sub(add(mul(x, INV_LN2), ROUND_SHIFT), ROUND_SHIFT);
  k = static_cast<int>(kd);
  const double hi = sub(x, mul(kd, LN2_HI));  // exact (Sterbenz; kd * LN2_HI is exact)
  const double lo = mul(kd, LN2_LO);
  const DD rr = two_sum(hi, -lo);
  r = rr.hi;
  c = rr.lo;
}

//! (e^r - 1 - r - r^2/2) / r^3 = sum_{n>=3} r^(n-3) / n!, Taylor through r^14/14! in e^r
//! (truncation < 1e-19 for |r| <= 0.347), as 1/3! + r U(r) with U by Estrin's scheme (shorter
//! dependency chains than Horner, the same fixed order; the leading term is added last so it
//! is rounded only once).
MIRAGE_HD inline double exp_q3(double r) {
  const double r2 = mul(r, r);
  const double r4 = mul(r2, r2);
  const double r8 = mul(r4, r4);
  const double a0 = add(0x1.5555555555555p-5, mul(r, 0x1.1111111111111p-7));    // 1/4!, 1/5!
  const double a1 = add(0x1.6c16c16c16c17p-10, mul(r, 0x1.a01a01a01a01ap-13));  // 1/6!, 1/7!
  const double a2 = add(0x1.a01a01a01a01ap-16, mul(r, 0x1.71de3a556c734p-19));  // 1/8!, 1/9!
  const double a3 = add(0x1.27e4fb7789f5cp-22, mul(r, 0x1.ae64567f544e4p-26));  // 1/10!, 1/11!
  const double a4 = add(0x1.1eed8eff8d898p-29, mul(r, 0x1.6124613a86d09p-33));  // 1/12!, 1/13!
  const double b0 = add(a0, mul(a1, r2));
  const double b1 = add(a2, mul(a3, r2));
  const double b2 = add(a4, mul(0x1.93974a8c07c9dp-37, r2));  // 1/14!
  const double u = add(add(b0, mul(b1, r4)), mul(b2, r8));
  return add(0x1.5555555555555p-3, mul(r, u));  // 1/3!
}

//! 2^k (hi + lo) rounded once to a double, for the e^r = hi + lo (|lo| << hi) of exp with
//! -1075 <= k <= 1024; also for subnormal results, where a naive (hi + lo) * 2^k would round
//! twice.
MIRAGE_HD inline double exp_finish(double hi, double lo, int k) {
  if (k >= -1021) return scale_normal(add(hi, lo), k);
  // k <= -1022: the result is (nearly) subnormal. Scale to Y = e^x * 2^1022 (exact: the scale
  // 2^(k+1022) >= 2^-53 keeps both parts normal); the result is Y * 2^-1022 rounded to a
  // multiple of 2^-1074, i.e. Y rounded to a multiple of 2^-52, which adding 1 does in a single
  // rounding (the error of the first step is carried in L).
  const double sc = pow2(k + 1022);
  const double yh = mul(hi, sc);
  const double yl = mul(lo, sc);
  if (yh >= 1.0) return mul(add(yh, yl), 0x1p-1022);
  const double h = add(1.0, yh);
  const double l = add(add(sub(1.0, h), yh), yl);
  const double z = sub(add(h, l), 1.0);
  return mul(z, 0x1p-1022);  // exact
}

//! The atanh series: log((1+s)/(1-s)) = 2s + s R(s^2), R(z) = sum_{j=1..10} 2 z^j / (2j+1)
//! (Taylor; truncation < 3e-19 for |s| <= 0.1716), by Estrin's scheme.
MIRAGE_HD inline double log_r(double z) {
  const double z2 = mul(z, z);
  const double z4 = mul(z2, z2);
  const double z8 = mul(z4, z4);
  const double a0 = add(0x1.5555555555555p-1, mul(z, 0x1.999999999999ap-2));  // 2/3, 2/5
  const double a1 = add(0x1.2492492492492p-2, mul(z, 0x1.c71c71c71c71cp-3));  // 2/7, 2/9
  const double a2 = add(0x1.745d1745d1746p-3, mul(z, 0x1.3b13b13b13b14p-3));  // 2/11, 2/13
  const double a3 = add(0x1.1111111111111p-3, mul(z, 0x1.e1e1e1e1e1e1ep-4));  // 2/15, 2/17
  const double a4 = add(0x1.af286bca1af28p-4, mul(z, 0x1.8618618618618p-4));  // 2/19, 2/21
  const double b0 = add(a0, mul(a1, z2));
  const double b1 = add(a2, mul(a3, z2));
  const double p = add(add(b0, mul(b1, z4)), mul(a4, z8));
  return mul(p, z);
}

//! k ln 2 + log(1 + f) + cx for sqrt(1/2) - 1 <= f < sqrt(2) - 1 and a tiny correction cx
//! (already divided by 1 + f). With s = f / (2 + f), |s| <= 0.1716:
//! log(1 + f) = 2 atanh(s) = 2s + s R(s^2), where s is carried as sh + sl (its rounding
//! error recovered exactly with a Dekker product), so that only s R (< 1% of the result)
//! carries ordinary rounding errors, and 2 sh + k LN2_HI is summed exactly.
MIRAGE_HD inline double log_kernel(int k, double f, double cx) {
  const DD d = fast_two_sum(2.0, f);  // 2 + f = d.hi + d.lo exactly
  const double inv = div(1.0, d.hi);
  const double sh = mul(f, inv);
  const DD p = two_prod(sh, d.hi);
  // f - sh (2 + f) exactly up to the last two tiny terms; f - p.hi is exact (Sterbenz).
  const double sl = mul(sub(sub(sub(f, p.hi), p.lo), mul(sh, d.lo)), inv);
  const double rz = log_r(mul(sh, sh));
  // s R(s^2) at s = sh + sl: sh R(sh^2) + sl d(s R(s^2))/ds, the derivative ~ 3 R.
  const double sr = add(mul(sh, rz), mul(sl, mul(3.0, rz)));
  const double dk = static_cast<double>(k);
  const double tail = add(add(add(sl, sl), sr), add(mul(dk, LN2_LO), cx));
  const double s2 = add(sh, sh);  // exact
  if (k == 0) return add(s2, tail);
  const DD kk = fast_two_sum(mul(dk, LN2_HI), s2);  // |k LN2_HI| >= 0.69 > |2 sh|
  return add(kk.hi, add(kk.lo, tail));
}

//! Splits a positive normal x into 2^k * m with m in [sqrt(1/2), sqrt(2)); returns m - 1
//! (exact, Sterbenz).
MIRAGE_HD inline double log_split(double x, int& k) {
  const uint64_t b = to_bits(x);
  const uint64_t mant = b & 0x000fffffffffffffull;
  k = static_cast<int>(b >> 52) - 1023;
  // 0x6a09e667f3bcd is the mantissa of RN(sqrt(2)) > sqrt(2): m below it is < sqrt(2).
  if (mant >= 0x6a09e667f3bcdull) {
    k += 1;
    return sub(from_bits(mant | (uint64_t{1022} << 52)), 1.0);
  }
  return sub(from_bits(mant | (uint64_t{1023} << 52)), 1.0);
}

//! Horner evaluation of c0 + c1 x + ... + c7 x^7 (AS 241's polynomials), highest first.
MIRAGE_HD inline double poly7(double x, double c0, double c1, double c2, double c3, double c4,
                              double c5, double c6, double c7) {
  double p = c7;
  p = add(mul(p, x), c6);
  p = add(mul(p, x), c5);
  p = add(mul(p, x), c4);
  p = add(mul(p, x), c3);
  p = add(mul(p, x), c2);
  p = add(mul(p, x), c1);
  p = add(mul(p, x), c0);
  return p;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Exponential and logarithm.

//! e^x for every double x.
//! Special values: NaN -> NaN, +inf -> +inf, -inf -> +0, x > 709.782712893383973 -> +inf,
//! x < -745.133219101941108 -> +0; results below 2^-1022 are correctly scaled subnormals
//! (one rounding).
//! Algorithm: Cody & Waite (1980) reduction x = k ln2 + r, |r| <= ln2/2, with a two-part
//! ln 2 (r's own rounding error c is kept); e^(r+c) = 1 + r + r^2 (1/2 + r Q3(r)) + c (1 + r),
//! Q3 the Taylor series through r^14/14!, with the rounding error of 1 + r carried; 2^k built
//! from bits, and for subnormal results a final rounding to a multiple of 2^-1074 done once.
//! Max error: 0.63 ulp (measured: test 0.600, extra 0.620; subnormal results 0.517 / 0.550).
//! The excess over 0.5 is the rounding of r^2 (1/2 + ...), kept in plain double because exp
//! is the hot function.
MIRAGE_HD inline double exp(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x > detail::EXP_MAX_ARG) return infinity();
  if (x < detail::EXP_MIN_ARG) return 0.0;
  int k;
  double r, c;
  detail::exp_reduce(x, k, r, c);
  // e^(r + c) = 1 + r + r^2 (1/2 + r Q3(r)) + c (1 + r) + O(c r^2).
  const double p = mul(mul(r, r), add(0.5, mul(r, detail::exp_q3(r))));
  const detail::DD s = detail::fast_two_sum(1.0, r);
  const double tail = add(s.lo, add(p, add(c, mul(c, r))));
  return detail::exp_finish(s.hi, tail, k);
}

//! e^x - 1 for every double x, with small relative error also for tiny |x|.
//! Special values: NaN -> NaN, +inf -> +inf, -inf -> -1, x > 709.782712893383973 -> +inf,
//! x < -40 -> -1 (the exact value rounds to -1), |x| < 2^-54 -> x (so +-0 -> +-0).
//! Algorithm: the reduction of exp; e^r - 1 = r + r^2/2 + r^3 Q3(r) + c (1 + r) with r^2
//! exact (Dekker product) and the leading sum r + r^2/2 in double-double; for k != 0,
//! e^x - 1 = 2^k (1 + (e^r - 1)) - 1 with the scaling exact and the subtraction of 1 in
//! double-double, so there is one significant rounding (no special cases for k = 1, -1).
//! Max error: 0.63 ulp (measured: test 0.578, extra 0.626).
MIRAGE_HD inline double expm1(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x > detail::EXP_MAX_ARG) return infinity();
  if (x < -40.0) return -1.0;
  if (x > -0x1p-54 && x < 0x1p-54) return x;
  int k;
  double r, c;
  detail::exp_reduce(x, k, r, c);
  const detail::DD r2 = detail::two_square(r);
  // E = e^(r+c) - 1 = r + r^2/2 + r^3 Q3(r) + c (1 + r), as eh + el.
  const detail::DD e = detail::two_sum(r, mul(r2.hi, 0.5));
  const double r3q = mul(mul(r2.hi, r), detail::exp_q3(r));
  const double el = add(e.lo, add(add(mul(r2.lo, 0.5), r3q), add(c, mul(c, r))));  // |el| << |eh|
  if (k == 0) return add(e.hi, el);
  // 2^k (1 + E) - 1: 1 + E = s.hi + lo exactly up to the error of el; scaling is exact.
  const detail::DD s = detail::fast_two_sum(1.0, e.hi);
  const double lo = add(s.lo, el);
  if (k > 1023) return detail::scale_normal(add(s.hi, lo), k);  // the -1 is far below 1 ulp
  const double sc = detail::pow2(k);
  const detail::DD t = detail::two_sum(mul(s.hi, sc), -1.0);
  return add(t.hi, add(t.lo, mul(lo, sc)));
}

//! Natural logarithm for every double x.
//! Special values: NaN -> NaN, x < 0 -> NaN, +-0 -> -inf, +inf -> +inf, 1 -> +0.
//! Subnormal x are rescaled by 2^54 first.
//! Algorithm: x = 2^k m from the bits, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact),
//! s = f / (2 + f) carried in double-double (Dekker product for its rounding error),
//! log(1 + f) = 2 atanh(s) = 2s + s R(s^2) with R the atanh (Taylor) series through s^21,
//! k ln 2 (two-part, Cody & Waite) + 2s summed exactly.
//! Max error: 0.54 ulp (measured: test 0.520, extra 0.529).
MIRAGE_HD inline double log(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x == 0.0) return -infinity();
  if (x < 0.0) return quiet_nan();
  if (x == infinity()) return x;
  int adj = 0;
  if (x < 0x1p-1022) {
    x = mul(x, 0x1p+54);
    adj = -54;
  }
  int k;
  const double f = detail::log_split(x, k);
  return detail::log_kernel(k + adj, f, 0.0);
}

//! log(1 + x) for every double x, with small relative error also for tiny |x|.
//! Special values: NaN -> NaN, x < -1 -> NaN, -1 -> -inf, +inf -> +inf,
//! |x| < 2^-54 -> x (so +-0 -> +-0).
//! Algorithm: for sqrt(1/2) - 1 <= x < sqrt(2) - 1 the log kernel on f = x directly;
//! otherwise u = 1 + x with its exact rounding error c (TwoSum), u = 2^k (1 + f) from the
//! bits, log1p(x) = k ln 2 + log(1 + f) + c / u.
//! Max error: 0.54 ulp (measured: test 0.520, extra 0.530).
MIRAGE_HD inline double log1p(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x == -1.0) return -infinity();
  if (x < -1.0) return quiet_nan();
  if (x == infinity()) return x;
  if (x > -0x1p-54 && x < 0x1p-54) return x;
  // [RN(sqrt(1/2) - 1), RN(sqrt(2) - 1)): there 1 + x needs no rescaling; use x itself.
  if (x >= -0x1.2bec333018867p-2 && x < 0x1.a827999fcef32p-2) return detail::log_kernel(0, x, 0.0);
  const detail::DD u = detail::two_sum(1.0, x);
  int k;
  const double f = detail::log_split(u.hi, k);
  return detail::log_kernel(k, f, div(u.lo, u.hi));
}

// ---------------------------------------------------------------------------------------------
// Standard normal quantile.

namespace detail {

//! AS 241 (PPND16) given q = p - 1/2 and the tail probability t = min(p, 1 - p), both exact.
MIRAGE_HD inline double normal_quantile_core(double q, double t) {
  const double aq = q < 0.0 ? -q : q;
  if (aq <= 0x1.b333333333333p-2) {                         // 0.425
    const double r = sub(0x1.71eb851eb851fp-3, mul(q, q));  // 0.180625 = 0.425^2
    const double num = poly7(r,
                             0x1.b18d91e9eef75p+1,    // 3.3871328727963666080e0
                             0x1.0a4888b1a436ep+7,    // 1.3314166789178437745e+2
                             0x1.ece5d2213c0ccp+10,   // 1.9715909503065514427e+3
                             0x1.ad1d8cd4ee71dp+13,   // 1.3731693765509461125e+4
                             0x1.66c3e869b752ap+15,   // 4.5921953931549871457e+4
                             0x1.06c1c55b78f20p+16,   // 6.7265770927008700853e+4
                             0x1.052d26b2e45e4p+15,   // 3.3430575583588128105e+4
                             0x1.39a296f7d925ep+11);  // 2.5090809287301226727e+3
    const double den = poly7(r, 1.0,
                             0x1.5281b386e1ab5p+5,    // 4.2313330701600911252e+1
                             0x1.5797efdc8b3f7p+9,    // 6.8718700749205790830e+2
                             0x1.512322e75c89fp+12,   // 5.3941960214247511077e+3
                             0x1.4b772d5d65266p+14,   // 2.1213794301586595867e+4
                             0x1.3317caa64f4bep+15,   // 3.9307895800092710610e+4
                             0x1.c0e457cb1ae76p+14,   // 2.8729085735721942674e+4
                             0x1.46a7eca984b69p+12);  // 5.2264952788528545610e+3
    return div(mul(q, num), den);
  }
  double r = sqrt(-log(t));
  double v;
  if (r <= 5.0) {
    r = sub(r, 0x1.999999999999ap+0);  // 1.6
    const double num = poly7(r,
                             0x1.6c665fde9526ap+0,    // 1.42343711074968357734e0
                             0x1.2857748cab19bp+2,    // 4.63033784615654529590e0
                             0x1.713f71462256ap+2,    // 5.76949722146069140550e0
                             0x1.d2ecb1a3d02c4p+1,    // 3.64784832476320460504e0
                             0x1.453cc085375b2p+0,    // 1.27045825245236838258e0
                             0x1.ef2abb9b85c37p-3,    // 2.41780725177450611770e-1
                             0x1.744eb6c45ec67p-6,    // 2.27238449892691845833e-2
                             0x1.9615ac0b7ace9p-11);  // 7.74545014278341407640e-4
    const double den = poly7(r, 1.0,
                             0x1.06cefbb46a449p+1,    // 2.05319162663775882187e0
                             0x1.ad278e6526633p+0,    // 1.67638483018380384940e0
                             0x1.61292f23385c9p-1,    // 6.89767334985100004550e-1
                             0x1.2f5123394f040p-3,    // 1.48103976427480074590e-1
                             0x1.f207a7eab17bfp-7,    // 1.51986665636164571966e-2
                             0x1.1f18cbfdf2728p-11,   // 5.47593808499534494600e-4
                             0x1.20d3f686439e4p-30);  // 1.05075007164441684324e-9
    v = div(num, den);
  } else {
    r = sub(r, 5.0);
    const double num = poly7(r,
                             0x1.aa1b1c13ee526p+2,    // 6.65790464350110377720e0
                             0x1.5daea6e875003p+2,    // 5.46378491116411436990e0
                             0x1.c8ea6461fa445p+0,    // 1.78482653991729133580e0
                             0x1.2fad9315255cfp-2,    // 2.96560571828504891230e-1
                             0x1.b2b41193b4ee7p-6,    // 2.65321895265761230930e-2
                             0x1.45c1908425345p-10,   // 1.24266094738807843860e-3
                             0x1.c6ec6cc59e02ap-16,   // 2.71155556874348757815e-5
                             0x1.afb74d693bf93p-23);  // 2.01033439929228813265e-7
    const double den = poly7(r, 1.0,
                             0x1.331d34fc7d77fp-1,    // 5.99832206555887937690e-1
                             0x1.186eb183443fbp-3,    // 1.36929880922735805310e-1
                             0x1.e76f93215462ap-7,    // 1.48753612908506148525e-2
                             0x1.9c8bc979dc5d7p-11,   // 7.86869131145613259100e-4
                             0x1.35c2c496374bfp-16,   // 1.84631831751005468180e-5
                             0x1.31446f740b9e0p-23,   // 1.42151175831644588870e-7
                             0x1.269bff1f8c190p-49);  // 2.04426310338993978564e-15
    v = div(num, den);
  }
  return q < 0.0 ? -v : v;
}

}  // namespace detail

//! The inverse standard normal CDF Phi^-1(p).
//! Special values: p = 0 -> -inf, p = 1 -> +inf, p outside [0, 1] or NaN -> NaN,
//! p = 1/2 -> +0. Subnormal p are fine (Phi^-1(2^-1074) = -38.47...).
//! Algorithm: Wichura (1988), AS 241 PPND16, with q = p - 1/2, r = min(p, 1 - p) as in AS 241,
//! using pm::log and pm::sqrt. Here q = p - 1/2 is rounded for p < 1/4 (p has finer bits than
//! q can hold); for p > 1/2 the complement 1 - p is exact, so the upper tail only resolves
//! steps of 2^-53. Prefer normal_quantile(p, 1 - p) when the caller can form both exactly.
//! Max error (relative; AS 241's own ~1e-16 plus a few ulps of rounding in its rational
//! functions): 9.5e-16 over all of (0, 1) (measured: test 7.4e-16, extra 9.0e-16, worst in
//! the far tail p ~ 1e-176); 8.5e-16 for 2^-54 <= p <= 1 - 2^-54, the range of the forms
//! (w + 0.5) / 2^32 and (2m + 1) / 2^53 (test 6.9e-16, extra 8.1e-16). The relative bound holds
//! near p = 1/2 too, where x -> 0 (|p - 1/2| < 1e-3: test 5.5e-16, extra 8.2e-16); absolute
//! error for |p - 1/2| < 0.05: 8e-17 (test 5.8e-17, extra 7.5e-17).
//! Not monotonic between adjacent doubles p (a few ulps of rounding noise against a slope of
//! far less than an ulp per step); monotonic on inputs spaced like the caller forms above.
MIRAGE_HD inline double normal_quantile(double p) {
  if (!(p >= 0.0 && p <= 1.0)) return quiet_nan();
  if (p == 0.0) return -infinity();
  if (p == 1.0) return infinity();
  const double q = sub(p, 0.5);
  const double t = q < 0.0 ? p : sub(1.0, p);  // 1 - p exact for p >= 1/2
  return detail::normal_quantile_core(q, t);
}

//! Phi^-1(p) given p AND its complement pc = 1 - p, both exact (p + pc == 1 in real
//! arithmetic, e.g. p = (w + 0.5) / 2^32 and pc = (2^32 - w - 0.5) / 2^32): full relative
//! accuracy in both tails, and exact antisymmetry normal_quantile(p, pc) ==
//! -normal_quantile(pc, p).
//! Special values: p or pc outside [0, 1] or NaN -> NaN; p = 0 -> -inf; pc = 0 -> +inf.
//! Precondition (not checked): p + pc == 1 exactly.
//! Max error: as normal_quantile(p): relative 9.5e-16, 8.5e-16 for 2^-54 <= p <= 1 - 2^-54.
MIRAGE_HD inline double normal_quantile(double p, double pc) {
  if (!(p >= 0.0 && p <= 1.0) || !(pc >= 0.0 && pc <= 1.0)) return quiet_nan();
  if (p == 0.0) return -infinity();
  if (pc == 0.0) return infinity();
  // q = p - 1/2, computed from whichever of p, pc is >= 1/2 so that it is exact (Sterbenz).
  const double q = p >= 0.5 ? sub(p, 0.5) : sub(0.5, pc);
  const double t = p >= 0.5 ? pc : p;
  return detail::normal_quantile_core(q, t);
}

// ---------------------------------------------------------------------------------------------
// Logistic helpers.

//! The logistic function 1 / (1 + e^-x), in [0, 1].
//! Special values: NaN -> NaN, +inf -> 1, -inf -> +0.
//! Algorithm: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) for x < 0 (no overflow, full
//! relative accuracy in the lower tail).
//! Max error: 2.5 ulp (measured: test 1.92, extra 2.44; largest for x < 0, where the errors of
//! e^x, 1 + e^x and the division add up relative to a small result).
MIRAGE_HD inline double sigmoid(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x >= 0.0) return div(1.0, add(1.0, exp(-x)));
  const double e = exp(x);
  return div(e, add(1.0, e));
}

//! log(sigmoid(x)) = -log(1 + e^-x), <= 0, stable for all x.
//! Special values: NaN -> NaN, +inf -> +0, -inf -> -inf.
//! Algorithm: -log1p(e^-x) for x >= 0 (computed as 0 - log1p(..) so +inf gives +0),
//! x - log1p(e^x) for x < 0.
//! Max error: 1.5 ulp (measured: test 1.30, extra 1.46).
MIRAGE_HD inline double log_sigmoid(double x) {
  if (is_nan(x)) return quiet_nan();
  if (x >= 0.0) return sub(0.0, log1p(exp(-x)));
  return sub(x, log1p(exp(x)));
}

//! log(1 - sigmoid(x)) = log(sigmoid(-x)) = -log(1 + e^x), <= 0, stable for all x.
//! Special values: NaN -> NaN, -inf -> +0, +inf -> -inf.
//! Max error: 1.5 ulp (it is log_sigmoid(-x)).
MIRAGE_HD inline double log1m_sigmoid(double x) {
  return log_sigmoid(-x);
}

}  // namespace pm
}  // namespace mirage
