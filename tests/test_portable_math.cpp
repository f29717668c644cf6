// Copyright (c) Mirage developers.
// Tests of include/mirage/portable_math.h: accuracy against independent references over the
// whole domain, special values, monotonicity, and known-answer bit patterns.
//
// References: long double libm (expl, expm1l, logl, log1pl; 64-bit significands, so their own
// error is ~2^-11 double ulp) and Boost.Math in long double for the normal quantile, as the
// accurate references for the measured errors; these are checked themselves against
// boost::multiprecision::cpp_bin_float_50 on a subset. Boost.Math in double (expm1, log1p,
// normal quantile) serves as a second, independent implementation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/special_functions/expm1.hpp>
#include <boost/math/special_functions/log1p.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>

#include "mirage/portable_math.h"

namespace {

namespace pm = mirage::pm;
using boost::multiprecision::cpp_bin_float_50;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMax = std::numeric_limits<double>::max();
constexpr double kMinNormal = std::numeric_limits<double>::min();
constexpr double kMinSub = std::numeric_limits<double>::denorm_min();
constexpr double kLn2 = 0x1.62e42fefa39efp-1;

// Error bounds asserted below: the bounds stated in portable_math.h (which also quotes the
// maxima measured on these input sets and on larger random samples).
constexpr double kExpUlp = 0.63;
constexpr double kExpSubnormalUlp = 0.55;
constexpr double kExpm1Ulp = 0.63;
constexpr double kLogUlp = 0.54;
constexpr double kLog1pUlp = 0.54;
constexpr double kSigmoidUlp = 2.5;
constexpr double kLogSigmoidUlp = 1.5;
constexpr double kQuantileRel = 9.5e-16;        // whole (0, 1)
constexpr double kQuantileRelCaller = 8.5e-16;  // 2^-54 <= p <= 1 - 2^-54, also near p = 1/2
constexpr double kQuantileAbsCenter = 8e-17;    // |p - 1/2| < 0.05, |x| < 0.126

// ---------------------------------------------------------------------------------------------
// Helpers.

uint64_t bits(double x) {
  return pm::to_bits(x);
}

double next_up(double x) {
  return std::nextafter(x, kInf);
}
double next_down(double x) {
  return std::nextafter(x, -kInf);
}

//! The spacing of doubles at the exact value v (2^-1074 below 2^-1022).
long double ulp_at(long double v) {
  const long double a = std::fabs(v);
  if (a < 0x1p-1022L) return 0x1p-1074L;
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e)
  return std::ldexp(1.0L, e - 53);
}

//! The error of got in ulps of the exact value ref.
double ulp_error(double got, long double ref) {
  if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : kInf;
  if (std::isinf(ref) || std::isinf(got)) return static_cast<long double>(got) == ref ? 0 : kInf;
  return static_cast<double>(std::fabs(static_cast<long double>(got) - ref) / ulp_at(ref));
}

//! A running maximum of an error, remembering where it occurred.
struct MaxError {
  double max = 0;
  double at = 0;
  long count = 0;
  void add(double x, double err) {
    ++count;
    if (std::isnan(err)) err = kInf;  // a NaN error is a failure, never hidden
    if (!(err <= max)) {
      max = err;
      at = x;
    }
  }
  void print(const char* what, const char* unit) const {
    std::printf("  %-40s max %.4g %s at %.17g (%ld points)\n", what, max, unit, at, count);
  }
};

//! Deterministic random source: std::mt19937_64 with our own conversions (the standard
//! distributions are implementation-defined).
struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  uint64_t word() { return gen(); }
  //! Uniform in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(word() >> 11) * 0x1p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  //! |x| log-uniform between 2^lo_exp and 2^hi_exp, random mantissa.
  double log_uniform(int lo_exp, int hi_exp) {
    const double e = uniform(lo_exp, hi_exp);
    const double x = std::exp2(e);
    // Randomize the low mantissa bits too (exp2 of a random double is not uniform in bits).
    return std::max(kMinSub, x * (1.0 + 0x1p-30 * unit()));
  }
};

//! Appends `count` points linearly spaced on [lo, hi].
void linspace(std::vector<double>& v, double lo, double hi, int count) {
  for (int i = 0; i < count; ++i) v.push_back(lo + (hi - lo) * i / (count - 1));
}

//! Appends x and its `steps` neighbours on each side.
void around(std::vector<double>& v, double x, int steps) {
  v.push_back(x);
  double up = x, down = x;
  for (int i = 0; i < steps; ++i) {
    up = next_up(up);
    down = next_down(down);
    v.push_back(up);
    v.push_back(down);
  }
}

//! Max ulp error of f against ref over xs.
MaxError measure_ulp(const std::vector<double>& xs, const std::function<double(double)>& f,
                     const std::function<long double(double)>& ref) {
  MaxError m;
  for (double x : xs) m.add(x, ulp_error(f(x), ref(x)));
  return m;
}

// Long double references.
long double ref_exp(double x) {
  return std::exp(static_cast<long double>(x));
}
long double ref_expm1(double x) {
  return std::expm1(static_cast<long double>(x));
}
long double ref_log(double x) {
  return std::log(static_cast<long double>(x));
}
long double ref_log1p(double x) {
  return std::log1p(static_cast<long double>(x));
}
long double ref_sigmoid(double x) {
  const long double lx = x;
  if (lx >= 0) return 1.0L / (1.0L + std::exp(-lx));
  const long double e = std::exp(lx);
  return e / (1.0L + e);
}
long double ref_log_sigmoid(double x) {
  const long double lx = x;
  if (lx >= 0) return -std::log1p(std::exp(-lx));
  return lx - std::log1p(std::exp(lx));
}
//! Phi^-1(p) from Boost.Math in long double; pc = 1 - p exactly when given.
long double ref_quantile(double p, double pc) {
  const boost::math::normal_distribution<long double> n;
  if (p <= 0.5) return boost::math::quantile(n, static_cast<long double>(p));
  return boost::math::quantile(boost::math::complement(n, static_cast<long double>(pc)));
}

// ---------------------------------------------------------------------------------------------
// Input sets (deterministic sweeps plus 200000 fixed-seed random points each).

constexpr int kRandom = 200000;

std::vector<double> exp_inputs() {
  std::vector<double> v;
  const double lo = -0x1.74910d52d3051p+9, hi = 0x1.62e42fefa39efp+9;
  linspace(v, lo, hi, 100001);
  // Reduction boundaries (k + 1/2) ln 2 and the multiples k ln 2, a few ulps either side.
  for (int k = -1076; k <= 1024; ++k) {
    around(v, (k + 0.5) * kLn2, 2);
    around(v, k * kLn2, 1);
  }
  // Around 0, both signs, magnitudes down to the smallest subnormal.
  for (int e = -1074; e <= 0; ++e) {
    v.push_back(std::ldexp(1.0, e));
    v.push_back(-std::ldexp(1.0, e));
    v.push_back(std::ldexp(1.3, e));
    v.push_back(-std::ldexp(1.7, e));
  }
  // Thresholds of overflow and underflow, and the subnormal-result range.
  around(v, hi, 50);
  around(v, lo, 50);
  linspace(v, lo, -708.3964185322641, 20001);
  Rng rng(0x5eed0001);
  for (int i = 0; i < kRandom; ++i) v.push_back(rng.uniform(lo, hi));
  for (int i = 0; i < kRandom / 4; ++i) {
    const double x = rng.log_uniform(-1074, 9);
    v.push_back(x);
    v.push_back(-x);
  }
  // Beyond the thresholds the results are special values, tested exactly below.
  v.erase(std::remove_if(v.begin(), v.end(), [=](double x) { return !(x >= lo && x <= hi); }),
          v.end());
  return v;
}

