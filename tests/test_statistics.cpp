// Copyright (c) Mirage developers.
//! \file test_statistics.cpp
//! Tests of host/stats/statistics.h. Reference values say where they come from:
//! - "closed form": the formula typed again here, independently of statistics.cpp, with z
//!   hard-coded (z_{0.95} = 1.959963984540054, z_{0.90} = 1.6448536269514727, z_{0.99} =
//!   2.5758293035489008, from sqrt(2) erfinv(confidence) in mpmath 1.3 at 40 digits);
//! - "mpmath": computed at 40 significant digits with mpmath 1.3.0 (regularized incomplete
//!   beta `betainc` inverted by bisection, exact binomial sums), rounded to 17 digits;
//! - "numpy": numpy 2.4 `np.quantile` (type 7), or the same hand computation;
//! - identities that hold exactly (the binomial CDF at Clopper-Pearson bounds is alpha/2).
#include "stats/statistics.h"
#include "stats/int128.h"

#include <gtest/gtest.h>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double INF = std::numeric_limits<double>::infinity();

// A fixed-seed 64-bit linear congruential generator (Knuth's MMIX constants): the top 31 bits
// of its state per call, for the randomized bit-identity tests below.
struct Lcg {
  uint64_t state;
  uint64_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  }
};

// Two-sided normal critical values, from mpmath: sqrt(2) * erfinv(confidence).
constexpr double Z95 = 1.959963984540054;
constexpr double Z90 = 1.6448536269514727;
constexpr double Z99 = 2.5758293035489008;

double z_for(double confidence) {
  if (confidence == 0.95) return Z95;
  if (confidence == 0.90) return Z90;
  return Z99;
}

//! |actual - expected| <= rel * |expected| (+ a tiny absolute floor for expected == 0).
::testing::AssertionResult near_rel(double actual, double expected, double rel) {
  const double tol = rel * std::fabs(expected) + 1e-300;
  if (std::fabs(actual - expected) <= tol) return ::testing::AssertionSuccess();
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "actual %.17g, expected %.17g (rel tol %g)", actual,
                expected, rel);
  return ::testing::AssertionFailure() << buffer;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

struct Case {
  int64_t x;
  int64_t n;
  double confidence;
};

const std::vector<Case>& grid() {
  static const std::vector<Case> cases = {
      {0, 1, 0.95},          {1, 1, 0.95},         {0, 10, 0.95},     {10, 10, 0.95},
      {5, 10, 0.95},         {3, 17, 0.90},        {7, 50, 0.99},     {1, 100, 0.95},
      {99, 100, 0.95},       {42, 1000, 0.95},     {0, 2, 0.90},      {1, 2, 0.99},
      {2, 2, 0.90},          {13, 29, 0.99},       {0, 100000, 0.95}, {1, 100000, 0.95},
      {99999, 100000, 0.90}, {31415, 100000, 0.99}};
  return cases;
}

// ---------------------------------------------------------------------------------------
// Names

TEST(IntervalNames, RoundTripAndOrder) {
  const std::vector<std::string> names = {
      "wilson", "clopper-pearson", "jeffreys",         "agresti-coull",
      "wald",   "logit",           "likelihood-ratio", "blaker"};
  ASSERT_EQ(all_interval_methods().size(), names.size());
  EXPECT_EQ(all_interval_methods()[0], IntervalMethod::WILSON);
  EXPECT_EQ(all_interval_methods()[1], IntervalMethod::CLOPPER_PEARSON);
  EXPECT_EQ(all_interval_methods()[2], IntervalMethod::JEFFREYS);
  EXPECT_EQ(all_interval_methods()[3], IntervalMethod::AGRESTI_COULL);
  EXPECT_EQ(all_interval_methods()[4], IntervalMethod::WALD);
  EXPECT_EQ(all_interval_methods()[5], IntervalMethod::LOGIT);
  EXPECT_EQ(all_interval_methods()[6], IntervalMethod::LIKELIHOOD_RATIO);
  EXPECT_EQ(all_interval_methods()[7], IntervalMethod::BLAKER);
  // The new methods were appended: the old enumerators keep their indices.
  EXPECT_EQ(static_cast<int>(IntervalMethod::WALD), 4);
  EXPECT_EQ(static_cast<int>(IntervalMethod::BLAKER), 7);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(to_string(all_interval_methods()[i]), names[i]);
    EXPECT_EQ(parse_interval_method(names[i]), all_interval_methods()[i]);
  }
  const std::vector<std::string> mean_names = {"student-t", "normal", "wilson-deff",
                                               "clopper-pearson-deff"};
  ASSERT_EQ(all_mean_interval_methods().size(), mean_names.size());
  EXPECT_EQ(all_mean_interval_methods()[0], MeanIntervalMethod::STUDENT_T);
  EXPECT_EQ(all_mean_interval_methods()[1], MeanIntervalMethod::NORMAL);
  EXPECT_EQ(all_mean_interval_methods()[2], MeanIntervalMethod::WILSON_DEFF);
  EXPECT_EQ(all_mean_interval_methods()[3], MeanIntervalMethod::CLOPPER_PEARSON_DEFF);
  EXPECT_EQ(static_cast<int>(MeanIntervalMethod::NORMAL), 1);
  for (size_t i = 0; i < mean_names.size(); ++i) {
    EXPECT_EQ(to_string(all_mean_interval_methods()[i]), mean_names[i]);
    EXPECT_EQ(parse_mean_interval_method(mean_names[i]), all_mean_interval_methods()[i]);
  }
}