std::vector<double> expm1_inputs() {
  std::vector<double> v;
  const double hi = 0x1.62e42fefa39efp+9;
  linspace(v, -40.0, hi, 100001);
  linspace(v, -2.0, 2.0, 40001);
  for (int k = -60; k <= 1024; ++k) {
    around(v, (k + 0.5) * kLn2, 2);
    around(v, k * kLn2, 1);
  }
  for (int e = -1074; e <= 9; ++e) {
    for (double m : {1.0, 1.3, 1.7}) {
      v.push_back(std::ldexp(m, e));
      v.push_back(-std::ldexp(m, e));
    }
  }
  around(v, 0x1p-54, 3);
  around(v, -0x1p-54, 3);
  around(v, hi, 20);
  around(v, -40.0, 20);
  Rng rng(0x5eed0002);
  for (int i = 0; i < kRandom / 2; ++i) v.push_back(rng.uniform(-40.0, hi));
  for (int i = 0; i < kRandom / 4; ++i) {
    const double x = rng.log_uniform(-1074, 5);
    v.push_back(x);
    v.push_back(-x);
  }
  v.erase(std::remove_if(v.begin(), v.end(), [=](double x) { return !(x >= -40.0 && x <= hi); }),
          v.end());
  return v;
}

std::vector<double> log_inputs() {
  std::vector<double> v;
  // Log-uniform magnitudes over all positive doubles, 1e-320 .. 1.8e308.
  for (int i = 0; i <= 100000; ++i)
    v.push_back(std::exp2(-1063.0 + (1024.0 + 1063.0) * i / 100000));
  // Powers of two and the sqrt(2) rescaling boundary in every binade.
  for (int e = -1074; e <= 1023; ++e) {
    v.push_back(std::ldexp(1.0, e));
    if (e < 1023) {
      around(v, std::ldexp(0x1.6a09e667f3bcdp+0, e), 2);
      v.push_back(next_down(std::ldexp(1.0, e + 1)));
    }
  }
  // Around 1, where log(x) is small: 1 +- k ulps and 1 +- 2^-e.
  around(v, 1.0, 1000);
  for (int e = 1; e <= 60; ++e) {
    v.push_back(1.0 + std::ldexp(1.0, -e));
    v.push_back(1.0 - std::ldexp(1.0, -e));
  }
  linspace(v, 0.5, 2.0, 40001);
  around(v, kMax, 5);
  around(v, kMinNormal, 5);
  around(v, kMinSub, 0);
  // Random: uniform over positive finite bit patterns (i.e. log-uniform), uniform near 1.
  Rng rng(0x5eed0003);
  for (int i = 0; i < kRandom; ++i) {
    const uint64_t b = 1 + rng.word() % 0x7fefffffffffffffull;
    v.push_back(pm::from_bits(b));
  }
  for (int i = 0; i < kRandom / 4; ++i) v.push_back(rng.uniform(0.5, 2.0));
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !(x > 0.0 && x <= kMax); }),
          v.end());
  return v;
}

std::vector<double> log1p_inputs() {
  std::vector<double> v;
  // Both signs of small |x|, -1 < x < 1, and large positive x.
  for (int e = -1074; e <= 1023; ++e) {
    for (double m : {1.0, 1.3, 1.7}) {
      const double x = std::ldexp(m, e);
      if (x < kInf) v.push_back(x);
      if (x < 1.0) v.push_back(-x);
    }
  }
  linspace(v, -0.999, 3.0, 100001);
  // Near -1 (1 + x tiny) and the rescaling boundaries.
  for (int e = 1; e <= 53; ++e) {
    v.push_back(-1.0 + std::ldexp(1.0, -e));
    if (e <= 51) v.push_back(-1.0 + std::ldexp(3.0, -e - 2));
  }
  around(v, -1.0 + 0x1p-53, 3);
  around(v, 0x1.a827999fcef32p-2, 3);
  around(v, -0x1.2bec333018867p-2, 3);
  around(v, 0x1p-54, 3);
  around(v, -0x1p-54, 3);
  around(v, kMax, 3);
  Rng rng(0x5eed0004);
  for (int i = 0; i < kRandom / 4; ++i) v.push_back(rng.uniform(-1.0, 1.0));
  for (int i = 0; i < kRandom / 4; ++i) {
    const double x = rng.log_uniform(-1074, 0);
    v.push_back(x);
    v.push_back(-std::min(x, next_down(1.0)));
  }
  for (int i = 0; i < kRandom / 4; ++i) v.push_back(rng.log_uniform(0, 1023));
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !(x > -1.0); }), v.end());
  return v;
}

std::vector<double> logistic_inputs() {
  std::vector<double> v;
  linspace(v, -800.0, 800.0, 100001);
  linspace(v, -40.0, 40.0, 40001);
  for (int e = -1074; e <= 9; ++e) {
    v.push_back(std::ldexp(1.0, e));
    v.push_back(-std::ldexp(1.3, e));
  }
  around(v, 0.0, 3);
  Rng rng(0x5eed0005);
  for (int i = 0; i < kRandom / 2; ++i) v.push_back(rng.uniform(-750.0, 750.0));
  for (int i = 0; i < kRandom / 2; ++i) {
    const double x = rng.log_uniform(-60, 6);
    v.push_back(rng.word() & 1 ? x : -x);
  }
  return v;
}

//! Quantile inputs as exact pairs (p, 1 - p).
struct ProbPair {
  double p;
  double pc;
};

std::vector<ProbPair> quantile_inputs() {
  std::vector<ProbPair> v;
  const auto both = [&v](double p) {  // p <= 1/2 and its exact complement, in both orders
    const double pc = 1.0 - p;
    if (1.0 - pc != p) return;  // skip p whose complement 1 - p is not a double
    v.push_back({p, pc});
    v.push_back({pc, p});
  };
  const auto lower = [&v](double p) { v.push_back({p, 1.0 - p}); };  // p tiny: 1 - p rounds
  // The two forms callers use: (w + 1/2) / 2^32 and (2m + 1) / 2^53.
  for (uint64_t w = 0; w < 4096; ++w) both((w + 0.5) * 0x1p-32);
  Rng rng(0x5eed0006);
  for (int i = 0; i < kRandom / 4; ++i) {
    const double p = ((rng.word() >> 32) + 0.5) * 0x1p-32;
    if (p <= 0.5) both(p);
  }
  for (int i = 0; i < kRandom / 4; ++i) {
    const double p = static_cast<double>(2 * (rng.word() >> 12) + 1) * 0x1p-53;
    if (p <= 0.5) both(p);
  }
  // Dense around 1/2 and the splits of AS 241 (|q| = 0.425; r = 5, p = e^-25).
  for (int i = 1; i <= 2000; ++i) both(0.5 - i * 0x1p-20);
  for (int e = 2; e <= 60; ++e) both(0.5 - std::ldexp(1.0, -e));
  for (int i = -500; i <= 500; ++i) both(0.075 + i * 0x1p-40);
  for (int i = -500; i <= 500; ++i) both(std::exp(-25.0) + i * 0x1p-80);
  // Log-uniform lower tail down to the smallest subnormal (for p < 2^-53 only p itself).
  for (int i = 0; i < kRandom / 4; ++i) {
    const double p = rng.log_uniform(-1074, -1);
    if (p >= 0x1p-53)
      both(p);
    else
      lower(p);
  }
  for (int e = -1074; e <= -2; ++e) lower(std::ldexp(1.0, e));
  return v;
}

// ---------------------------------------------------------------------------------------------
// Accuracy.

TEST(PortableMath, ExpAccuracy) {
  const auto xs = exp_inputs();
  const MaxError all = measure_ulp(
      xs, [](double x) { return pm::exp(x); }, ref_exp);
  MaxError sub;
  for (double x : xs) {
    if (ref_exp(x) < 0x1p-1022L) sub.add(x, ulp_error(pm::exp(x), ref_exp(x)));
  }
  all.print("exp, whole range", "ulp");
  sub.print("exp, subnormal results", "ulp");
  EXPECT_LE(all.max, kExpUlp) << "at x = " << all.at;
  EXPECT_LE(sub.max, kExpSubnormalUlp) << "at x = " << sub.at;
}

TEST(PortableMath, Expm1Accuracy) {
  const auto xs = expm1_inputs();
  const MaxError m = measure_ulp(
      xs, [](double x) { return pm::expm1(x); }, ref_expm1);
  const MaxError boost = measure_ulp(
      xs, [](double x) { return pm::expm1(x); }, [](double x) { return boost::math::expm1(x); });
  m.print("expm1", "ulp");
  boost.print("expm1 vs Boost.Math double", "ulp");
  EXPECT_LE(m.max, kExpm1Ulp) << "at x = " << m.at;
  EXPECT_LE(boost.max, kExpm1Ulp + 1.0) << "at x = " << boost.at;
}

TEST(PortableMath, LogAccuracy) {
  const auto xs = log_inputs();
  const MaxError m = measure_ulp(
      xs, [](double x) { return pm::log(x); }, ref_log);
  m.print("log", "ulp");
  EXPECT_LE(m.max, kLogUlp) << "at x = " << m.at;
}

TEST(PortableMath, Log1pAccuracy) {
  const auto xs = log1p_inputs();
  const MaxError m = measure_ulp(
      xs, [](double x) { return pm::log1p(x); }, ref_log1p);
  const MaxError boost = measure_ulp(
      xs, [](double x) { return pm::log1p(x); }, [](double x) { return boost::math::log1p(x); });
  m.print("log1p", "ulp");
  boost.print("log1p vs Boost.Math double", "ulp");
  EXPECT_LE(m.max, kLog1pUlp) << "at x = " << m.at;
  EXPECT_LE(boost.max, kLog1pUlp + 1.0) << "at x = " << boost.at;
}

TEST(PortableMath, LogisticAccuracy) {
  const auto xs = logistic_inputs();
  const MaxError s = measure_ulp(
      xs, [](double x) { return pm::sigmoid(x); }, ref_sigmoid);
  const MaxError ls = measure_ulp(
      xs, [](double x) { return pm::log_sigmoid(x); }, ref_log_sigmoid);
  const MaxError l1m = measure_ulp(
      xs, [](double x) { return pm::log1m_sigmoid(x); },
      [](double x) { return ref_log_sigmoid(-x); });
  s.print("sigmoid", "ulp");
  ls.print("log_sigmoid", "ulp");
  l1m.print("log1m_sigmoid", "ulp");
  EXPECT_LE(s.max, kSigmoidUlp) << "at x = " << s.at;
  EXPECT_LE(ls.max, kLogSigmoidUlp) << "at x = " << ls.at;
  EXPECT_LE(l1m.max, kLogSigmoidUlp) << "at x = " << l1m.at;
}

TEST(PortableMath, NormalQuantileAccuracy) {
  const auto ps = quantile_inputs();
  // Relative errors; "caller range" is 2^-54 <= p <= 1 - 2^-54, which covers the forms
  // (w + 1/2) / 2^32 and (2m + 1) / 2^53.
  MaxError rel2, rel2_caller, ulp2, rel1, rel1_caller, relb, abs_center, rel_center;
  const boost::math::normal_distribution<double> nd;
  for (const ProbPair& pp : ps) {
    const long double ref = ref_quantile(pp.p, pp.pc);
    if (ref == 0) {  // p = 1/2
      EXPECT_EQ(bits(pm::normal_quantile(pp.p, pp.pc)), bits(0.0));
      EXPECT_EQ(bits(pm::normal_quantile(pp.p)), bits(0.0));
      continue;
    }
    const bool caller = std::min(pp.p, pp.pc) >= 0x1p-54;
    const double x2 = pm::normal_quantile(pp.p, pp.pc);
    const double err2 = static_cast<double>(std::fabs(x2 - ref) / std::fabs(ref));
    rel2.add(pp.p, err2);
    if (caller) rel2_caller.add(pp.p, err2);
    ulp2.add(pp.p, ulp_error(x2, ref));
    if (std::fabs(pp.p - 0.5) < 0.05) {
      abs_center.add(pp.p, static_cast<double>(std::fabs(x2 - ref)));
    }
    if (std::fabs(pp.p - 0.5) < 1e-3) rel_center.add(pp.p, err2);
    // The one-argument form forms 1 - p itself (exact for p >= 1/2) and q = p - 1/2 (rounded
    // for some p < 1/4).
    const double x1 = pm::normal_quantile(pp.p);
    const double err1 = static_cast<double>(std::fabs(x1 - ref) / std::fabs(ref));
    rel1.add(pp.p, err1);
    if (caller) rel1_caller.add(pp.p, err1);
    if (pp.p >= 1e-300 && pp.p <= 1 - 1e-16) {
      const double b = boost::math::quantile(nd, pp.p);
      relb.add(pp.p, std::fabs(x1 - b) / std::fabs(b));
    }
  }
  rel2.print("normal_quantile(p, 1-p), relative", "");
  rel2_caller.print("  ... for 2^-54 <= p <= 1 - 2^-54", "");
  ulp2.print("normal_quantile(p, 1-p)", "ulp");
  abs_center.print("normal_quantile(p, 1-p), |p-1/2|<0.05, abs", "");
  rel_center.print("normal_quantile(p, 1-p), |p-1/2|<1e-3, rel", "");
  rel1.print("normal_quantile(p), relative", "");
  rel1_caller.print("  ... for 2^-54 <= p <= 1 - 2^-54", "");
  relb.print("normal_quantile(p) vs Boost.Math double, rel", "");
  EXPECT_LE(rel2.max, kQuantileRel) << "at p = " << rel2.at;
  EXPECT_LE(rel1.max, kQuantileRel) << "at p = " << rel1.at;
  EXPECT_LE(rel2_caller.max, kQuantileRelCaller) << "at p = " << rel2_caller.at;
  EXPECT_LE(rel1_caller.max, kQuantileRelCaller) << "at p = " << rel1_caller.at;
  EXPECT_LE(abs_center.max, kQuantileAbsCenter) << "at p = " << abs_center.at;
  EXPECT_LE(rel_center.max, kQuantileRelCaller) << "at p = " << rel_center.at;
  EXPECT_LE(relb.max, kQuantileRel + 4e-16) << "at p = " << relb.at;
}