TEST(IntervalNames, UnknownNameMessage) {
  EXPECT_EQ(message_of([] { parse_interval_method("foo"); }),
            "--interval: unknown method 'foo'; allowed: wilson, clopper-pearson, jeffreys, "
            "agresti-coull, wald, logit, likelihood-ratio, blaker");
  EXPECT_EQ(message_of([] { parse_mean_interval_method("t"); }),
            "--mean-interval: unknown method 't'; allowed: student-t, normal, wilson-deff, "
            "clopper-pearson-deff");
  EXPECT_THROW(parse_interval_method("Wilson"), std::invalid_argument);
  EXPECT_THROW(parse_interval_method(""), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Proportion intervals: closed forms typed independently

TEST(ProportionInterval, WilsonClosedForm) {
  for (const Case& c : grid()) {
    const double z = z_for(c.confidence);
    const double n = static_cast<double>(c.n);
    const double ph = static_cast<double>(c.x) / n;
    // Brown, Cai & DasGupta (2001) eq. (4).
    const double center = (static_cast<double>(c.x) + z * z / 2) / (n + z * z);
    const double half = z * std::sqrt(n) / (n + z * z) * std::sqrt(ph * (1 - ph) + z * z / (4 * n));
    const Interval ci = proportion_interval(IntervalMethod::WILSON, c.x, c.n, c.confidence);
    SCOPED_TRACE("x=" + std::to_string(c.x) + " n=" + std::to_string(c.n));
    EXPECT_NEAR(ci.low, std::max(0.0, center - half), 1e-14);
    EXPECT_NEAR(ci.high, std::min(1.0, center + half), 1e-14);
    if (c.x == 0) {
      EXPECT_EQ(ci.low, 0.0);
      // The upper end at x = 0 is z^2 / (n + z^2).
      EXPECT_NEAR(ci.high, z * z / (n + z * z), 1e-15);
    }
    if (c.x == c.n) {
      EXPECT_EQ(ci.high, 1.0);
    }
  }
}

TEST(ProportionInterval, AgrestiCoullAndWaldClosedForms) {
  for (const Case& c : grid()) {
    const double z = z_for(c.confidence);
    const double n = static_cast<double>(c.n);
    const double x = static_cast<double>(c.x);
    SCOPED_TRACE("x=" + std::to_string(c.x) + " n=" + std::to_string(c.n));
    // Agresti & Coull (1998); Brown, Cai & DasGupta (2001) section 4.1.3.
    const double nt = n + z * z;
    const double pt = (x + z * z / 2) / nt;
    const double hac = z * std::sqrt(pt * (1 - pt) / nt);
    const Interval ac = proportion_interval(IntervalMethod::AGRESTI_COULL, c.x, c.n, c.confidence);
    EXPECT_NEAR(ac.low, std::max(0.0, pt - hac), 1e-14);
    EXPECT_NEAR(ac.high, std::min(1.0, pt + hac), 1e-14);
    // Wald, Brown, Cai & DasGupta (2001) eq. (1), clipped to [0, 1].
    const double ph = x / n;
    const double hw = z * std::sqrt(ph * (1 - ph) / n);
    const Interval w = proportion_interval(IntervalMethod::WALD, c.x, c.n, c.confidence);
    EXPECT_NEAR(w.low, std::max(0.0, ph - hw), 1e-14);
    EXPECT_NEAR(w.high, std::min(1.0, ph + hw), 1e-14);
  }
}

TEST(ProportionInterval, WaldDegeneratesAtTheEdges) {
  const Interval zero = proportion_interval(IntervalMethod::WALD, 0, 10, 0.95);
  EXPECT_EQ(zero.low, 0.0);
  EXPECT_EQ(zero.high, 0.0);
  const Interval all = proportion_interval(IntervalMethod::WALD, 10, 10, 0.95);
  EXPECT_EQ(all.low, 1.0);
  EXPECT_EQ(all.high, 1.0);
  // x = 1, n = 100: 0.01 - 1.96 * sqrt(0.0099 / 100) < 0, so the lower end is clipped to 0.
  EXPECT_EQ(proportion_interval(IntervalMethod::WALD, 1, 100, 0.95).low, 0.0);
}

TEST(ProportionInterval, ClopperPearsonClosedFormsAtTheEdges) {
  // At x = 0 the upper end solves (1 - p)^n = alpha/2; at x = n the lower end solves
  // p^n = alpha/2 (Clopper & Pearson 1934).
  for (const double confidence : {0.90, 0.95, 0.99}) {
    const double half_alpha = (1 - confidence) / 2;
    for (int64_t n = 1; n <= 60; ++n) {
      const double root = std::pow(half_alpha, 1.0 / static_cast<double>(n));
      const Interval zero = proportion_interval(IntervalMethod::CLOPPER_PEARSON, 0, n, confidence);
      EXPECT_EQ(zero.low, 0.0);
      EXPECT_TRUE(near_rel(zero.high, 1 - root, 1e-13)) << "n=" << n;
      const Interval all = proportion_interval(IntervalMethod::CLOPPER_PEARSON, n, n, confidence);
      EXPECT_TRUE(near_rel(all.low, root, 1e-13)) << "n=" << n;
      EXPECT_EQ(all.high, 1.0);
    }
  }
  // 1 - 0.025^(1/10), mpmath.
  EXPECT_TRUE(near_rel(proportion_interval(IntervalMethod::CLOPPER_PEARSON, 0, 10, 0.95).high,
                       0.30849710781876083, 1e-14));
}

TEST(ProportionInterval, ClopperPearsonBinomialTailIdentity) {
  // Exact and independent of the beta quantile: P(X >= x | low) = alpha/2 and
  // P(X <= x | high) = alpha/2 for X ~ Binomial(n, .), evaluated with Boost's binomial CDF.
  for (const Case& c : grid()) {
    const Interval ci =
        proportion_interval(IntervalMethod::CLOPPER_PEARSON, c.x, c.n, c.confidence);
    const double half_alpha = (1 - c.confidence) / 2;
    const double n = static_cast<double>(c.n);
    const double x = static_cast<double>(c.x);
    SCOPED_TRACE("x=" + std::to_string(c.x) + " n=" + std::to_string(c.n));
    if (c.x > 0) {
      const boost::math::binomial_distribution<double> at_low(n, ci.low);
      EXPECT_TRUE(
          near_rel(boost::math::cdf(boost::math::complement(at_low, x - 1)), half_alpha, 1e-9));
    }
    if (c.x < c.n) {
      const boost::math::binomial_distribution<double> at_high(n, ci.high);
      EXPECT_TRUE(near_rel(boost::math::cdf(at_high, x), half_alpha, 1e-9));
    }
  }
}

TEST(ProportionInterval, JeffreysPosteriorTailIdentity) {
  // The Jeffreys ends are quantiles of the Beta(x + 1/2, n - x + 1/2) posterior: its CDF
  // (the regularized incomplete beta) is alpha/2 at low and 1 - alpha/2 at high.
  for (const Case& c : grid()) {
    const Interval ci = proportion_interval(IntervalMethod::JEFFREYS, c.x, c.n, c.confidence);
    const double half_alpha = (1 - c.confidence) / 2;
    const double a = static_cast<double>(c.x) + 0.5;
    const double b = static_cast<double>(c.n - c.x) + 0.5;
    SCOPED_TRACE("x=" + std::to_string(c.x) + " n=" + std::to_string(c.n));
    if (c.x == 0) {
      EXPECT_EQ(ci.low, 0.0);
    } else {
      EXPECT_TRUE(near_rel(boost::math::ibeta(a, b, ci.low), half_alpha, 1e-9));
    }
    if (c.x == c.n) {
      EXPECT_EQ(ci.high, 1.0);
    } else {
      EXPECT_TRUE(near_rel(boost::math::ibetac(a, b, ci.high), half_alpha, 1e-9));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Proportion intervals: hard-coded values

struct Known {
  IntervalMethod method;
  int64_t x;
  int64_t n;
  double confidence;
  double low;
  double high;
};

TEST(ProportionInterval, KnownValues) {
  using M = IntervalMethod;
  // mpmath at 40 digits (see the file comment). The Clopper-Pearson x = 5, n = 10 values
  // match the widely published [0.187086, 0.812914] (e.g. R binom.test(5, 10)).
  const std::vector<Known> known = {
      {M::WILSON, 0, 10, 0.95, 0.0, 0.27753279986288925},
      {M::CLOPPER_PEARSON, 0, 10, 0.95, 0.0, 0.30849710781876082},
      {M::JEFFREYS, 0, 10, 0.95, 0.0, 0.21719626750921057},
      {M::AGRESTI_COULL, 0, 10, 0.95, 0.0, 0.32088730575054577},
      {M::WALD, 0, 10, 0.95, 0.0, 0.0},
      {M::WILSON, 10, 10, 0.95, 0.72246720013711075, 1.0},
      {M::CLOPPER_PEARSON, 10, 10, 0.95, 0.69150289218123918, 1.0},
      {M::JEFFREYS, 10, 10, 0.95, 0.78280373249078943, 1.0},
      {M::AGRESTI_COULL, 10, 10, 0.95, 0.67911269424945423, 1.0},
      {M::WILSON, 5, 10, 0.95, 0.23659309051256398, 0.76340690948743602},
      {M::CLOPPER_PEARSON, 5, 10, 0.95, 0.18708602844739853, 0.81291397155260147},
      {M::JEFFREYS, 5, 10, 0.95, 0.22352867025270519, 0.77647132974729481},
      {M::AGRESTI_COULL, 5, 10, 0.95, 0.23659309051256398, 0.76340690948743602},
      {M::WALD, 5, 10, 0.95, 0.19010248384771918, 0.80989751615228082},
      {M::WILSON, 0, 1, 0.95, 0.0, 0.79345068562276261},
      {M::CLOPPER_PEARSON, 0, 1, 0.95, 0.0, 0.975},
      {M::JEFFREYS, 0, 1, 0.95, 0.0, 0.8532536836904249},
      {M::AGRESTI_COULL, 0, 1, 0.95, 0.0, 0.832500514520587},
      {M::WILSON, 1, 1, 0.95, 0.20654931437723739, 1.0},
      {M::CLOPPER_PEARSON, 1, 1, 0.95, 0.025, 1.0},
      {M::JEFFREYS, 1, 1, 0.95, 0.1467463163095751, 1.0},
      {M::AGRESTI_COULL, 1, 1, 0.95, 0.167499485479413, 1.0},
      {M::WILSON, 3, 17, 0.90, 0.072814466547064429, 0.36896697806902589},
      {M::CLOPPER_PEARSON, 3, 17, 0.90, 0.049898154557422954, 0.39564143344482105},
      {M::JEFFREYS, 3, 17, 0.90, 0.066642337253460769, 0.3615765055998902},
      {M::AGRESTI_COULL, 3, 17, 0.90, 0.067174050024316819, 0.3746073945917735},
      {M::WALD, 3, 17, 0.90, 0.024388341458576388, 0.32855283501201185},
      {M::WILSON, 7, 50, 0.99, 0.056143718606337454, 0.3082057874303547},
      {M::CLOPPER_PEARSON, 7, 50, 0.99, 0.042468787378834367, 0.30910696596481875},
      {M::JEFFREYS, 7, 50, 0.99, 0.04807943737733346, 0.29665222991651557},
      {M::AGRESTI_COULL, 7, 50, 0.99, 0.050060590816069676, 0.31428891522062248},
      {M::WALD, 7, 50, 0.99, 0.013600510225479604, 0.2663994897745204},
      {M::WILSON, 1, 100, 0.95, 0.0017674320641406479, 0.054486196178705323},
      {M::CLOPPER_PEARSON, 1, 100, 0.95, 0.00025314603297742063, 0.054459385392080657},
      {M::JEFFREYS, 1, 100, 0.95, 0.0010811017090800643, 0.045778896600723117},
      {M::AGRESTI_COULL, 1, 100, 0.95, 0.0, 0.0599268618818503},
      {M::WALD, 1, 100, 0.95, 0.0, 0.029501395417987875},
      {M::CLOPPER_PEARSON, 99, 100, 0.95, 0.94554061460791934, 0.99974685396702258},
      {M::JEFFREYS, 99, 100, 0.95, 0.95422110339927688, 0.99891889829091994},
      {M::WILSON, 42, 1000, 0.95, 0.03122088554616544, 0.056284425226603053},
      {M::CLOPPER_PEARSON, 42, 1000, 0.95, 0.030434706263140012, 0.056350291575744745},
      {M::JEFFREYS, 42, 1000, 0.95, 0.030862701645985786, 0.055781612613827707},
      {M::AGRESTI_COULL, 42, 1000, 0.95, 0.031099383035270236, 0.056405927737498258},
      {M::WALD, 42, 1000, 0.95, 0.029567585226133708, 0.054432414773866292},
  };
  for (const Known& k : known) {
    const Interval ci = proportion_interval(k.method, k.x, k.n, k.confidence);
    SCOPED_TRACE(to_string(k.method) + " x=" + std::to_string(k.x) + " n=" + std::to_string(k.n));
    EXPECT_TRUE(near_rel(ci.low, k.low, 1e-12));
    EXPECT_TRUE(near_rel(ci.high, k.high, 1e-12));
  }
}

TEST(ProportionInterval, OrderedInsideUnitAndSymmetric) {
  // Every method is equivariant under x -> n - x: [low, high] -> [1 - high, 1 - low].
  for (const IntervalMethod method : all_interval_methods()) {
    for (const double confidence : {0.5, 0.8, 0.95, 0.999}) {
      for (int64_t n : {1, 2, 3, 7, 20, 101}) {
        for (int64_t x = 0; x <= n; ++x) {
          const Interval ci = proportion_interval(method, x, n, confidence);
          const Interval mirror = proportion_interval(method, n - x, n, confidence);
          SCOPED_TRACE(to_string(method) + " x=" + std::to_string(x) + " n=" + std::to_string(n));
          EXPECT_LE(0.0, ci.low);
          EXPECT_LE(ci.low, ci.high);
          EXPECT_LE(ci.high, 1.0);
          EXPECT_NEAR(ci.low, 1 - mirror.high, 1e-12);
          EXPECT_NEAR(ci.high, 1 - mirror.low, 1e-12);
        }
      }
    }
  }
}

TEST(ProportionInterval, WiderAtHigherConfidence) {
  for (const IntervalMethod method : all_interval_methods()) {
    const Interval narrow = proportion_interval(method, 7, 30, 0.80);
    const Interval wide = proportion_interval(method, 7, 30, 0.99);
    EXPECT_LT(wide.low, narrow.low) << to_string(method);
    EXPECT_GT(wide.high, narrow.high) << to_string(method);
  }
}

TEST(ProportionInterval, RejectsBadArguments) {
  for (const IntervalMethod method : all_interval_methods()) {
    EXPECT_THROW(proportion_interval(method, -1, 10, 0.95), std::invalid_argument);
    EXPECT_THROW(proportion_interval(method, 11, 10, 0.95), std::invalid_argument);
    EXPECT_THROW(proportion_interval(method, 0, 0, 0.95), std::invalid_argument);
    EXPECT_THROW(proportion_interval(method, 0, -5, 0.95), std::invalid_argument);
    for (const double confidence : {0.0, 1.0, -0.5, 1.5, NaN, INF}) {
      EXPECT_THROW(proportion_interval(method, 1, 10, confidence), std::invalid_argument);
    }
  }
  EXPECT_EQ(message_of([] { proportion_interval(IntervalMethod::WILSON, 11, 10, 0.95); }),
            "proportion_interval: x = 11; must satisfy 0 <= x <= n = 10");
  EXPECT_EQ(message_of([] { proportion_interval(IntervalMethod::WILSON, 1, 10, 1.5); }),
            "proportion_interval: confidence = 1.5; must be a number strictly between 0 and 1 "
            "(e.g. 0.95)");
  EXPECT_EQ(message_of([] { proportion_interval(IntervalMethod::WILSON, 0, 0, 0.95); }),
            "proportion_interval: n = 0; must be >= 1");
}

// ---------------------------------------------------------------------------------------
// Mean intervals

struct MeanCase {
  double mean;
  double sd;
  int64_t n;
  double confidence;
  double t;  // t_{n-1, 1 - alpha/2}, mpmath (bisection on 1 - I_{v/(v+t^2)}(v/2, 1/2) / 2)
  double z;
};

TEST(MeanInterval, StudentTAndNormalTable) {
  // t_{9, 0.975} = 2.2621571627982055 (mpmath; scipy 1.17 gives 2.262157162798205).
  // t_{1, 0.975} = tan(0.475 pi) = 12.706204736174705 (closed form for the Cauchy case).
  const std::vector<MeanCase> cases = {
      {2.5, 1.2909944487358056, 10, 0.95, 2.2621571627982055, Z95},
      {-3.0, 4.0, 2, 0.95, 12.706204736174705, Z95},
      {2.5, 1.2909944487358056, 4, 0.95, 3.1824463052837096, Z95},
      {0.75, 0.1, 5, 0.90, 2.1318467863266503, Z90},
      {100.0, 7.5, 30, 0.99, 2.7563859036706055, Z99},
  };
  for (const MeanCase& c : cases) {
    const double root_n = std::sqrt(static_cast<double>(c.n));
    const Interval t =
        mean_interval(MeanIntervalMethod::STUDENT_T, c.mean, c.sd, c.n, c.confidence);
    SCOPED_TRACE("n=" + std::to_string(c.n));
    EXPECT_TRUE(near_rel(t.low, c.mean - c.t * c.sd / root_n, 1e-13));
    EXPECT_TRUE(near_rel(t.high, c.mean + c.t * c.sd / root_n, 1e-13));
    const Interval z = mean_interval(MeanIntervalMethod::NORMAL, c.mean, c.sd, c.n, c.confidence);
    EXPECT_TRUE(near_rel(z.low, c.mean - c.z * c.sd / root_n, 1e-14));
    EXPECT_TRUE(near_rel(z.high, c.mean + c.z * c.sd / root_n, 1e-14));
  }
}

TEST(MeanInterval, DegenerateCases) {
  // mean_interval takes STUDENT_T and NORMAL only; the "-deff" methods need token counts
  // (token_mean_interval, tested in test_intervals.cpp) and are refused here.
  for (const MeanIntervalMethod method :
       {MeanIntervalMethod::STUDENT_T, MeanIntervalMethod::NORMAL}) {
    const Interval one = mean_interval(method, 3.0, NaN, 1, 0.95);
    EXPECT_TRUE(std::isnan(one.low) && std::isnan(one.high));
    const Interval one_with_sd = mean_interval(method, 3.0, 1.0, 1, 0.95);
    EXPECT_TRUE(std::isnan(one_with_sd.low) && std::isnan(one_with_sd.high));
    const Interval flat = mean_interval(method, 0.25, 0.0, 50, 0.95);
    EXPECT_EQ(flat.low, 0.25);
    EXPECT_EQ(flat.high, 0.25);
    const Interval nan_sd = mean_interval(method, 0.25, NaN, 50, 0.95);
    EXPECT_TRUE(std::isnan(nan_sd.low) && std::isnan(nan_sd.high));
    EXPECT_THROW(mean_interval(method, 0.0, -1.0, 10, 0.95), std::invalid_argument);
    EXPECT_THROW(mean_interval(method, 0.0, 1.0, 0, 0.95), std::invalid_argument);
    EXPECT_THROW(mean_interval(method, 0.0, 1.0, 10, 1.0), std::invalid_argument);
    EXPECT_THROW(mean_interval(method, 0.0, 1.0, 10, NaN), std::invalid_argument);
  }
}

TEST(MeanInterval, StudentTApproachesNormal) {
  const Interval t = mean_interval(MeanIntervalMethod::STUDENT_T, 0.0, 1.0, 10000000, 0.95);
  const Interval z = mean_interval(MeanIntervalMethod::NORMAL, 0.0, 1.0, 10000000, 0.95);
  EXPECT_GT(t.high, z.high);
  EXPECT_TRUE(near_rel(t.high, z.high, 1e-6));
}

// ---------------------------------------------------------------------------------------
// Moments

TEST(Moments, SmallExactData) {
  // {1, 2, 3, 4}: mean 2.5, var = (4 * 30 - 100) / 12 = 5/3.
  const Moments m = moments_from_sums(10, 30, 4);
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_DOUBLE_EQ(m.sd, std::sqrt(5.0 / 3.0));
  // {-3, 5}: mean 1, var = (2 * 34 - 4) / 2 = 32.
  const Moments neg = moments_from_sums(2, 34, 2);
  EXPECT_DOUBLE_EQ(neg.mean, 1.0);
  EXPECT_DOUBLE_EQ(neg.sd, std::sqrt(32.0));
  // {7, 7, 7}: sd exactly 0.
  EXPECT_EQ(moments_from_sums(21, 147, 3).sd, 0.0);
  // n = 1: mean defined, sd NaN.
  const Moments one = moments_from_sums(4, 16, 1);
  EXPECT_EQ(one.mean, 4.0);
  EXPECT_TRUE(std::isnan(one.sd));
}

TEST(Moments, LargeNWithoutCancellation) {
  const int64_t n = int64_t{1} << 34;
  // Every one of 2^34 items has value 2^12: sum = 2^46, sum_sq = 2^58; variance exactly 0.
  const Moments flat = moments_from_sums(int64_t{1} << 46, int64_t{1} << 58, n);
  EXPECT_EQ(flat.mean, 4096.0);
  EXPECT_EQ(flat.sd, 0.0);
  // One item is 2^12 - 1 instead: n sum_sq - sum^2 = 2^34 - 1, so var = 1 / 2^34 exactly
  // and sd = 2^-17. In double, n * sum_sq and sum^2 (~2^92) would cancel to garbage.
  const Moments almost =
      moments_from_sums((int64_t{1} << 46) - 1, (int64_t{1} << 58) - (int64_t{1} << 13) + 1, n);
  EXPECT_TRUE(near_rel(almost.sd, std::ldexp(1.0, -17), 1e-15));
  EXPECT_TRUE(near_rel(almost.mean, 4096.0 - std::ldexp(1.0, -34), 1e-15));
  // Tokens of length 4096 on 2^34 items, half all-wrong: values 0 or 4096, var ~ 4096^2/4.
  const int64_t half = n / 2;
  const Moments bimodal = moments_from_sums(half * 4096, half * 4096 * 4096, n);
  EXPECT_GE(bimodal.sd, 0.0);
  EXPECT_TRUE(near_rel(bimodal.sd, 2048.0 * std::sqrt(static_cast<double>(n) / (n - 1)), 1e-15));
}

TEST(Moments, RejectsImpossibleSums) {
  EXPECT_THROW(moments_from_sums(0, 0, 0), std::invalid_argument);
  EXPECT_THROW(moments_from_sums(1, -1, 3), std::invalid_argument);
  // sum^2 = 100 > n * sum_sq = 2 * 10: no two integers have sum 10 and sum of squares 10.
  EXPECT_THROW(moments_from_sums(10, 10, 2), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Quantiles

TEST(QuantileSorted, MatchesNumpyType7) {
  // numpy 2.4: np.quantile([3.2, -1.0, 7.5, 0.25, 2.0, 10.0, 4.4], q); by hand h = 6 q.
  const std::vector<double> d = {-1.0, 0.25, 2.0, 3.2, 4.4, 7.5, 10.0};
  EXPECT_EQ(quantile_sorted(d.data(), d.size(), 0.0), -1.0);
  EXPECT_NEAR(quantile_sorted(d.data(), d.size(), 0.025), -0.8125, 1e-15);  // -1 + 0.15 * 1.25
  EXPECT_NEAR(quantile_sorted(d.data(), d.size(), 0.1), -0.25, 1e-15);      // -1 + 0.6 * 1.25
  EXPECT_NEAR(quantile_sorted(d.data(), d.size(), 0.33), 1.965, 1e-15);     // 0.25 + 0.98 * 1.75
  EXPECT_EQ(quantile_sorted(d.data(), d.size(), 0.5), 3.2);
  EXPECT_NEAR(quantile_sorted(d.data(), d.size(), 0.975), 9.625, 1e-15);  // 7.5 + 0.85 * 2.5
  EXPECT_EQ(quantile_sorted(d.data(), d.size(), 1.0), 10.0);
  // np.quantile([1, 2, 3, 4], [0.025, 0.5, 0.975]) = [1.075, 2.5, 3.925].
  const std::vector<double> e = {1, 2, 3, 4};
  EXPECT_NEAR(quantile_sorted(e.data(), 4, 0.025), 1.075, 1e-15);
  EXPECT_EQ(quantile_sorted(e.data(), 4, 0.5), 2.5);
  EXPECT_NEAR(quantile_sorted(e.data(), 4, 0.975), 3.925, 1e-15);
  const double single = 42.0;
  EXPECT_EQ(quantile_sorted(&single, 1, 0.3), 42.0);
}

TEST(QuantileSorted, Infinities) {
  // numpy returns NaN in the first two cases (-inf - -inf); we return the shared neighbour.
  const std::vector<double> a = {-INF, -INF, 0.0, 5.0};
  EXPECT_EQ(quantile_sorted(a.data(), 4, 0.0), -INF);
  EXPECT_EQ(quantile_sorted(a.data(), 4, 0.2), -INF);  // between -inf and -inf
  EXPECT_EQ(quantile_sorted(a.data(), 4, 0.5), -INF);  // between -inf and 0
  EXPECT_EQ(quantile_sorted(a.data(), 4, 1.0), 5.0);
  const std::vector<double> b = {0.0, INF, INF};
  EXPECT_EQ(quantile_sorted(b.data(), 3, 0.25), INF);  // between 0 and +inf
  EXPECT_EQ(quantile_sorted(b.data(), 3, 0.75), INF);
  EXPECT_EQ(quantile_sorted(b.data(), 3, 0.0), 0.0);
  const std::vector<double> c = {-INF, INF};
  EXPECT_EQ(quantile_sorted(c.data(), 2, 0.0), -INF);
  EXPECT_EQ(quantile_sorted(c.data(), 2, 1.0), INF);
  EXPECT_TRUE(std::isnan(quantile_sorted(c.data(), 2, 0.5)));  // undefined, documented
  // Finite values whose difference overflows.
  const std::vector<double> big = {-1e308, 1e308};
  EXPECT_EQ(quantile_sorted(big.data(), 2, 0.5), 0.0);
}

TEST(QuantileSorted, RejectsBadArguments) {
  const std::vector<double> d = {1.0, 2.0};
  EXPECT_THROW(quantile_sorted(nullptr, 2, 0.5), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(d.data(), 0, 0.5), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(d.data(), 2, -0.1), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(d.data(), 2, 1.1), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(d.data(), 2, NaN), std::invalid_argument);
  const std::vector<double> unsorted = {2.0, 1.0};
  EXPECT_THROW(quantile_sorted(unsorted.data(), 2, 0.5), std::invalid_argument);
  const std::vector<double> with_nan = {1.0, NaN};
  EXPECT_THROW(quantile_sorted(with_nan.data(), 2, 0.5), std::invalid_argument);
}

// The token intervals' 128-bit conversion takes a shortcut through int64_t: the same value as
// the plain conversion on both sides of each boundary of the shortcut.
TEST(Int128, ToLongDoubleIsThePlainConversion) {
  using detail::Int128;
  const Int128 big = Int128{1} << 100;
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  for (const Int128 v : {Int128{0}, Int128{1}, Int128{-1}, Int128{(int64_t{1} << 53) + 1},
                         Int128{hi}, Int128{hi} + 1, Int128{lo}, Int128{lo} - 1,
                         (Int128{1} << 64) - 1, -(Int128{1} << 64) + 3, big + 12345, -big - 7}) {
    EXPECT_EQ(detail::to_long_double(v), static_cast<long double>(v))
        << static_cast<long double>(v);
  }
}

// The three summary quantiles by selection: numpy's values on the hand example, and the bits
// of a sort and quantile_sorted on every size from 1 to 60 of values with ties and infinities
// (the emergence analysis selects among scores that may be +-inf).
TEST(Quantiles025500975, SameBitsAsSortingAndQuantileSorted) {
  std::vector<double> d = {3.2, -1.0, 7.5, 0.25, 2.0, 10.0, 4.4};
  const std::array<double, 3> hand = quantiles_025_500_975(d);
  EXPECT_NEAR(hand[0], -0.8125, 1e-15);
  EXPECT_EQ(hand[1], 3.2);
  EXPECT_NEAR(hand[2], 9.625, 1e-15);
  Lcg random{12345};
  for (size_t n = 1; n <= 60; ++n) {
    std::vector<double> values(n);
    for (double& v : values) {
      const uint64_t u = random.next() % 20;
      v = u == 0 ? INF : u == 1 ? -INF : double(int64_t(random.next() % 9) - 4) * 0.37;
    }
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const std::array<double, 3> q = quantiles_025_500_975(values);
    const double probs[3] = {0.025, 0.5, 0.975};
    for (int i = 0; i < 3; ++i) {
      const double want = quantile_sorted(sorted.data(), n, probs[i]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(q[size_t(i)])) << "n = " << n << ", p = " << probs[i];
      } else {
        EXPECT_EQ(q[size_t(i)], want) << "n = " << n << ", p = " << probs[i];
      }
    }
  }
  std::vector<double> empty;
  EXPECT_THROW(quantiles_025_500_975(empty), std::invalid_argument);
  std::vector<double> with_nan = {1.0, NaN, 2.0};
  EXPECT_THROW(quantiles_025_500_975(with_nan), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Replicate summary

TEST(SummarizeReplicates, HandExample) {
  // Five replicates, expected value 0.15.
  //  r  estimate  [low, high]    covers  width
  //  0  0         [0, 0.2]       yes     0.2
  //  1  0.1       [0.02, 0.3]    yes     0.28
  //  2  0         [0, 0.1]       no      0.1
  //  3  0.3       [0.1, 0.5]     yes     0.4
  //  4  NaN       [NaN, NaN]     no      (excluded)
  const std::vector<double> estimate = {0.0, 0.1, 0.0, 0.3, NaN};
  const std::vector<double> low = {0.0, 0.02, 0.0, 0.1, NaN};
  const std::vector<double> high = {0.2, 0.3, 0.1, 0.5, NaN};
  const ReplicateSummary s =
      summarize_replicates(estimate.data(), low.data(), high.data(), 5, 0.15);
  // Non-NaN estimates {0, 0.1, 0, 0.3}: mean 0.1, var = (0.01 + 0 + 0.01 + 0.04) / 3 = 0.02;
  // numpy: np.quantile([0, 0, 0.1, 0.3], [0.025, 0.5, 0.975]) = [0, 0.05, 0.285].
  EXPECT_NEAR(s.mean, 0.1, 1e-15);
  EXPECT_NEAR(s.sd, std::sqrt(0.02), 1e-15);
  EXPECT_EQ(s.q025, 0.0);
  EXPECT_NEAR(s.q500, 0.05, 1e-15);
  EXPECT_NEAR(s.q975, 0.285, 1e-15);
  EXPECT_DOUBLE_EQ(s.p_zero, 2.0 / 5.0);    // NaN is not zero; denominator is R = 5
  EXPECT_DOUBLE_EQ(s.coverage, 3.0 / 5.0);  // the NaN interval does not cover
  EXPECT_NEAR(s.mean_ci_width, (0.2 + 0.28 + 0.1 + 0.4) / 4, 1e-15);
}

// Counts by key once and widths in replicate order (the interval comparison's histogram path)
// against add() per replicate: the same bits, with NaN and infinite intervals among the keys.
TEST(CoverageWidthSums, TabulatedByKeySameBitsAsPerReplicate) {
  const std::vector<Interval> table = {{0.0, 0.2},  {0.02, 0.3}, {NaN, NaN}, {0.1, 0.5},
                                       {-INF, INF}, {0.15, 0.15}, {0.3, 0.7}, {0.1, 0.1 + 1e-9}};
  Lcg random{7};
  for (int trial = 0; trial < 200; ++trial) {
    const size_t replicates = 1 + size_t(trial) * 7;
    std::vector<size_t> keys(replicates);
    for (size_t& key : keys) {
      // Trials with a multiple of 3 draw no NaN key, others no infinite one (neither, some).
      key = size_t(random.next()) % table.size();
      if (trial % 3 == 0 && key == 2) key = 3;
      if (trial % 3 == 1 && key == 4) key = 5;
    }
    const double expected = trial % 4 == 0 ? 0.15 : trial % 4 == 1 ? NaN : 0.25 + 1e-3 * trial;
    CoverageWidthSums each, tabulated;
    std::vector<size_t> histogram(table.size(), 0);
    for (size_t key : keys) {
      each.add(table[key].low, table[key].high, expected);
      ++histogram[key];
    }
    for (size_t key = 0; key < table.size(); ++key) {
      tabulated.add_counts(table[key].low, table[key].high, expected, histogram[key]);
    }
    for (size_t key : keys) {
      tabulated.add_width(CoverageWidthSums::width_of(table[key].low, table[key].high));
    }
    const CoverageWidth a = each.result(replicates, expected);
    const CoverageWidth b = tabulated.result(replicates, expected);
    EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0)
        << "trial " << trial << ": coverage " << a.coverage << " vs " << b.coverage << ", width "
        << a.mean_ci_width << " vs " << b.mean_ci_width;
  }
  // Hand example: keys 0, 1, 2, 3 once each, truth 0.15: covered by 0, 1 and 3, not by the NaN
  // one (2); mean width over the three defined ones, (0.2 + 0.28 + 0.4) / 3.
  CoverageWidthSums hand;
  for (size_t key = 0; key < 4; ++key) hand.add_counts(table[key].low, table[key].high, 0.15, 1);
  for (size_t key = 0; key < 4; ++key) {
    hand.add_width(CoverageWidthSums::width_of(table[key].low, table[key].high));
  }
  const CoverageWidth h = hand.result(4, 0.15);
  EXPECT_EQ(h.coverage, 0.75);
  EXPECT_NEAR(h.mean_ci_width, (0.2 + 0.28 + 0.4) / 3.0, 1e-15);
}

// The keyed summary against summarize_replicates, bit for bit: estimates x / n rising with
// the key, or 1 - x / n falling, intervals with NaN and infinite ends among them, and the
// fallbacks (a NaN estimate; keys spread too wide for a histogram).
TEST(SummarizeReplicates, KeyedSameBitsAsSelections) {
  Lcg random{99};
  auto same = [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  for (int trial = 0; trial < 300; ++trial) {
    const size_t replicates = 1 + size_t(random.next() % 400);
    const int64_t n = trial % 5 == 4 ? int64_t(1) << 40 : 1 + int64_t(random.next() % 300);
    const bool descending = trial % 2 == 1;
    std::vector<int64_t> key(replicates);
    std::vector<double> estimate(replicates), low(replicates), high(replicates);
    for (size_t r = 0; r < replicates; ++r) {
      key[r] = trial % 5 == 4 ? int64_t(random.next() % 2) * n
                              : int64_t(random.next() % uint64_t(n + 1));
      const double share = double(key[r]) / double(n);
      estimate[r] = descending ? 1.0 - share : share;
      const uint64_t kind = random.next() % 16;
      low[r] = kind == 0   ? NaN
               : kind == 1 ? -INF
                           : estimate[r] - 0.01 * double(random.next() % 7);
      high[r] = kind == 0   ? NaN
                : kind == 2 ? INF
                            : estimate[r] + 0.01 * double(random.next() % 5);
    }
    if (trial % 7 == 6) estimate[replicates / 2] = NaN;
    const double expected = trial % 3 == 0 ? NaN : 0.001 * double(random.next() % 1000);
    const ReplicateSummary a =
        summarize_replicates(estimate.data(), low.data(), high.data(), replicates, expected);
    const ReplicateSummary b = summarize_replicates_keyed(
        estimate.data(), low.data(), high.data(), replicates, expected, key.data(), descending);
    const double fields_a[] = {a.mean, a.sd, a.q025, a.q500, a.q975, a.p_zero, a.coverage,
                               a.mean_ci_width};
    const double fields_b[] = {b.mean, b.sd, b.q025, b.q500, b.q975, b.p_zero, b.coverage,
                               b.mean_ci_width};
    for (int f = 0; f < 8; ++f) {
      EXPECT_TRUE(same(fields_a[f], fields_b[f]))
          << "trial " << trial << ", field " << f << ": " << fields_a[f] << " vs " << fields_b[f];
    }
  }
}

TEST(SummarizeReplicates, InfiniteIntervalsAndEdges) {
  // An infinite interval covers but is left out of the mean width.
  const std::vector<double> estimate = {1.0, 3.0};
  const std::vector<double> low = {-INF, 2.0};
  const std::vector<double> high = {INF, 4.0};
  const ReplicateSummary s = summarize_replicates(estimate.data(), low.data(), high.data(), 2, 2.5);
  EXPECT_EQ(s.coverage, 1.0);
  EXPECT_EQ(s.mean_ci_width, 2.0);
  EXPECT_EQ(s.mean, 2.0);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(2.0));
  EXPECT_EQ(s.p_zero, 0.0);
  // Endpoints count as covering (closed interval).
  const std::vector<double> e1 = {0.5};
  const std::vector<double> l1 = {0.5};
  const std::vector<double> h1 = {0.5};
  const ReplicateSummary one = summarize_replicates(e1.data(), l1.data(), h1.data(), 1, 0.5);
  EXPECT_EQ(one.coverage, 1.0);
  EXPECT_EQ(one.mean_ci_width, 0.0);
  EXPECT_EQ(one.mean, 0.5);
  EXPECT_TRUE(std::isnan(one.sd));  // R = 1
  EXPECT_EQ(one.q025, 0.5);
  EXPECT_EQ(one.q975, 0.5);
  // All estimates NaN and no interval. Coverage is NaN, like mean_ci_width: a method that
  // gives no interval at all (student-t at n = 1) has undefined coverage, not coverage 0.
  // (It was 0 before; 0 read as "the interval always misses" in coverage tables.)
  const std::vector<double> nan2 = {NaN, NaN};
  const ReplicateSummary none = summarize_replicates(nan2.data(), nan2.data(), nan2.data(), 2, 0.5);
  EXPECT_TRUE(std::isnan(none.mean) && std::isnan(none.sd) && std::isnan(none.q500));
  EXPECT_TRUE(std::isnan(none.mean_ci_width));
  EXPECT_TRUE(std::isnan(none.coverage));
  EXPECT_EQ(none.p_zero, 0.0);
  // Finite estimates but every interval NaN (n = 1 with student-t): coverage NaN too.
  const std::vector<double> est2 = {0.5, 1.0};
  const ReplicateSummary no_interval =
      summarize_replicates(est2.data(), nan2.data(), nan2.data(), 2, 0.5);
  EXPECT_TRUE(std::isnan(no_interval.coverage));
  EXPECT_EQ(no_interval.mean, 0.75);
  // Some intervals NaN, some not: the NaN ones count as misses over all R replicates.
  const std::vector<double> lows = {0.4, NaN, 0.6};
  const std::vector<double> highs = {0.6, NaN, 0.7};
  const std::vector<double> est3 = {0.5, 0.5, 0.65};
  EXPECT_DOUBLE_EQ(summarize_replicates(est3.data(), lows.data(), highs.data(), 3, 0.5).coverage,
                   1.0 / 3.0);
  // A half-NaN interval is no interval; an infinite one is.
  const std::vector<double> half_low = {NaN, 0.2};
  const std::vector<double> half_high = {1.0, NaN};
  EXPECT_TRUE(std::isnan(
      summarize_replicates(est2.data(), half_low.data(), half_high.data(), 2, 0.5).coverage));
  const std::vector<double> inf_low = {NaN, -INF};
  const std::vector<double> inf_high = {1.0, INF};
  EXPECT_DOUBLE_EQ(
      summarize_replicates(est2.data(), inf_low.data(), inf_high.data(), 2, 0.5).coverage, 0.5);
  // NaN expected value: coverage undefined.
  EXPECT_TRUE(std::isnan(summarize_replicates(e1.data(), l1.data(), h1.data(), 1, NaN).coverage));
  EXPECT_THROW(summarize_replicates(e1.data(), l1.data(), h1.data(), 0, 0.5),
               std::invalid_argument);
  EXPECT_THROW(summarize_replicates(nullptr, l1.data(), h1.data(), 1, 0.5), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Emergence score

double score(const std::vector<double>& y) {
  return emergence_score(y.data(), y.size());
}

TEST(EmergenceScore, HandExamples) {
  EXPECT_EQ(score({0.3, 0.3, 0.3, 0.3}), 0.0);  // constant
  EXPECT_EQ(score({0, 1, 2, 3}), 3.0);          // range 3, every step 1
  EXPECT_EQ(score({3, 2, 1, 0}), -3.0);         // argmax before argmin
  // Irregular: steps 0.05, -0.03, 0.38, 0.4; squares sorted 0.0009, 0.0025, 0.1444, 0.16;
  // median (0.0025 + 0.1444) / 2 = 0.07345; 0.8 / sqrt(0.07345) = 2.9518486552196386
  // (Python float arithmetic).
  EXPECT_TRUE(near_rel(score({0.1, 0.15, 0.12, 0.5, 0.9}), 2.9518486552196386, 1e-14));
  // Odd number of steps: -0.7, 0.75, -0.85 -> median square 0.5625, root 0.75; argmax 2 <
  // argmin 3, range 0.85: -0.85 / 0.75.
  EXPECT_TRUE(near_rel(score({0.9, 0.2, 0.95, 0.1}), -0.85 / 0.75, 1e-14));
  // Even count takes the mean of the two middle SQUARES: steps 0, 1, 1, 0 -> squares
  // 0, 0, 1, 1 -> median 0.5 -> 2 / sqrt(0.5) = 2.8284271247461903 (not 2 / 0.5 = 4).
  EXPECT_TRUE(near_rel(score({0, 0, 1, 2, 2}), 2.0 / std::sqrt(0.5), 1e-15));
}

TEST(EmergenceScore, TiesTakeTheFirstIndex) {
  // {1, 0, 1}: first argmax 0 < argmin 1 -> negative (the last argmax, 2, would give +).
  EXPECT_EQ(score({1, 0, 1}), -1.0);
  // {0, 1, 0}: argmax 1 > first argmin 0 -> positive (the last argmin, 2, would give -).
  EXPECT_EQ(score({0, 1, 0}), 1.0);
  // {0, 1, 0.5, 1}: argmax 1 (first), argmin 0; steps 1, 0.5, 0.5 -> median square 0.25.
  EXPECT_EQ(score({0, 1, 0.5, 1}), 2.0);
}

TEST(EmergenceScore, JumpsAndDegenerateCurves) {
  EXPECT_EQ(score({0, 0, 0, 1}), INF);     // a pure step: median step 0
  EXPECT_EQ(score({1, 1, 1, 0}), -INF);    // a pure drop
  EXPECT_EQ(score({0, 0, 0, 0, 1}), INF);  // even count, both middle steps 0
  EXPECT_EQ(score({0, 1}), 1.0);           // two points: range / |step|
  EXPECT_TRUE(std::isnan(score({0.5})));   // fewer than 2 points
  EXPECT_TRUE(std::isnan(score({})));
  EXPECT_TRUE(std::isnan(score({0, NaN, 1})));
  EXPECT_TRUE(std::isnan(score({0, INF, 1})));
  // Tiny steps whose squares underflow double still give the right score.
  EXPECT_TRUE(near_rel(score({0, 1e-200, 2e-200, 3e-200}), 3.0, 1e-14));
  EXPECT_TRUE(near_rel(score({0, 1e200, 2e200, 3e200}), 3.0, 1e-14));
  EXPECT_THROW(emergence_score(nullptr, 3), std::invalid_argument);
}

// The score's median step by the definition (every step sorted), against emergence_score on
// curves of 2 to 40 points (the middle order statistics by rank below 33 steps on a CPU with
// AVX-512, by selection otherwise and beyond): discrete values with many equal and zero
// steps, as the estimates of small test sets give, and continuous ones.
TEST(EmergenceScore, MedianStepAsTheDefinitionSortsIt) {
  Lcg random{2024};
  for (size_t count = 2; count <= 40; ++count) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<double> y(count);
      const bool discrete = trial % 2 == 0;
      for (double& v : y) {
        v = discrete ? double(random.next() % 4) / 3.0 : double(random.next() % 100000) * 1e-5;
      }
      size_t argmax = 0, argmin = 0;
      for (size_t i = 1; i < count; ++i) {
        if (y[i] > y[argmax]) argmax = i;
        if (y[i] < y[argmin]) argmin = i;
      }
      std::vector<double> steps;
      for (size_t i = 1; i < count; ++i) steps.push_back(std::fabs(y[i] - y[i - 1]));
      std::sort(steps.begin(), steps.end());
      const size_t m = steps.size(), mid = m / 2;
      const double root_median = m % 2 == 1
                                     ? steps[mid]
                                     : std::hypot(steps[mid - 1], steps[mid]) / std::sqrt(2.0);
      const double range = y[argmax] - y[argmin];
      const double sign = argmax > argmin ? 1.0 : -1.0;
      const double want = range == 0.0          ? 0.0
                          : root_median == 0.0 ? sign * INF
                                               : sign * range / root_median;
      EXPECT_EQ(emergence_score(y.data(), count), want) << count << " points, trial " << trial;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Exact coverage

double brute_force_coverage(IntervalMethod method, int64_t n, double p, double confidence) {
  const boost::math::binomial_distribution<double> binomial(static_cast<double>(n), p);
  double sum = 0.0;
  for (int64_t x = 0; x <= n; ++x) {
    const Interval ci = proportion_interval(method, x, n, confidence);
    if (ci.low <= p && p <= ci.high) sum += boost::math::pdf(binomial, static_cast<double>(x));
  }
  return sum;
}

TEST(ExactCoverage, NEqualsOneByHand) {
  // Wilson, n = 1, 95 %: x = 0 -> [0, 0.7935], x = 1 -> [0.2065, 1].
  // p = 0.5: both cover -> 1. p = 0.1: only x = 0 (probability 0.9) covers.
  EXPECT_NEAR(exact_binomial_coverage(IntervalMethod::WILSON, 1, 0.5, 0.95), 1.0, 1e-15);
  EXPECT_NEAR(exact_binomial_coverage(IntervalMethod::WILSON, 1, 0.1, 0.95), 0.9, 1e-15);
  // Wald, n = 1: intervals [0, 0] and [1, 1] never contain 0 < p < 1.
  EXPECT_EQ(exact_binomial_coverage(IntervalMethod::WALD, 1, 0.5, 0.95), 0.0);
  // Clopper-Pearson n = 1, 95 %: [0, 0.975] and [0.025, 1]; p = 0.01 -> only x = 0: 0.99.
  EXPECT_NEAR(exact_binomial_coverage(IntervalMethod::CLOPPER_PEARSON, 1, 0.01, 0.95), 0.99, 1e-15);
}

TEST(ExactCoverage, KnownValues) {
  // Exact binomial sums in mpmath at 40 digits; no interval end lies within 7e-4 of p.
  // Wald n = 100, p = 0.01: 0.633, the collapse Brown, Cai & DasGupta (2001) describe.
  using M = IntervalMethod;
  struct K {
    M method;
    int64_t n;
    double p;
    double confidence;
    double coverage;
  };
  const std::vector<K> known = {
      {M::WALD, 10, 0.3, 0.95, 0.8400995757},
      {M::WALD, 100, 0.01, 0.95, 0.63343312426277746},
      {M::WILSON, 20, 0.1, 0.95, 0.95682550471553662},
      {M::AGRESTI_COULL, 20, 0.1, 0.95, 0.95682550471553662},
      {M::CLOPPER_PEARSON, 30, 0.2, 0.95, 0.97998438749135178},
      {M::JEFFREYS, 30, 0.2, 0.95, 0.93020475951267645},
      {M::WILSON, 50, 0.5, 0.90, 0.88107954744056372},
  };
  for (const K& k : known) {
    EXPECT_TRUE(
        near_rel(exact_binomial_coverage(k.method, k.n, k.p, k.confidence), k.coverage, 1e-12))
        << to_string(k.method) << " n=" << k.n << " p=" << k.p;
  }
}

TEST(ExactCoverage, MatchesBruteForceSum) {
  for (const IntervalMethod method : all_interval_methods()) {
    for (const int64_t n : {1, 2, 5, 17, 60, 250}) {
      for (const double p : {0.001, 0.03, 0.2, 0.5, 0.77, 0.999}) {
        EXPECT_NEAR(exact_binomial_coverage(method, n, p, 0.95),
                    brute_force_coverage(method, n, p, 0.95), 1e-12)
            << to_string(method) << " n=" << n << " p=" << p;
      }
    }
  }
}

TEST(ExactCoverage, LargeNMatchesBruteForce) {
  // n = 1e5: the windowed sum against every one of the 100001 terms.
  for (const IntervalMethod method : {IntervalMethod::WILSON, IntervalMethod::WALD}) {
    for (const double p : {1e-5, 0.3141}) {
      EXPECT_NEAR(exact_binomial_coverage(method, 100000, p, 0.95),
                  brute_force_coverage(method, 100000, p, 0.95), 1e-12)
          << to_string(method) << " p=" << p;
    }
  }
  // The beta-quantile methods at n = 1e5 visit only the central terms: fast.
  for (const IntervalMethod method : {IntervalMethod::CLOPPER_PEARSON, IntervalMethod::JEFFREYS}) {
    const double c = exact_binomial_coverage(method, 100000, 0.3141, 0.95);
    EXPECT_GT(c, 0.9);
    EXPECT_LE(c, 1.0);
  }
}

TEST(ExactCoverage, ClopperPearsonIsConservative) {
  // Clopper & Pearson (1934): coverage >= confidence for every p and n.
  for (const int64_t n : {1, 3, 10, 37, 100, 1000}) {
    for (int i = 1; i < 100; ++i) {
      const double p = i / 100.0 - 0.00123;
      EXPECT_GE(exact_binomial_coverage(IntervalMethod::CLOPPER_PEARSON, n, p, 0.95), 0.95 - 1e-12)
          << "n=" << n << " p=" << p;
    }
  }
}

TEST(ExactCoverage, EdgesAndBadArguments) {
  // p = 0: X = 0 surely; intervals with low(0) = 0 cover. Wald's [0, 0] also covers 0.
  for (const IntervalMethod method : all_interval_methods()) {
    EXPECT_EQ(exact_binomial_coverage(method, 10, 0.0, 0.95), 1.0) << to_string(method);
    EXPECT_EQ(exact_binomial_coverage(method, 10, 1.0, 0.95), 1.0) << to_string(method);
    EXPECT_THROW(exact_binomial_coverage(method, 10, -0.1, 0.95), std::invalid_argument);
    EXPECT_THROW(exact_binomial_coverage(method, 10, 1.1, 0.95), std::invalid_argument);
    EXPECT_THROW(exact_binomial_coverage(method, 10, NaN, 0.95), std::invalid_argument);
    EXPECT_THROW(exact_binomial_coverage(method, 0, 0.5, 0.95), std::invalid_argument);
    EXPECT_THROW(exact_binomial_coverage(method, 10, 0.5, 1.0), std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------------------
// Visibility

TEST(Visibility, Probability) {
  EXPECT_EQ(visible_probability(0.5, 1), 0.5);
  EXPECT_DOUBLE_EQ(visible_probability(0.5, 3), 0.875);  // 1 - 1/8
  EXPECT_EQ(visible_probability(0.0, 1000), 0.0);
  EXPECT_EQ(visible_probability(1.0, 1), 1.0);
  EXPECT_EQ(visible_probability(0.3, 0), 0.0);
  EXPECT_EQ(visible_probability(1.0, 0), 0.0);
  // Tiny accuracy: 1 - (1 - 1e-12)^1 = 1e-12; naive 1 - (1 - a) is off by 9e-5 relatively.
  EXPECT_TRUE(near_rel(visible_probability(1e-12, 1), 1e-12, 1e-15));
  // n a << 1: 1 - (1 - a)^n = n a - n(n-1)/2 a^2 + ...; here n a = 1e-10.
  EXPECT_TRUE(near_rel(visible_probability(1e-20, 10000000000), 1e-10, 1e-9));
  EXPECT_THROW(visible_probability(-0.1, 10), std::invalid_argument);
  EXPECT_THROW(visible_probability(1.1, 10), std::invalid_argument);
  EXPECT_THROW(visible_probability(NaN, 10), std::invalid_argument);
  EXPECT_THROW(visible_probability(0.1, -1), std::invalid_argument);
}

TEST(Visibility, TestSizeForHalf) {
  EXPECT_EQ(test_size_for_visibility(0.5), 1.0);
  EXPECT_EQ(test_size_for_visibility(0.9), 1.0);
  EXPECT_EQ(test_size_for_visibility(1.0), 1.0);
  EXPECT_EQ(test_size_for_visibility(0.0), INF);
  // 0.3: 1 - 0.7 = 0.3 < 1/2 <= 1 - 0.49 = 0.51.
  EXPECT_EQ(test_size_for_visibility(0.3), 2.0);
  // 0.01: 0.99^68 = 0.5049 > 1/2 >= 0.99^69 = 0.49984 -> 69.
  EXPECT_EQ(test_size_for_visibility(0.01), 69.0);
  EXPECT_GE(visible_probability(0.01, 69), 0.5);
  EXPECT_LT(visible_probability(0.01, 68), 0.5);
  // 1e-12: ln 2 / -log1p(-1e-12) = 693147180559.598... (mpmath) -> 693147180560.
  EXPECT_EQ(test_size_for_visibility(1e-12), 693147180560.0);
  EXPECT_TRUE(std::isinf(test_size_for_visibility(1e-320)) ||
              test_size_for_visibility(1e-320) > 1e300);
  // The defining property on a grid, including (1 - a)^2 = 1/2 where the quotient is 2.
  for (const double a : {0.2928932188134524, 0.1, 0.0123, 1e-3, 3.7e-5, 1e-7}) {
    const double n = test_size_for_visibility(a);
    EXPECT_GE(visible_probability(a, static_cast<int64_t>(n)), 0.5) << a;
    EXPECT_LT(visible_probability(a, static_cast<int64_t>(n) - 1), 0.5) << a;
  }
  EXPECT_THROW(test_size_for_visibility(-1e-9), std::invalid_argument);
  EXPECT_THROW(test_size_for_visibility(NaN), std::invalid_argument);
}

}  // namespace
}  // namespace mirage