// The long double references themselves, against 50-digit arithmetic on a sample: they must
// be far more accurate than the errors measured with them (error in double ulps).
TEST(PortableMath, ReferencesAgreeWithMultiprecision) {
  const auto ref_error = [](const cpp_bin_float_50& exact, long double ref) {
    const long double e = static_cast<long double>(exact);
    return static_cast<double>(std::fabs(e - ref) / ulp_at(e));
  };
  Rng rng(0x5eed0007);
  MaxError e_exp, e_expm1, e_log, e_log1p, e_q;
  for (int i = 0; i < 400; ++i) {
    const double x = rng.uniform(-745.0, 709.0);
    e_exp.add(x, ref_error(exp(cpp_bin_float_50(x)), ref_exp(x)));
    const double y = i % 2 ? rng.uniform(-40.0, 40.0) : rng.log_uniform(-60, 3) * (i % 4 ? 1 : -1);
    e_expm1.add(y, ref_error(boost::math::expm1(cpp_bin_float_50(y)), ref_expm1(y)));
    const double z = pm::from_bits(1 + rng.word() % 0x7fefffffffffffffull);
    e_log.add(z, ref_error(log(cpp_bin_float_50(z)), ref_log(z)));
    const double w = i % 2 ? rng.uniform(-0.99, 2.0) : rng.log_uniform(-60, 0) * (i % 4 ? 1 : -1);
    e_log1p.add(w, ref_error(boost::math::log1p(cpp_bin_float_50(w)), ref_log1p(w)));
  }
  // Quantile: one Newton step in 50 digits from the long double reference (the step is the
  // reference's relative error to first order).
  const boost::math::normal_distribution<cpp_bin_float_50> n50;
  for (int i = 0; i < 100; ++i) {
    const double p = i % 2 ? rng.unit() * 0.5 : rng.log_uniform(-1000, -2);
    const long double ref = ref_quantile(p, 1.0 - p);
    const cpp_bin_float_50 x0 = static_cast<cpp_bin_float_50>(ref);
    const cpp_bin_float_50 x1 = x0 - (boost::math::cdf(n50, x0) - p) / boost::math::pdf(n50, x0);
    e_q.add(p, static_cast<double>(abs((x1 - x0) / x1)));
  }
  e_exp.print("long double exp reference", "ulp");
  e_expm1.print("long double expm1 reference", "ulp");
  e_log.print("long double log reference", "ulp");
  e_log1p.print("long double log1p reference", "ulp");
  e_q.print("long double quantile reference, relative", "");
  EXPECT_LE(e_exp.max, 0.002);
  EXPECT_LE(e_expm1.max, 0.002);
  EXPECT_LE(e_log.max, 0.002);
  EXPECT_LE(e_log1p.max, 0.002);
  EXPECT_LE(e_q.max, 1e-18);
}

// ---------------------------------------------------------------------------------------------
// Special values.

constexpr uint64_t kNanBits = 0x7ff8000000000000ull;

TEST(PortableMath, SpecialValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double neg_nan = -nan;
  for (double n : {nan, neg_nan, pm::from_bits(0x7ff0000000000001ull)}) {
    EXPECT_EQ(bits(pm::exp(n)), kNanBits);
    EXPECT_EQ(bits(pm::expm1(n)), kNanBits);
    EXPECT_EQ(bits(pm::log(n)), kNanBits);
    EXPECT_EQ(bits(pm::log1p(n)), kNanBits);
    EXPECT_EQ(bits(pm::normal_quantile(n)), kNanBits);
    EXPECT_EQ(bits(pm::normal_quantile(n, 0.5)), kNanBits);
    EXPECT_EQ(bits(pm::normal_quantile(0.5, n)), kNanBits);
    EXPECT_EQ(bits(pm::sigmoid(n)), kNanBits);
    EXPECT_EQ(bits(pm::log_sigmoid(n)), kNanBits);
    EXPECT_EQ(bits(pm::log1m_sigmoid(n)), kNanBits);
  }
  // exp
  EXPECT_EQ(pm::exp(kInf), kInf);
  EXPECT_EQ(bits(pm::exp(-kInf)), bits(0.0));
  EXPECT_EQ(pm::exp(0.0), 1.0);
  EXPECT_EQ(pm::exp(-0.0), 1.0);
  EXPECT_EQ(pm::exp(0x1.62e42fefa39efp+9), 0x1.fffffffffff2ap+1023);
  EXPECT_EQ(pm::exp(next_up(0x1.62e42fefa39efp+9)), kInf);
  EXPECT_EQ(pm::exp(kMax), kInf);
  EXPECT_EQ(pm::exp(-0x1.74910d52d3051p+9), kMinSub);
  EXPECT_EQ(bits(pm::exp(next_down(-0x1.74910d52d3051p+9))), bits(0.0));
  EXPECT_EQ(bits(pm::exp(-kMax)), bits(0.0));
  EXPECT_EQ(pm::exp(1.0), 0x1.5bf0a8b145769p+1);
  EXPECT_EQ(pm::exp(kLn2), 2.0);
  EXPECT_EQ(pm::exp(0x1p-60), 1.0);
  EXPECT_EQ(pm::exp(-0x1p-60), 1.0);
  // expm1
  EXPECT_EQ(pm::expm1(kInf), kInf);
  EXPECT_EQ(pm::expm1(-kInf), -1.0);
  EXPECT_EQ(bits(pm::expm1(0.0)), bits(0.0));
  EXPECT_EQ(bits(pm::expm1(-0.0)), bits(-0.0));
  EXPECT_EQ(pm::expm1(kMinSub), kMinSub);
  EXPECT_EQ(pm::expm1(-kMinSub), -kMinSub);
  EXPECT_EQ(pm::expm1(0x1p-60), 0x1p-60);
  EXPECT_EQ(pm::expm1(next_up(0x1.62e42fefa39efp+9)), kInf);
  EXPECT_EQ(pm::expm1(0x1.62e42fefa39efp+9), 0x1.fffffffffff2ap+1023);
  EXPECT_EQ(pm::expm1(-40.0), -1.0);
  EXPECT_EQ(pm::expm1(-38.0), -1.0);                   // e^-38 < 2^-54: rounds to -1
  EXPECT_EQ(pm::expm1(-36.0), -0x1.ffffffffffffep-1);  // -1 + e^-36, 2.07 ulps above -1
  EXPECT_EQ(pm::expm1(-kMax), -1.0);
  // log
  EXPECT_EQ(pm::log(0.0), -kInf);
  EXPECT_EQ(pm::log(-0.0), -kInf);
  EXPECT_EQ(bits(pm::log(-1.0)), kNanBits);
  EXPECT_EQ(bits(pm::log(-kMinSub)), kNanBits);
  EXPECT_EQ(bits(pm::log(-kInf)), kNanBits);
  EXPECT_EQ(pm::log(kInf), kInf);
  EXPECT_EQ(bits(pm::log(1.0)), bits(0.0));
  EXPECT_EQ(pm::log(2.0), kLn2);
  EXPECT_EQ(pm::log(kMinSub), -0x1.74385446d71c3p+9);  // -744.44007192138126...
  EXPECT_EQ(pm::log(kMax), 0x1.62e42fefa39efp+9);
  // log1p
  EXPECT_EQ(pm::log1p(-1.0), -kInf);
  EXPECT_EQ(bits(pm::log1p(next_down(-1.0))), kNanBits);
  EXPECT_EQ(bits(pm::log1p(-kInf)), kNanBits);
  EXPECT_EQ(pm::log1p(kInf), kInf);
  EXPECT_EQ(bits(pm::log1p(0.0)), bits(0.0));
  EXPECT_EQ(bits(pm::log1p(-0.0)), bits(-0.0));
  EXPECT_EQ(pm::log1p(kMinSub), kMinSub);
  EXPECT_EQ(pm::log1p(-kMinSub), -kMinSub);
  EXPECT_EQ(pm::log1p(1.0), kLn2);
  EXPECT_EQ(pm::log1p(kMax), 0x1.62e42fefa39efp+9);
  // normal_quantile
  EXPECT_EQ(pm::normal_quantile(0.0), -kInf);
  EXPECT_EQ(pm::normal_quantile(1.0), kInf);
  EXPECT_EQ(bits(pm::normal_quantile(0.5)), bits(0.0));
  EXPECT_EQ(bits(pm::normal_quantile(-kMinSub)), kNanBits);
  EXPECT_EQ(bits(pm::normal_quantile(next_up(1.0))), kNanBits);
  EXPECT_EQ(bits(pm::normal_quantile(kInf)), kNanBits);
  EXPECT_EQ(bits(pm::normal_quantile(-kInf)), kNanBits);
  EXPECT_EQ(pm::normal_quantile(0.0, 1.0), -kInf);
  EXPECT_EQ(pm::normal_quantile(1.0, 0.0), kInf);
  EXPECT_EQ(bits(pm::normal_quantile(0.5, 0.5)), bits(0.0));
  EXPECT_EQ(bits(pm::normal_quantile(-0.25, 1.25)), kNanBits);
  EXPECT_EQ(bits(pm::normal_quantile(1.25, -0.25)), kNanBits);
  EXPECT_TRUE(std::isfinite(pm::normal_quantile(kMinSub)));
  EXPECT_LT(pm::normal_quantile(kMinSub), -38.0);
  // logistic
  EXPECT_EQ(pm::sigmoid(kInf), 1.0);
  EXPECT_EQ(bits(pm::sigmoid(-kInf)), bits(0.0));
  EXPECT_EQ(pm::sigmoid(0.0), 0.5);
  EXPECT_EQ(pm::sigmoid(-0.0), 0.5);
  EXPECT_EQ(pm::sigmoid(800.0), 1.0);
  EXPECT_EQ(bits(pm::sigmoid(-800.0)), bits(0.0));
  EXPECT_EQ(pm::sigmoid(-745.0), kMinSub);  // e^-745 = 0.57 * 2^-1074
  EXPECT_EQ(bits(pm::log_sigmoid(kInf)), bits(0.0));
  EXPECT_EQ(pm::log_sigmoid(-kInf), -kInf);
  EXPECT_EQ(pm::log_sigmoid(0.0), -kLn2);
  EXPECT_EQ(pm::log_sigmoid(-1e300), -1e300);
  EXPECT_EQ(pm::log_sigmoid(1e3), -0.0);
  EXPECT_EQ(bits(pm::log1m_sigmoid(-kInf)), bits(0.0));
  EXPECT_EQ(pm::log1m_sigmoid(kInf), -kInf);
  EXPECT_EQ(pm::log1m_sigmoid(0.0), -kLn2);
  EXPECT_EQ(pm::log1m_sigmoid(1e300), -1e300);
}

TEST(PortableMath, QuantileSymmetryAndForms) {
  Rng rng(0x5eed0008);
  for (int i = 0; i < 20000; ++i) {
    const double p = ((rng.word() >> 32) + 0.5) * 0x1p-32;
    const double pc = 1.0 - p;  // exact for this form
    ASSERT_EQ(1.0 - pc, p);
    // Exact antisymmetry of the two-argument form.
    EXPECT_EQ(bits(pm::normal_quantile(p, pc)), bits(-pm::normal_quantile(pc, p))) << p;
    // For p >= 1/2 both forms see the same exact q and tail, so agree bit for bit.
    const double hi = std::max(p, pc), lo = std::min(p, pc);
    EXPECT_EQ(bits(pm::normal_quantile(hi)), bits(pm::normal_quantile(hi, lo))) << hi;
  }
}

// The host build must not contract a*b+c into a fused multiply-add (-ffp-contract=off): with
// a = 1 + 2^-30, b = 1 - 2^-30, c = -1, RN(RN(a*b) + c) = 0 but fma(a, b, c) = -2^-60.
TEST(PortableMath, NoContraction) {
  volatile double va = 1.0 + 0x1p-30, vb = 1.0 - 0x1p-30, vc = -1.0;
  const double a = va, b = vb, c = vc;
  EXPECT_EQ(pm::add(pm::mul(a, b), c), 0.0);
  EXPECT_EQ(std::fma(a, b, c), -0x1p-60);
}

// ---------------------------------------------------------------------------------------------
// Monotonicity.

template <class F>
void expect_nondecreasing(std::vector<double> xs, F f, const char* name) {
  std::sort(xs.begin(), xs.end());
  double prev = -kInf;
  double prev_x = -kInf;
  for (double x : xs) {
    const double y = f(x);
    ASSERT_GE(y, prev) << name << " decreases between " << prev_x << " and " << x;
    prev = y;
    prev_x = x;
  }
}

TEST(PortableMath, Monotonic) {
  // Consecutive doubles across every reduction boundary plus the sweeps above.
  std::vector<double> ex = exp_inputs();
  for (int k = -1076; k <= 1024; ++k) around(ex, (k + 0.5) * kLn2, 40);
  expect_nondecreasing(
      ex, [](double x) { return pm::exp(x); }, "exp");
  std::vector<double> em = expm1_inputs();
  for (int k = -60; k <= 1024; ++k) around(em, (k + 0.5) * kLn2, 40);
  expect_nondecreasing(
      em, [](double x) { return pm::expm1(x); }, "expm1");
  std::vector<double> lg = log_inputs();
  for (int e = -1074; e < 1023; ++e) around(lg, std::ldexp(0x1.6a09e667f3bcdp+0, e), 40);
  lg.erase(std::remove_if(lg.begin(), lg.end(), [](double x) { return !(x > 0.0); }), lg.end());
  expect_nondecreasing(
      lg, [](double x) { return pm::log(x); }, "log");
  std::vector<double> l1 = log1p_inputs();
  around(l1, 0x1.a827999fcef32p-2, 200);
  around(l1, -0x1.2bec333018867p-2, 200);
  expect_nondecreasing(
      l1, [](double x) { return pm::log1p(x); }, "log1p");
  const std::vector<double> lx = logistic_inputs();
  expect_nondecreasing(
      lx, [](double x) { return pm::sigmoid(x); }, "sigmoid");
  expect_nondecreasing(
      lx, [](double x) { return pm::log_sigmoid(x); }, "log_sigmoid");
  expect_nondecreasing(
      lx, [](double x) { return -pm::log1m_sigmoid(x); }, "-log1m_sigmoid");
  // The quantile carries a few ulps of rounding noise while x(p) moves by far less than an
  // ulp between adjacent doubles p, so it is only monotonic on inputs spaced wider than that:
  // the caller forms (w + 1/2) / 2^32 and (2m + 1) / 2^53 on consecutive w, m (including across
  // the AS 241 branch points |q| = 0.425 and r = 5), and a log-spaced sweep of the tails.
  std::vector<double> ps;
  for (uint64_t w = 0; w < 20000; ++w) ps.push_back((w + 0.5) * 0x1p-32);
  for (double c : {0.075, 0.5, 0.925}) {
    const int64_t w0 = static_cast<int64_t>(c * 0x1p32);
    for (int64_t w = w0 - 20000; w < w0 + 20000; ++w) ps.push_back((w + 0.5) * 0x1p-32);
  }
  for (double c : {std::exp(-25.0), 0.075, 0.5}) {
    const int64_t m0 = static_cast<int64_t>(c * 0x1p52);
    for (int64_t m = m0 - 20000; m < m0 + 20000; ++m) {
      ps.push_back((2 * m + 1) * 0x1p-53);
      ps.push_back(1.0 - (2 * m + 1) * 0x1p-53);
    }
  }
  for (int i = 0; i <= 100000; ++i) {
    const double p = std::exp2(-1074.0 + 1073.0 * i / 100000);
    ps.push_back(p);
    if (p >= 0x1p-53) ps.push_back(1.0 - p);
  }
  expect_nondecreasing(
      ps, [](double p) { return pm::normal_quantile(p); }, "normal_quantile");
}

// ---------------------------------------------------------------------------------------------
// Known answers: bit patterns of THIS implementation, generated from it once and pinned. They
// pin determinism (the same bits on every platform and on the GPU), not accuracy, which the
// tests above check against independent references.

struct Known {
  double x;
  uint64_t y;  // bits of f(x)
};
struct KnownPair {
  double p;
  double pc;
  uint64_t y;  // bits of normal_quantile(p, pc)
};

constexpr Known kExpKnown[] = {
    {0.0, 0x3ff0000000000000ull},
    {0x1p-60, 0x3ff0000000000000ull},
    {-0x1p-60, 0x3ff0000000000000ull},
    {0x1.b7cdfd9d7bdbbp-34, 0x3ff000000006df38ull},
    {-0x1.b7cdfd9d7bdbbp-34, 0x3feffffffff24190ull},
    {0x1p-3, 0x3ff2216045b6f5cdull},
    {-0x1p-3, 0x3fec3d6a24ed8222ull},
    {0x1.62e42fefa39efp-2, 0x3ff6a09e667f3bccull},
    {0x1.62e42fefa39fp-2, 0x3ff6a09e667f3bcdull},
    {-0x1.62e42fefa39efp-2, 0x3fe6a09e667f3bcdull},
    {0x1p-1, 0x3ffa61298e1e069cull},
    {-0x1p-1, 0x3fe368b2fc6f960aull},
    {0x1p+0, 0x4005bf0a8b145769ull},
    {-0x1p+0, 0x3fd78b56362cef38ull},
    {0x1.4p+1, 0x40285d6fd931e0bbull},
    {-0x1.4p+1, 0x3fb50385c094f425ull},
    {0x1.4p+3, 0x40d5829dcf950560ull},
    {-0x1.4p+3, 0x3f07cd79b5647c9bull},
    {0x1.2cp+5, 0x4351293919c201e5ull},
    {-0x1.2cp+5, 0x3c8dd5c566301ec8ull},
    {0x1.9p+6, 0x48f3494a9b171bf5ull},
    {-0x1.9p+6, 0x36ea8c1f14e2af5dull},
    {0x1.4d4cccccccccdp+8, 0x5dfcd85c19e763d1ull},
    {-0x1.4d4cccccccccdp+8, 0x21e1bffc932ffe0dull},
    {0x1.5ep+9, 0x7f0d945df4f8ec8eull},
    {0x1.62e42fefa39efp+9, 0x7fefffffffffff2aull},
    {-0x1.62p+9, 0x0017c8ab2288c9abull},
    {-0x1.624p+9, 0x000e6cf6d08897acull},
    {-0x1.682p+9, 0x000000077564144full},
    {-0x1.72p+9, 0x0000000000000055ull},
    {-0x1.748p+9, 0x0000000000000001ull},
    {-0x1.74910d52d3051p+9, 0x0000000000000001ull},
};
constexpr Known kExpm1Known[] = {
    {0x1p-55, 0x3c80000000000000ull},
    {-0x1p-55, 0xbc80000000000000ull},
    {0x1.b7cdfd9d7bdbbp-34, 0x3ddb7cdfd9dda4e3ull},
    {-0x1.b7cdfd9d7bdbbp-34, 0xbddb7cdfd9d1d693ull},
    {0x1.4f8b588e368f1p-17, 0x3ee4f8bc681cdfb6ull},
    {-0x1.4f8b588e368f1p-17, 0xbee4f8aea9acf2c9ull},
    {0x1.47ae147ae147bp-7, 0x3f84952e9791133full},
    {-0x1.47ae147ae147bp-7, 0xbf8460c0b518c09full},
    {0x1p-3, 0x3fc10b022db7ae68ull},
    {-0x1p-3, 0xbfbe14aed893eef4ull},
    {0x1.3333333333333p-2, 0x3fd6641632306a56ull},
    {-0x1.3333333333333p-2, 0xbfd0966f2c7907f6ull},
    {0x1.62e42fefa39efp-2, 0x3fda827999fcef32ull},
    {0x1.999999999999ap-2, 0x3fdf7a0e4beeff80ull},
    {-0x1.999999999999ap-2, 0xbfd51979f31b1e25ull},
    {0x1.8p-1, 0x3ff1df3b68cfb9efull},
    {-0x1.8p-1, 0xbfe0e25f8a081941ull},
    {0x1p+0, 0x3ffb7e151628aed3ull},
    {-0x1p+0, 0xbfe43a54e4e98864ull},
    {0x1p+1, 0x40198e64b8d4ddaeull},
    {-0x1p+1, 0xbfebab5557101f8dull},
    {0x1.4p+2, 0x40626d389970338full},
    {-0x1.4p+2, 0xbfefc8cd803fe559ull},
    {0x1.4p+4, 0x41bceb088a68e804ull},
    {-0x1.4p+4, 0xbfeffffffee4b79bull},
    {0x1.3p+5, 0x435c4b334617cc67ull},
    {-0x1.2p+5, 0xbfeffffffffffffeull},
    {0x1.44p+5, 0x43958b03e6797728ull},
    {0x1.9p+6, 0x48f3494a9b171bf5ull},
    {0x1.f4p+8, 0x6d045ba2a9f7e439ull},
    {0x1.62cp+9, 0x7fe81e9b4b52d0c9ull},
    {0x1.62e42fefa39efp+9, 0x7fefffffffffff2aull},
};
constexpr Known kLogKnown[] = {
    {0x0.0000000000001p-1022, 0xc0874385446d71c3ull},
    {0x0.0000000006p-1022, 0xc086f2a4f5736e06ull},
    {0x0.012688b70e62bp-1022, 0xc0864e69394d9508ull},
    {0x1p-1022, 0xc086232bdd7abcd2ull},
    {0x1.56e1fc2f8f359p-997, 0xc085963447f87fb5ull},
    {0x1.bff2ee48e053p-333, 0xc06cc845b54b54f2ull},
    {0x1.79ca10c924223p-67, 0xc047069e2aa2aa5bull},
    {0x1.4f8b588e368f1p-17, 0xc027069e2aa2aa5bull},
    {0x1.999999999999ap-4, 0xc0026bb1bbb55515ull},
    {0x1p-2, 0xbff62e42fefa39efull},
    {0x1p-1, 0xbfe62e42fefa39efull},
    {0x1.6a09e667f3bcdp-1, 0xbfd62e42fefa39eeull},
    {0x1.8p-1, 0xbfd269621134db92ull},
    {0x1.fae147ae147aep-1, 0xbf8495453e6fd4bcull},
    {0x1.fffffffffffffp-1, 0xbca0000000000000ull},
    {0x1p+0, 0x0000000000000000ull},
    {0x1.0000000000001p+0, 0x3cafffffffffffffull},
    {0x1.028f5c28f5c29p+0, 0x3f8460d6ccca367cull},
    {0x1.4p+0, 0x3fcc8ff7c79a9a22ull},
    {0x1.6a09e667f3bccp+0, 0x3fd62e42fefa39eeull},
    {0x1.6a09e667f3bcdp+0, 0x3fd62e42fefa39f0ull},
    {0x1p+1, 0x3fe62e42fefa39efull},
    {0x1.8p+1, 0x3ff193ea7aad030bull},
    {0x1.4p+3, 0x40026bb1bbb55516ull},
    {0x1.86ap+16, 0x4027069e2aa2aa5bull},
    {0x1.5af1d78b58c4p+66, 0x4047069e2aa2aa5bull},
    {0x1.249ad2594c37dp+332, 0x406cc845b54b54f2ull},
    {0x1.7e43c8800759cp+996, 0x4085963447f87fb5ull},
    {0x1.fffffffffffffp+1023, 0x40862e42fefa39efull},
    {0x1.edd2f1a9fbe77p+6, 0x401343774f3e2362ull},
};
constexpr Known kLog1pKnown[] = {
    {0x1p-55, 0x3c80000000000000ull},
    {-0x1p-55, 0xbc80000000000000ull},
    {0x1.79ca10c924223p-67, 0x3bc79ca10c924223ull},
    {-0x1.79ca10c924223p-67, 0xbbc79ca10c924223ull},
    {0x1.b7cdfd9d7bdbbp-34, 0x3ddb7cdfd9d1d693ull},
    {-0x1.b7cdfd9d7bdbbp-34, 0xbddb7cdfd9dda4e3ull},
    {0x1.4f8b588e368f1p-17, 0x3ee4f8aea9ae7317ull},
    {-0x1.4f8b588e368f1p-17, 0xbee4f8bc681e6006ull},
    {0x1.47ae147ae147bp-7, 0x3f8460d6ccca3677ull},
    {-0x1.47ae147ae147bp-7, 0xbf8495453e6fd4b7ull},
    {0x1.999999999999ap-3, 0x3fc7565011e49677ull},
    {-0x1.999999999999ap-3, 0xbfcc8ff7c79a9a22ull},
    {-0x1.2bd3c36113405p-2, 0xbfd62c1a17840102ull},
    {0x1.a8240b780346ep-2, 0x3fd62e1ac5b1d182ull},
    {-0x1.3333333333333p-2, 0xbfd6d3c324e13f4eull},
    {0x1.ccccccccccccdp-2, 0x3fd7c7b282d0d46cull},
    {-0x1p-1, 0xbfe62e42fefa39efull},
    {-0x1.8p-1, 0xbff62e42fefa39efull},
    {-0x1.ff7ced916872bp-1, 0xc01ba18a998fff9full},
    {-0x1.fffffffffffffp-1, 0xc0425e4f7b2737faull},
    {0x1.ccccccccccccdp-1, 0x3fe48a11293d785cull},
    {0x1p+0, 0x3fe62e42fefa39efull},
    {0x1.8p+0, 0x3fed5240f0e0e078ull},
    {0x1.8p+1, 0x3ff62e42fefa39efull},
    {0x1.4p+3, 0x40032ee3b77f374cull},
    {0x1.2a05f2p+33, 0x4037069e2aa3184eull},
    {0x1.1c37937e08p+53, 0x40426bb1bbb55516ull},
    {0x1.5af1d78b58c4p+66, 0x4047069e2aa2aa5bull},
    {0x1.7e43c8800759cp+996, 0x4085963447f87fb5ull},
    {0x1.fffffffffffffp+1023, 0x40862e42fefa39efull},
};
constexpr Known kQuantileKnown[] = {
    {0x0.0000000000001p-1022, 0xc0433bd3f27fcd02ull},
    {0x1.56e1fc2f8f359p-997, 0xc04286074064c26eull},
    {0x1.bff2ee48e053p-333, 0xc03546010d75521full},
    {0x1.4484bfeebc2ap-100, 0xc026ed94a4dacdc9ull},
    {0x1p-54, 0xc02095b059d67c4cull},
    {0x1.8p-52, 0xc0202734508d1f1cull},
    {0x1.19799812dea11p-40, 0xc01c234fba57a32aull},
    {0x1.e8a37a45fc32ep-37, 0xc01aa1b1c13ee525ull},
    {0x1p-33, 0xc0195a1198fcf3d5ull},
    {0x1.0c6f7a0b5ed8dp-20, 0xc0130381a9799f7eull},
    {0x1.0624dd2f1a9fcp-10, 0xc008b8cbb7204470ull},
    {0x1.999999999999ap-6, 0xbfff5c0331eeff83ull},
    {0x1.3328b6d86ec18p-4, 0xbff7089c3b117169ull},
    {0x1.3333333333333p-4, 0xbff7085226d3e523ull},
    {0x1.339c0ebedfa44p-4, 0xbff7056dc6686c9aull},
    {0x1.999999999999ap-4, 0xbff4813c36e26d34ull},
    {0x1p-2, 0xbfe5956b87528a49ull},
    {0x1.3333333333333p-2, 0xbfe0c7e39582c5faull},
    {0x1.ccccccccccccdp-2, 0xbfc015abc78e92cfull},
    {0x1.ffe5c91d14e3cp-2, 0xbf306d6ca8553fc1ull},
    {0x1p-1, 0x0000000000000000ull},
    {0x1.0000000002p-1, 0x3d840d931ff62707ull},
    {0x1.3333333333333p-1, 0x3fd036d6c4a04b5aull},
    {0x1.8p-1, 0x3fe5956b87528a49ull},
    {0x1.ccccccccccccdp-1, 0x3ff4813c36e26d34ull},
    {0x1.d99999999999ap-1, 0x3ff7085226d3e524ull},
    {0x1.f333333333333p-1, 0x3fff5c0331eeff82ull},
    {0x1.ff7ced916872bp-1, 0x4008b8cbb7204470ull},
    {0x1.ffffffffp-1, 0x40195a1198fcf3d5ull},
    {0x1.fffffffffffffp-1, 0x40206b48528cea51ull},
};
constexpr KnownPair kQuantilePairKnown[] = {
    {0x1p-33, 0x1.ffffffffp-1, 0xc0195a1198fcf3d5ull},
    {0x1.ffffffffp-1, 0x1p-33, 0x40195a1198fcf3d5ull},
    {0x1.8p-32, 0x1.fffffffdp-1, 0xc018aa6c7fe07fdeull},
    {0x1.fffffffdp-1, 0x1.8p-32, 0x4018aa6c7fe07fdeull},
    {0x1p-53, 0x1.fffffffffffffp-1, 0xc0206b48528cea51ull},
    {0x1.fffffffffffffp-1, 0x1p-53, 0x40206b48528cea51ull},
    {0x1.8p-52, 0x1.ffffffffffffdp-1, 0xc0202734508d1f1cull},
    {0x1.ffffffffffffdp-1, 0x1.8p-52, 0x40202734508d1f1cull},
    {0x1.47ae147ae147bp-7, 0x1.fae147ae147aep-1, 0xc0029c5c4630ff0eull},
    {0x1.fae147ae147aep-1, 0x1.47ae147ae147bp-7, 0x40029c5c4630ff0eull},
    {0x1.1eb851eb851ecp-4, 0x1.dc28f5c28f5c2p-1, 0xbff79cd70d9c27f0ull},
    {0x1.dc28f5c28f5c2p-1, 0x1.1eb851eb851ecp-4, 0x3ff79cd70d9c27f0ull},
    {0x1.47ae147ae147bp-4, 0x1.d70a3d70a3d71p-1, 0xbff67b2c51011cefull},
    {0x1.d70a3d70a3d71p-1, 0x1.47ae147ae147bp-4, 0x3ff67b2c51011cefull},
    {0x1.999999999999ap-3, 0x1.999999999999ap-1, 0xbfeaee8fa73a1335ull},
    {0x1.999999999999ap-1, 0x1.999999999999ap-3, 0x3feaee8fa73a1335ull},
    {0x1.51eb851eb851fp-2, 0x1.570a3d70a3d7p-1, 0xbfdc27898ce95e17ull},
    {0x1.570a3d70a3d7p-1, 0x1.51eb851eb851fp-2, 0x3fdc27898ce95e17ull},
    {0x1.f5c28f5c28f5cp-2, 0x1.051eb851eb852p-1, 0xbf99aba9f4786911ull},
    {0x1.051eb851eb852p-1, 0x1.f5c28f5c28f5cp-2, 0x3f99aba9f4786911ull},
};
constexpr Known kSigmoidKnown[] = {
    {-0x1.9p+9, 0x0000000000000000ull},
    {-0x1.748p+9, 0x0000000000000001ull},
    {-0x1.72p+9, 0x0000000000000055ull},
    {-0x1.628p+9, 0x0008bfe55de02338ull},
    {-0x1.9p+6, 0x36ea8c1f14e2af5dull},
    {-0x1.28p+5, 0x3c9898471fca6055ull},
    {-0x1.4p+4, 0x3e21b4865556b5d4ull},
    {-0x1.4p+3, 0x3f07cd32e41dd960ull},
    {-0x1.4p+2, 0x3f7b69f67d638f8full},
    {-0x1p+1, 0x3fbe84152bac31aeull},
    {-0x1p+0, 0x3fd136561454ba86ull},
    {-0x1p-1, 0x3fd829a0565978dfull},
    {-0x1.999999999999ap-4, 0x3fde66bdb1aca090ull},
    {-0x1.4f8b588e368f1p-17, 0x3fdffff583a53b8eull},
    {-0x1.79ca10c924223p-67, 0x3fe0000000000000ull},
    {0.0, 0x3fe0000000000000ull},
    {0x1.79ca10c924223p-67, 0x3fe0000000000000ull},
    {0x1.4f8b588e368f1p-17, 0x3fe000053e2d6238ull},
    {0x1.999999999999ap-4, 0x3fe0cca12729afb8ull},
    {0x1p-1, 0x3fe3eb2fd4d34391ull},
    {0x1p+0, 0x3fe764d4f5d5a2bdull},
    {0x1p+1, 0x3fec2f7d5a8a79c9ull},
    {0x1.4p+2, 0x3fefc92c130538e2ull},
    {0x1.4p+3, 0x3fefffa0cb346f89ull},
    {0x1.4p+4, 0x3feffffffee4b79aull},
    {0x1.2p+5, 0x3feffffffffffffeull},
    {0x1.28p+5, 0x3ff0000000000000ull},
    {0x1.4p+5, 0x3ff0000000000000ull},
    {0x1.9p+6, 0x3ff0000000000000ull},
    {0x1.9p+9, 0x3ff0000000000000ull},
};
constexpr Known kLogSigmoidKnown[] = {
    {-0x1.9p+9, 0xc089000000000000ull},
    {-0x1.748p+9, 0xc087480000000000ull},
    {-0x1.72p+9, 0xc087200000000000ull},
    {-0x1.628p+9, 0xc086280000000000ull},
    {-0x1.9p+6, 0xc059000000000000ull},
    {-0x1.28p+5, 0xc042800000000000ull},
    {-0x1.4p+4, 0xc03400000008da43ull},
    {-0x1.4p+3, 0xc0240005f3559328ull},
    {-0x1.4p+2, 0xc01406e06368916aull},
    {-0x1p+1, 0xc00103f2d54301d5ull},
    {-0x1p+0, 0xbff5031eafefb049ull},
    {-0x1p-1, 0xbfef2ba37edae032ull},
    {-0x1.999999999999ap-4, 0xbfe7d218f1c8904full},
    {-0x1.4f8b588e368f1p-17, 0xbfe62e4d7b56b62eull},
    {-0x1.79ca10c924223p-67, 0xbfe62e42fefa39efull},
    {0.0, 0xbfe62e42fefa39efull},
    {0x1.79ca10c924223p-67, 0xbfe62e42fefa39efull},
    {0x1.4f8b588e368f1p-17, 0xbfe62e3882a12d4bull},
    {0x1.999999999999ap-4, 0xbfe49ee5be955d1cull},
    {0x1p-1, 0xbfde5746fdb5c064ull},
    {0x1p+0, 0xbfd40c7abfbec125ull},
    {0x1p+1, 0xbfc03f2d54301d49ull},
    {0x1.4p+2, 0xbf7b818da245a728ull},
    {0x1.4p+3, 0xbf07cd564c9e0d19ull},
    {0x1.4p+4, 0xbe21b48655a5141eull},
    {0x1.2p+5, 0xbcb0b6c3afdde063ull},
    {0x1.28p+5, 0xbc9898471fca6055ull},
    {0x1.4p+5, 0xbc539792499b1a24ull},
    {0x1.9p+6, 0xb6ea8c1f14e2af5dull},
    {0x1.9p+9, 0x0000000000000000ull},
};
constexpr Known kLog1mSigmoidKnown[] = {
    {-0x1.9p+9, 0x0000000000000000ull},
    {-0x1.748p+9, 0x8000000000000001ull},
    {-0x1.72p+9, 0x8000000000000055ull},
    {-0x1.628p+9, 0x8008bfe55de02338ull},
    {-0x1.9p+6, 0xb6ea8c1f14e2af5dull},
    {-0x1.28p+5, 0xbc9898471fca6055ull},
    {-0x1.4p+4, 0xbe21b48655a5141eull},
    {-0x1.4p+3, 0xbf07cd564c9e0d19ull},
    {-0x1.4p+2, 0xbf7b818da245a728ull},
    {-0x1p+1, 0xbfc03f2d54301d49ull},
    {-0x1p+0, 0xbfd40c7abfbec125ull},
    {-0x1p-1, 0xbfde5746fdb5c064ull},
    {-0x1.999999999999ap-4, 0xbfe49ee5be955d1cull},
    {-0x1.4f8b588e368f1p-17, 0xbfe62e3882a12d4bull},
    {-0x1.79ca10c924223p-67, 0xbfe62e42fefa39efull},
    {0.0, 0xbfe62e42fefa39efull},
    {0x1.79ca10c924223p-67, 0xbfe62e42fefa39efull},
    {0x1.4f8b588e368f1p-17, 0xbfe62e4d7b56b62eull},
    {0x1.999999999999ap-4, 0xbfe7d218f1c8904full},
    {0x1p-1, 0xbfef2ba37edae032ull},
    {0x1p+0, 0xbff5031eafefb049ull},
    {0x1p+1, 0xc00103f2d54301d5ull},
    {0x1.4p+2, 0xc01406e06368916aull},
    {0x1.4p+3, 0xc0240005f3559328ull},
    {0x1.4p+4, 0xc03400000008da43ull},
    {0x1.2p+5, 0xc042000000000000ull},
    {0x1.28p+5, 0xc042800000000000ull},
    {0x1.4p+5, 0xc044000000000000ull},
    {0x1.9p+6, 0xc059000000000000ull},
    {0x1.9p+9, 0xc089000000000000ull},
};

template <size_t N, class F>
void expect_known(const char* name, F f, const Known (&table)[N]) {
  for (const Known& k : table) {
    EXPECT_EQ(bits(f(k.x)), k.y) << name << "(" << std::hexfloat << k.x << ") = " << f(k.x)
                                 << std::defaultfloat;
  }
}

TEST(PortableMath, KnownAnswers) {
  expect_known(
      "exp", [](double x) { return pm::exp(x); }, kExpKnown);
  expect_known(
      "expm1", [](double x) { return pm::expm1(x); }, kExpm1Known);
  expect_known(
      "log", [](double x) { return pm::log(x); }, kLogKnown);
  expect_known(
      "log1p", [](double x) { return pm::log1p(x); }, kLog1pKnown);
  expect_known(
      "normal_quantile", [](double p) { return pm::normal_quantile(p); }, kQuantileKnown);
  for (const KnownPair& k : kQuantilePairKnown) {
    EXPECT_EQ(bits(pm::normal_quantile(k.p, k.pc)), k.y) << std::hexfloat << k.p << ", " << k.pc;
  }
  expect_known(
      "sigmoid", [](double x) { return pm::sigmoid(x); }, kSigmoidKnown);
  expect_known(
      "log_sigmoid", [](double x) { return pm::log_sigmoid(x); }, kLogSigmoidKnown);
  expect_known(
      "log1m_sigmoid", [](double x) { return pm::log1m_sigmoid(x); }, kLog1mSigmoidKnown);
}

}  // namespace
