// Copyright (c) Mirage developers.
//! \file test_intervals.cpp
//! Tests of the logit, likelihood-ratio and Blaker proportion intervals (statistics.h) and of
//! host/stats/token_intervals.h: token_mean_interval, exact_mean_coverage, newcombe_difference and
//! mover_difference. Reference values say where they come from:
//! - "mpmath": tests/python/reference_intervals.py, which computes each interval from its
//!   published definition at 40 significant digits with mpmath 1.3.0 (Blaker by scanning the
//!   acceptability function summed over all outcomes, not by the C++ algorithm);
//! - "R survey": R 4.2.2 with survey 4.1.1, svyciprop(~correct, svydesign(ids = ~item),
//!   method = "beta") on the same items (run by that script with --r);
//! - "contingencytables": the published outputs in the tests of the R package
//!   contingencytables (Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
//!   Tables", 2017; tests/testthat/test-ch2.R), printed to 4 decimals;
//! - "statsmodels": statsmodels 0.15.0, confint_proportions_2indep(method="newcomb");
//! - "enumeration": brute-force sums over all (L + 1)^n outcome vectors, here or in the
//!   script (Python, scipy 1.17 quantiles).
#include <gtest/gtest.h>

#include <boost/math/distributions/binomial.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "stats/token_intervals.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double INF = std::numeric_limits<double>::infinity();

using M = IntervalMethod;
using T = MeanIntervalMethod;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

// Equal bits (a NaN equals a NaN).
bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

bool is_nan(const Interval& ci) {
  return std::isnan(ci.low) && std::isnan(ci.high);
}

// ---------------------------------------------------------------------------------------
// Logit, likelihood-ratio and Blaker: reference values

struct Known {
  IntervalMethod method;
  int64_t x;
  int64_t n;
  double confidence;
  double low;
  double high;
};

TEST(NewProportionIntervals, MatchMpmathReferences) {
  // mpmath (see the file comment). Abs. tolerance 1e-12; the largest deviation seen is
  // printed for the record.
  const std::vector<Known> known = {
      {M::LOGIT, 0, 1, 0.95, 0.0, 0.975},
      {M::LOGIT, 1, 1, 0.95, 0.025000000000000022, 1.0},
      {M::LOGIT, 0, 10, 0.95, 0.0, 0.3084971078187608},
      {M::LOGIT, 1, 10, 0.95, 0.013881657328791172, 0.46723672928378984},
      {M::LOGIT, 9, 10, 0.95, 0.5327632707162102, 0.9861183426712088},
      {M::LOGIT, 10, 10, 0.95, 0.6915028921812393, 1.0},
      {M::LOGIT, 5, 10, 0.95, 0.2245073489795687, 0.7754926510204313},
      {M::LOGIT, 3, 17, 0.9, 0.06998526312618078, 0.37895776197026687},
      {M::LOGIT, 7, 50, 0.99, 0.053905006778997164, 0.3174619479288126},
      {M::LOGIT, 13, 16, 0.95, 0.5525441364627434, 0.9382961169882621},
      {M::LOGIT, 1, 100, 0.95, 0.0014069012852565388, 0.06752893624214554},
      {M::LOGIT, 42, 1000, 0.95, 0.031184122686636544, 0.056349057673841144},
      {M::LOGIT, 2, 7, 0.5, 0.18533539909795926, 0.4129042690553056},
      {M::LOGIT, 0, 2000, 0.95, 0.0, 0.0018427397934059366},
      {M::LOGIT, 1, 2000, 0.99, 3.803841924962362e-05, 0.006535634024241512},
      {M::LOGIT, 1999, 2000, 0.95, 0.9964595269488629, 0.9999295725125187},
      {M::LOGIT, 987, 2000, 0.95, 0.47161526999196884, 0.5154096675547446},
      {M::LIKELIHOOD_RATIO, 0, 1, 0.95, 0.0, 0.8534999355139157},
      {M::LIKELIHOOD_RATIO, 1, 1, 0.95, 0.14650006448608427, 1.0},
      {M::LIKELIHOOD_RATIO, 0, 10, 0.95, 0.0, 0.17475332804982985},
      {M::LIKELIHOOD_RATIO, 1, 10, 0.95, 0.005991120067459091, 0.37163580936829127},
      {M::LIKELIHOOD_RATIO, 9, 10, 0.95, 0.6283641906317087, 0.994008879932541},
      {M::LIKELIHOOD_RATIO, 10, 10, 0.95, 0.8252466719501701, 1.0},
      {M::LIKELIHOOD_RATIO, 5, 10, 0.95, 0.21761377050431077, 0.7823862294956893},
      {M::LIKELIHOOD_RATIO, 3, 17, 0.9, 0.06091378690433588, 0.3571609694575345},
      {M::LIKELIHOOD_RATIO, 7, 50, 0.99, 0.04612267868237151, 0.2947097631563079},
      {M::LIKELIHOOD_RATIO, 13, 16, 0.95, 0.5827632103242005, 0.9497391740174869},
      {M::LIKELIHOOD_RATIO, 1, 100, 0.95, 0.0005732948625970782, 0.04328760902929842},
      {M::LIKELIHOOD_RATIO, 42, 1000, 0.95, 0.030722381483112328, 0.05561868470936882},
      {M::LIKELIHOOD_RATIO, 2, 7, 0.5, 0.1813074744566756, 0.40832013546015355},
      {M::LIKELIHOOD_RATIO, 0, 2000, 0.95, 0.0, 0.0009599037025787431},
      {M::LIKELIHOOD_RATIO, 1, 2000, 0.99, 6.759316386685913e-06, 0.003061455121318222},
      {M::LIKELIHOOD_RATIO, 1999, 2000, 0.95, 0.9978003620664146, 0.9999714638014904},
      {M::LIKELIHOOD_RATIO, 987, 2000, 0.95, 0.4716076229621022, 0.5154090137705064},
      {M::BLAKER, 0, 1, 0.95, 0.0, 0.95},
      {M::BLAKER, 1, 1, 0.95, 0.050000000000000044, 1.0},
      {M::BLAKER, 0, 10, 0.95, 0.0, 0.2829347077856368},
      {M::BLAKER, 1, 10, 0.95, 0.005116196891823706, 0.4444470860615949},
      {M::BLAKER, 9, 10, 0.95, 0.5555529139384051, 0.9948838031081763},
      {M::BLAKER, 10, 10, 0.95, 0.7170652922143632, 1.0},
      {M::BLAKER, 5, 10, 0.95, 0.22244110100812914, 0.7775588989918709},
      {M::BLAKER, 3, 17, 0.9, 0.0666675538416822, 0.37926013081580895},
      {M::BLAKER, 7, 50, 0.99, 0.048425301103165085, 0.3030343476509882},
      {M::BLAKER, 13, 16, 0.95, 0.5655918705714286, 0.9468540155173362},
      {M::BLAKER, 1, 100, 0.95, 0.0005128014162622926, 0.05134532862506021},
      {M::BLAKER, 42, 1000, 0.95, 0.03056920945887513, 0.05609761743341042},
      {M::BLAKER, 2, 7, 0.5, 0.15690941548275486, 0.43159894689235256},
      {M::BLAKER, 0, 2000, 0.95, 0.0, 0.0017753133459308297},
      {M::BLAKER, 1, 2000, 0.99, 5.0251553006155285e-06, 0.0035593029176048526},
      {M::BLAKER, 1999, 2000, 0.95, 0.997236729914193, 0.9999743536816786},
      {M::BLAKER, 421, 1000, 0.95, 0.39039823655485345, 0.4519558122414791},
  };
  double worst[3] = {0.0, 0.0, 0.0};
  for (const Known& k : known) {
    const Interval ci = proportion_interval(k.method, k.x, k.n, k.confidence);
    SCOPED_TRACE(to_string(k.method) + " x=" + std::to_string(k.x) + " n=" + std::to_string(k.n) +
                 " conf=" + std::to_string(k.confidence));
    EXPECT_NEAR(ci.low, k.low, 1e-12);
    EXPECT_NEAR(ci.high, k.high, 1e-12);
    double& w = worst[static_cast<int>(k.method) - static_cast<int>(M::LOGIT)];
    w = std::max({w, std::fabs(ci.low - k.low), std::fabs(ci.high - k.high)});
  }
  std::printf("max |deviation| from mpmath: logit %.3g, likelihood-ratio %.3g, blaker %.3g\n",
              worst[0], worst[1], worst[2]);
}

TEST(NewProportionIntervals, MatchPublishedROutputs) {
  // contingencytables (4 decimals): Blaker_exact_CI_1x2(1, 100) "0.0005 to 0.0513";
  // LR_CI_1x2(X = 13, n = 16) "0.5828 to 0.9497".
  const Interval blaker = proportion_interval(M::BLAKER, 1, 100, 0.95);
  EXPECT_NEAR(blaker.low, 0.0005, 5e-5);
  EXPECT_NEAR(blaker.high, 0.0513, 5e-5);
  const Interval lr = proportion_interval(M::LIKELIHOOD_RATIO, 13, 16, 0.95);
  EXPECT_NEAR(lr.low, 0.5828, 5e-5);
  EXPECT_NEAR(lr.high, 0.9497, 5e-5);
}

TEST(NewProportionIntervals, LogitEdgesAreBinomPackagesClopperPearson) {
  // R binom.confint(method = "logit") at x = 0 and x = n: [0, 1 - (alpha/2)^(1/n)] and
  // [(alpha/2)^(1/n), 1], i.e. Clopper-Pearson's ends.
  for (const double confidence : {0.8, 0.95, 0.999}) {
    for (const int64_t n : {1, 2, 7, 100, 100000}) {
      const Interval zero = proportion_interval(M::LOGIT, 0, n, confidence);
      const Interval cp0 = proportion_interval(M::CLOPPER_PEARSON, 0, n, confidence);
      EXPECT_EQ(zero.low, 0.0);
      EXPECT_NEAR(zero.high, cp0.high, 1e-13 * cp0.high) << n;
      const Interval all = proportion_interval(M::LOGIT, n, n, confidence);
      const Interval cpn = proportion_interval(M::CLOPPER_PEARSON, n, n, confidence);
      EXPECT_NEAR(all.low, cpn.low, 1e-13) << n;
      EXPECT_EQ(all.high, 1.0);
    }
  }
}

TEST(NewProportionIntervals, LikelihoodRatioEndsSolveTheDeviance) {
  // Identity: the deviance 2 (l(phat) - l(p)) equals z^2 at each inner end.
  const double z = 1.959963984540054;  // mpmath, as in test_statistics.cpp
  for (const int64_t n : {1, 2, 5, 33, 1000, 100000}) {
    for (const int64_t x : {int64_t{0}, int64_t{1}, n / 3, n - 1, n}) {
      if (x < 0 || x > n) continue;
      const Interval ci = proportion_interval(M::LIKELIHOOD_RATIO, x, n, 0.95);
      const double xd = double(x), nd = double(n);
      const auto deviance = [&](double p) {
        double d = 0.0;
        if (x > 0) d += xd * std::log(xd / nd / p);
        if (x < n) d += (nd - xd) * std::log((1 - xd / nd) / (1 - p));
        return 2 * d;
      };
      SCOPED_TRACE("x=" + std::to_string(x) + " n=" + std::to_string(n));
      if (x > 0) {
        EXPECT_NEAR(deviance(ci.low), z * z, 1e-9);
      } else {
        EXPECT_EQ(ci.low, 0.0);
      }
      if (x < n) {
        EXPECT_NEAR(deviance(ci.high), z * z, 1e-9);
      } else {
        EXPECT_EQ(ci.high, 1.0);
      }
    }
  }
}

// Blaker's acceptability by its definition, summed over all outcomes (Boost pmf, tails by
// summing it).
double acceptability(int64_t x, int64_t n, double p) {
  const boost::math::binomial_distribution<double> b(double(n), p);
  std::vector<double> pmf(size_t(n) + 1), lower(size_t(n) + 1), upper(size_t(n) + 2, 0.0),
      gamma(size_t(n) + 1);
  for (int64_t y = 0; y <= n; ++y) pmf[size_t(y)] = boost::math::pdf(b, double(y));
  for (int64_t y = 0; y <= n; ++y)
    lower[size_t(y)] = pmf[size_t(y)] + (y > 0 ? lower[size_t(y) - 1] : 0.0);
  for (int64_t y = n; y >= 0; --y) upper[size_t(y)] = pmf[size_t(y)] + upper[size_t(y) + 1];
  for (int64_t y = 0; y <= n; ++y) gamma[size_t(y)] = std::min(lower[size_t(y)], upper[size_t(y)]);
  double a = 0.0;
  for (int64_t y = 0; y <= n; ++y) {
    if (gamma[size_t(y)] <= gamma[size_t(x)] * (1 + 1e-9)) a += pmf[size_t(y)];
  }
  return a;
}

TEST(NewProportionIntervals, BlakerEndsBoundTheAcceptedSet) {
  // For every x of small n: the ends are accepted or are the limit of accepted points
  // (a > alpha just inside), and every point of a grid between Clopper-Pearson's end and
  // Blaker's end is rejected. Also nested in Clopper-Pearson (Blaker 2000, Theorem 1).
  for (const double confidence : {0.9, 0.95}) {
    const double alpha = 1 - confidence;
    for (int64_t n = 1; n <= 22; ++n) {
      for (int64_t x = 0; x <= n; ++x) {
        const Interval ci = proportion_interval(M::BLAKER, x, n, confidence);
        const Interval cp = proportion_interval(M::CLOPPER_PEARSON, x, n, confidence);
        SCOPED_TRACE("x=" + std::to_string(x) + " n=" + std::to_string(n));
        EXPECT_LE(cp.low, ci.low + 1e-15);
        EXPECT_GE(cp.high, ci.high - 1e-15);
        const double delta = 1e-9;
        if (x > 0) {
          EXPECT_GT(acceptability(x, n, ci.low + delta), alpha);
          for (int i = 0; i <= 100; ++i) {
            const double p = cp.low + (ci.low - delta - cp.low) * i / 100.0;
            if (p < ci.low - delta / 2) {
              EXPECT_LE(acceptability(x, n, p), alpha) << p;
            }
          }
        }
        if (x < n) {
          EXPECT_GT(acceptability(x, n, ci.high - delta), alpha);
          for (int i = 0; i <= 100; ++i) {
            const double p = cp.high - (cp.high - ci.high - delta) * i / 100.0;
            if (p > ci.high + delta / 2) {
              EXPECT_LE(acceptability(x, n, p), alpha) << p;
            }
          }
        }
      }
    }
  }
}

TEST(NewProportionIntervals, BlakerIsExact) {
  // Blaker's interval is exact: coverage >= confidence for every p (Blaker 2000).
  for (const int64_t n : {1, 4, 13, 50, 200}) {
    for (int i = 1; i < 100; ++i) {
      const double p = i / 100.0 - 0.00123;
      EXPECT_GE(exact_binomial_coverage(M::BLAKER, n, p, 0.95), 0.95 - 1e-12)
          << "n=" << n << " p=" << p;
    }
  }
}

TEST(NewProportionIntervals, LargeN) {
  // n = 1e5 runs and lands inside Clopper-Pearson (Blaker) / near Wilson (all, to within the
  // O(1/n) differences between methods).
  for (const int64_t x : {0, 1, 17, 31415, 99999, 100000}) {
    const Interval wilson = proportion_interval(M::WILSON, x, 100000, 0.95);
    const Interval cp = proportion_interval(M::CLOPPER_PEARSON, x, 100000, 0.95);
    for (const IntervalMethod method : {M::LOGIT, M::LIKELIHOOD_RATIO, M::BLAKER}) {
      const Interval ci = proportion_interval(method, x, 100000, 0.95);
      SCOPED_TRACE(to_string(method) + " x=" + std::to_string(x));
      EXPECT_NEAR(ci.low, wilson.low, 5e-5);
      EXPECT_NEAR(ci.high, wilson.high, 5e-5);
      if (method == M::BLAKER) {
        EXPECT_GE(ci.low, cp.low);
        EXPECT_LE(ci.high, cp.high);
      }
    }
  }
}

TEST(AllProportionIntervals, ContainEstimateAndAreMonotoneInX) {
  // Every method: 0 <= low <= x/n <= high <= 1, and both ends non-decreasing in x -- except
  // LOGIT at high confidence, see LogitIsNotMonotoneAtHighConfidence.
  for (const IntervalMethod method : all_interval_methods()) {
    for (const double confidence : {0.8, 0.95, 0.99}) {
      const bool monotone = !(method == M::LOGIT && confidence > 0.95);
      for (const int64_t n : {1, 2, 3, 5, 8, 13, 30, 57, 100}) {
        Interval previous{-1.0, -1.0};
        for (int64_t x = 0; x <= n; ++x) {
          const Interval ci = proportion_interval(method, x, n, confidence);
          const double phat = double(x) / double(n);
          SCOPED_TRACE(to_string(method) + " x=" + std::to_string(x) + " n=" + std::to_string(n));
          EXPECT_LE(0.0, ci.low);
          EXPECT_LE(ci.high, 1.0);
          // Wald at x = 0 is [0, 0]: it contains phat = 0 as well.
          EXPECT_LE(ci.low, phat + 1e-15);
          EXPECT_GE(ci.high, phat - 1e-15);
          if (monotone) {
            EXPECT_GE(ci.low, previous.low);
            EXPECT_GE(ci.high, previous.high);
          }
          previous = ci;
        }
      }
    }
  }
}

TEST(AllProportionIntervals, LogitIsNotMonotoneAtHighConfidence) {
  // A property of the logit interval, not of this code: its upper end at x = 1 is about
  // exp(z) / n and at x = 2 about 2 exp(z / sqrt(2)) / n, which is smaller once z > 2.37
  // (confidence > 98.2 %). At 99 %, n = 30: high(1) = 0.3214 > high(2) = 0.3200 (mpmath:
  // expit(log(1/29) + z sqrt(30/29)) and expit(log(2/28) + z sqrt(30/56))).
  const Interval one = proportion_interval(M::LOGIT, 1, 30, 0.99);
  const Interval two = proportion_interval(M::LOGIT, 2, 30, 0.99);
  EXPECT_GT(one.high, two.high);
  // At 95 % it is monotone for every n tried.
  for (const int64_t n : {2, 10, 100, 1000, 100000}) {
    EXPECT_LT(proportion_interval(M::LOGIT, 1, n, 0.95).high,
              proportion_interval(M::LOGIT, 2, n, 0.95).high);
  }
}

// ---------------------------------------------------------------------------------------
// token_mean_interval

struct TokenKnown {
  int64_t errors;
  int64_t errors_sq;
  int64_t n;
  int32_t length;
  double confidence;
  double wilson_low, wilson_high, kg_low, kg_high;
};

TEST(TokenMeanInterval, DesignEffectMethodsMatchReferences) {
  // mpmath; the rows marked "R survey" agree with R's svyciprop(method = "beta") (the
  // Korn-Graubard interval, in accuracy units, mapped to d = L (1 - P)) to <= 2e-15: rows
  // with Kish design effect >= 1, which survey does not truncate. Abs. tolerance 1e-12.
  const std::vector<TokenKnown> known = {
      // k = {3, 1, 2, 0, 3}, L = 3; n_eff = 6.35; R survey: 0.09367430555209766, 2.6934547062285463
      {6, 14, 5, 3, 0.95, 0.4038092731296638, 2.222283021959553, 0.09367430555209766,
       2.6934547062285463},
      // k = {5, 5, 4, 0, 1, 5, 5, 3, 2, 5}, L = 5; n_eff = 14.5; R survey:
      // 0.38516544989279866, 3.1401089079492817
      {15, 55, 10, 5, 0.95, 0.640851294189986, 2.7771547412693094, 0.3851654498927986,
       3.1401089079492834},
      // k = {2, 2, 2, 2}, L = 2: all correct, n_eff = nL = 8
      {0, 0, 4, 2, 0.95, 0.0, 0.6488151297677603, 0.0, 1.1324443939310656},
      // k = {0, 0, 0}, L = 4: all wrong, n_eff = 12
      {12, 48, 3, 4, 0.95, 3.030023973379037, 4.0, 1.235564303503664, 4.0},
      // k = {4, 4, 4, 4, 4, 4}, L = 4, 90 %
      {0, 0, 6, 4, 0.9, 0.0, 0.4052407259557952, 0.0, 0.6339234067553312},
      // n = 1: k = {1}, L = 3 (n_eff = L, no df adjustment)
      {2, 4, 1, 3, 0.95, 0.6229788024061433, 2.815524165838811, 0.28289797215073836,
       2.974788724021162},
      // n = 1: k = {3}, L = 3
      {0, 0, 1, 3, 0.95, 0.0, 1.6844910952651362, 0.0, 2.12279467853614},
      // k = {0, 1}, L = 1, 99 %; R survey: 1.5421336149290532e-05, 0.9999845786638507
      {1, 1, 2, 1, 0.99, 0.03389313008715101, 0.966106869912849, 1.542133614931986e-05,
       0.9999845786638507},
      // k = {2, 1, 2, 2, 0, 2}, L = 2, 99 %; R survey: 0.001975615689918886, 1.7956167367711435
      {3, 5, 6, 2, 0.99, 0.08655611135482409, 1.4213409176723224, 0.00197561568991885,
       1.7956167367711433},
      // k = {1 x 9, 0}, L = 1; R survey: 0.001768901698955716, 0.4695001329830296
      {1, 1, 10, 1, 0.95, 0.016578980674042086, 0.4227370580615931, 0.0017689016989557386,
       0.46950013298302956},
  };
  double worst_wilson = 0.0, worst_kg = 0.0;
  for (const TokenKnown& k : known) {
    SCOPED_TRACE("E=" + std::to_string(k.errors) + " E2=" + std::to_string(k.errors_sq) +
                 " n=" + std::to_string(k.n) + " L=" + std::to_string(k.length));
    const Interval w =
        token_mean_interval(T::WILSON_DEFF, k.errors, k.errors_sq, k.n, k.length, k.confidence);
    const Interval kg = token_mean_interval(T::CLOPPER_PEARSON_DEFF, k.errors, k.errors_sq, k.n,
                                            k.length, k.confidence);
    EXPECT_NEAR(w.low, k.wilson_low, 1e-12);
    EXPECT_NEAR(w.high, k.wilson_high, 1e-12);
    EXPECT_NEAR(kg.low, k.kg_low, 1e-12);
    EXPECT_NEAR(kg.high, k.kg_high, 1e-12);
    worst_wilson = std::max(
        {worst_wilson, std::fabs(w.low - k.wilson_low), std::fabs(w.high - k.wilson_high)});
    worst_kg = std::max({worst_kg, std::fabs(kg.low - k.kg_low), std::fabs(kg.high - k.kg_high)});
  }
  std::printf("max |deviation| from mpmath: wilson-deff %.3g, clopper-pearson-deff %.3g\n",
              worst_wilson, worst_kg);
}

TEST(TokenMeanInterval, EffectiveTrials) {
  // k = {3, 1, 2, 0, 3}, L = 3: d = {0, 2, 1, 3, 0}, E = 6, E2 = 14;
  // (nL - E) E (n - 1) / (n E2 - E^2) = 9 * 6 * 4 / (70 - 36) = 216 / 34.
  EXPECT_NEAR(token_effective_trials(6, 14, 5, 3), 216.0 / 34.0, 1e-14);
  EXPECT_EQ(token_effective_trials(2, 4, 1, 3), 3.0);     // n = 1: L
  EXPECT_EQ(token_effective_trials(0, 0, 7, 3), 21.0);    // all correct: nL
  EXPECT_EQ(token_effective_trials(21, 63, 7, 3), 21.0);  // all wrong: nL
  EXPECT_EQ(token_effective_trials(7, 7, 7, 3), 21.0);    // every item d = 1: vhat = 0
  // Less variable than binomial: d = {1, 1, 1, 2} at L = 3 gives 9 * 5 * 3 / (4*7 - 25) = 45,
  // above nL = 12: truncated (deff >= 1).
  EXPECT_EQ(token_effective_trials(5, 7, 4, 3), 12.0);
  // L = 1: d is 0/1 and n_eff = (n - E) E (n - 1) / (n E - E^2) = n - 1.
  EXPECT_NEAR(token_effective_trials(3, 3, 10, 1), 9.0, 1e-14);
}

TEST(TokenMeanInterval, StudentTAndNormalAreMeanIntervalClipped) {
  for (const MeanIntervalMethod method : {T::STUDENT_T, T::NORMAL}) {
    for (const double confidence : {0.9, 0.95}) {
      // {E, E2, n, L}
      const std::vector<std::vector<int64_t>> cases = {
          {6, 14, 5, 3}, {1, 1, 10, 1}, {15, 55, 10, 5}, {1, 1, 3, 4},        {11, 41, 3, 4},
          {2, 4, 2, 2},  {0, 0, 9, 3},  {27, 81, 9, 3},  {700, 1500, 1000, 5}};
      for (const auto& c : cases) {
        const Moments m = moments_from_sums(c[0], c[1], c[2]);
        const Interval raw = mean_interval(method, m.mean, m.sd, c[2], confidence);
        const Interval ci =
            token_mean_interval(method, c[0], c[1], c[2], int32_t(c[3]), confidence);
        const double L = double(c[3]);
        SCOPED_TRACE(to_string(method) + " E=" + std::to_string(c[0]));
        EXPECT_EQ(ci.low, std::min(L, std::max(0.0, raw.low)));
        EXPECT_EQ(ci.high, std::min(L, std::max(0.0, raw.high)));
      }
    }
    // n = 1: NaN as before.
    EXPECT_TRUE(is_nan(token_mean_interval(method, 2, 4, 1, 3, 0.95)));
  }
  // The clipping matters: d = {0, 0, 1} at L = 4 has t interval [-0.68, 1.10] -> low 0.
  EXPECT_EQ(token_mean_interval(T::STUDENT_T, 1, 1, 3, 4, 0.95).low, 0.0);
  EXPECT_EQ(token_mean_interval(T::STUDENT_T, 11, 41, 3, 4, 0.95).high, 4.0);
}

//! All (E, E2) that n values in 0..L can have, by enumerating multisets.
std::vector<std::pair<int64_t, int64_t>> reachable_tallies(int64_t n, int32_t L) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::vector<int32_t> d(size_t(n), 0);
  while (true) {
    int64_t e = 0, e2 = 0;
    for (const int32_t v : d) {
      e += v;
      e2 += int64_t(v) * v;
    }
    out.emplace_back(e, e2);
    // Next non-decreasing sequence.
    int64_t i = n - 1;
    while (i >= 0 && d[size_t(i)] == L) --i;
    if (i < 0) break;
    const int32_t v = d[size_t(i)] + 1;
    for (int64_t j = i; j < n; ++j) d[size_t(j)] = v;
  }
  return out;
}

TEST(TokenMeanInterval, InRangeContainEstimateAndPositiveWidth) {
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    for (const int32_t L : {1, 2, 3, 5}) {
      for (const int64_t n : {1, 2, 3, 6}) {
        for (const auto& [e, e2] : reachable_tallies(n, L)) {
          const Interval ci = token_mean_interval(method, e, e2, n, L, 0.95);
          const double mean = double(e) / double(n);
          SCOPED_TRACE(to_string(method) + " E=" + std::to_string(e) + " E2=" + std::to_string(e2) +
                       " n=" + std::to_string(n) + " L=" + std::to_string(L));
          if ((method == T::STUDENT_T || method == T::NORMAL) && n == 1) {
            EXPECT_TRUE(is_nan(ci));
            continue;
          }
          EXPECT_LE(0.0, ci.low);
          EXPECT_LE(ci.low, mean);
          EXPECT_LE(mean, ci.high);
          EXPECT_LE(ci.high, double(L));
          const bool all_agree = int64_t(n) * e2 == e * e;
          if (method == T::WILSON_DEFF || method == T::CLOPPER_PEARSON_DEFF) {
            EXPECT_GT(ci.high - ci.low, 0.0);  // never zero width, also when all items agree
          } else if (all_agree) {
            EXPECT_EQ(ci.high, ci.low);  // student-t / normal collapse, as documented
          }
        }
      }
    }
  }
}

TEST(TokenMeanInterval, AllItemsAgreeLargeN) {
  // All 1000 items exactly right (E = 0) or all exactly wrong: the deff intervals are those
  // of nL independent tokens; Wilson's upper end at E = 0 is L z^2 / (nL + z^2).
  const double z = 1.959963984540054;
  const Interval right = token_mean_interval(T::WILSON_DEFF, 0, 0, 1000, 5, 0.95);
  EXPECT_EQ(right.low, 0.0);
  EXPECT_NEAR(right.high, 5 * z * z / (5000 + z * z), 1e-15);
  const Interval wrong = token_mean_interval(T::CLOPPER_PEARSON_DEFF, 5000, 25000, 1000, 5, 0.95);
  EXPECT_EQ(wrong.high, 5.0);
  EXPECT_LT(wrong.low, 5.0);
  EXPECT_GT(wrong.low, 4.99);
}

TEST(TokenMeanInterval, RejectsImpossibleTallies) {
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    EXPECT_THROW(token_mean_interval(method, -1, 0, 5, 3, 0.95), std::invalid_argument);
    EXPECT_THROW(token_mean_interval(method, 16, 48, 5, 3, 0.95), std::invalid_argument);  // E > nL
    EXPECT_THROW(token_mean_interval(method, 4, 5, 5, 3, 0.95), std::invalid_argument);    // parity
    EXPECT_THROW(token_mean_interval(method, 4, 2, 5, 3, 0.95), std::invalid_argument);    // E2 < E
    EXPECT_THROW(token_mean_interval(method, 4, 14, 5, 3, 0.95), std::invalid_argument);   // > L E
    EXPECT_THROW(token_mean_interval(method, 10, 18, 5, 3, 0.95),
                 std::invalid_argument);  // < least
    EXPECT_THROW(token_mean_interval(method, 0, 0, 0, 3, 0.95), std::invalid_argument);
    EXPECT_THROW(token_mean_interval(method, 0, 0, 5, 0, 0.95), std::invalid_argument);
    EXPECT_THROW(token_mean_interval(method, 0, 0, 5, 3, 1.0), std::invalid_argument);
    EXPECT_THROW(token_mean_interval(method, 0, 0, 5, 3, NaN), std::invalid_argument);
  }
  EXPECT_THROW(token_mean_interval(static_cast<MeanIntervalMethod>(17), 0, 0, 5, 3, 0.95),
               std::invalid_argument);
  EXPECT_EQ(message_of([] { token_mean_interval(T::WILSON_DEFF, 16, 48, 5, 3, 0.95); }),
            "token_mean_interval: errors = 16; must satisfy 0 <= errors <= n * length = 15");
  // mean_interval refuses the deff methods: they need token counts.
  EXPECT_THROW(mean_interval(T::WILSON_DEFF, 1.0, 0.5, 10, 0.95), std::invalid_argument);
  EXPECT_THROW(mean_interval(T::CLOPPER_PEARSON_DEFF, 1.0, 0.5, 10, 0.95), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// exact_mean_coverage

//! Coverage by enumerating all (L + 1)^n vectors of per-item k.
double brute_mean_coverage(MeanIntervalMethod method, const std::vector<double>& k_pmf, int64_t n,
                           double confidence, double truth) {
  const int32_t L = int32_t(k_pmf.size()) - 1;
  std::vector<int32_t> k(size_t(n), 0);
  double coverage = 0.0;
  bool any = false;
  while (true) {
    double p = 1.0;
    int64_t e = 0, e2 = 0;
    for (const int32_t v : k) {
      p *= k_pmf[size_t(v)];
      e += L - v;
      e2 += int64_t(L - v) * (L - v);
    }
    if (p > 0.0) {
      const Interval ci = token_mean_interval(method, e, e2, n, L, confidence);
      if (!is_nan(ci)) {
        any = true;
        if (ci.low <= truth && truth <= ci.high) coverage += p;
      }
    }
    int64_t i = 0;
    while (i < n && k[size_t(i)] == L) k[size_t(i++)] = 0;
    if (i == n) break;
    ++k[size_t(i)];
  }
  return any ? coverage : NaN;
}

double mean_of_d(const std::vector<double>& k_pmf) {
  const int32_t L = int32_t(k_pmf.size()) - 1;
  double truth = 0.0;
  for (int32_t j = 0; j <= L; ++j) truth += (L - j) * k_pmf[size_t(j)];
  return truth;
}

TEST(ExactMeanCoverage, MatchesEnumeration) {
  const std::vector<std::vector<double>> pmfs = {
      {0.3, 0.7},                                              // L = 1
      {0.25, 0.5, 0.25},                                       // L = 2, binomial(2, 1/2)
      {0.6, 0.0, 0.4},                                         // L = 2, d in {0, 2}
      {0.1, 0.2, 0.3, 0.4},                                    // L = 3
      {0.0, 0.0, 0.0, 1.0},                                    // L = 3, all items right
      {0.05, 0.05, 0.1, 0.8},                                  // L = 3, mostly right
      {0.5 * 0.001 + 0.5 * 0.729, 0.5 * 0.027 + 0.5 * 0.243,   // L = 3, mixture of
       0.5 * 0.243 + 0.5 * 0.027, 0.5 * 0.729 + 0.5 * 0.001},  // p = 0.9 and p = 0.1
  };
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    for (const auto& pmf : pmfs) {
      const double truth = mean_of_d(pmf);
      for (const int64_t n : {1, 2, 3, 5}) {
        for (const double confidence : {0.8, 0.95}) {
          const double exact = exact_mean_coverage(method, pmf.data(), int32_t(pmf.size()) - 1, n,
                                                   confidence, truth);
          const double brute = brute_mean_coverage(method, pmf, n, confidence, truth);
          SCOPED_TRACE(to_string(method) + " L=" + std::to_string(pmf.size() - 1) +
                       " n=" + std::to_string(n) + " pmf[0]=" + std::to_string(pmf[0]));
          if (std::isnan(brute)) {
            EXPECT_TRUE(std::isnan(exact));
          } else {
            EXPECT_NEAR(exact, brute, 1e-12);
          }
        }
      }
      // Also at a truth other than the mean (the caller supplies it).
      const double other = 0.37 * double(pmf.size() - 1);
      EXPECT_NEAR(exact_mean_coverage(method, pmf.data(), int32_t(pmf.size()) - 1, 4, 0.95, other),
                  brute_mean_coverage(method, pmf, 4, 0.95, other), 1e-12);
    }
  }
}

TEST(ExactMeanCoverage, MatchesPythonEnumeration) {
  // enumeration in tests/python/reference_intervals.py (its own interval code, scipy).
  const std::vector<double> a = {0.1, 0.3, 0.6}, b = {0.2, 0.2, 0.1, 0.5},
                            c = {0.05, 0.15, 0.3, 0.5}, d = {0.3, 0.3, 0.4};
  EXPECT_NEAR(exact_mean_coverage(T::STUDENT_T, a.data(), 2, 4, 0.95, 0.5), 0.8555999999999998,
              1e-12);
  EXPECT_NEAR(exact_mean_coverage(T::NORMAL, b.data(), 3, 3, 0.9, 1.1), 0.7110000000000004, 1e-12);
  EXPECT_NEAR(exact_mean_coverage(T::WILSON_DEFF, c.data(), 3, 4, 0.95, 0.75), 0.9044499999999998,
              1e-12);
  EXPECT_NEAR(
      exact_mean_coverage(T::CLOPPER_PEARSON_DEFF, d.data(), 2, 5, 0.95, 0.8999999999999999),
      0.9873299999999997, 1e-12);
}

TEST(ExactMeanCoverage, BinomialCases) {
  // With d in {0, L} only (k = 0 or k = L) the tallies are E = L Y, E2 = L^2 Y for
  // Y ~ Binomial(n, q): the dynamic programme must equal that binomial sum, at sizes far
  // beyond enumeration. L = 1 is the same reasoning as exact_binomial_coverage.
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    for (const int32_t L : {1, 2, 3}) {
      for (const int64_t n : {7, 60, 150}) {
        const double q = 0.13;  // P(d = L)
        std::vector<double> pmf(size_t(L) + 1, 0.0);
        pmf[0] = q;
        pmf[size_t(L)] = 1 - q;
        const double truth = L * q;
        const boost::math::binomial_distribution<double> y(double(n), q);
        double sum = 0.0;
        for (int64_t k = 0; k <= n; ++k) {
          const Interval ci = token_mean_interval(method, L * k, int64_t(L) * L * k, n, L, 0.95);
          if (ci.low <= truth && truth <= ci.high) sum += boost::math::pdf(y, double(k));
        }
        SCOPED_TRACE(to_string(method) + " L=" + std::to_string(L) + " n=" + std::to_string(n));
        EXPECT_NEAR(exact_mean_coverage(method, pmf.data(), L, n, 0.95, truth), sum, 1e-12);
      }
    }
  }
}

TEST(ExactMeanCoverage, NaNConventionsAndFeasibility) {
  const std::vector<double> pmf = {0.2, 0.3, 0.5};
  // Student-t and normal give no interval at n = 1: coverage undefined, not 0.
  EXPECT_TRUE(std::isnan(exact_mean_coverage(T::STUDENT_T, pmf.data(), 2, 1, 0.95, 0.7)));
  EXPECT_TRUE(std::isnan(exact_mean_coverage(T::NORMAL, pmf.data(), 2, 1, 0.95, 0.7)));
  // The deff methods are defined at n = 1.
  EXPECT_FALSE(std::isnan(exact_mean_coverage(T::WILSON_DEFF, pmf.data(), 2, 1, 0.95, 0.7)));
  // Degenerate item distribution: every item exactly right. t collapses to [0, 0] and
  // covers 0; so do the deff intervals (low = 0 exactly).
  const std::vector<double> right = {0.0, 0.0, 1.0};
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    EXPECT_EQ(exact_mean_coverage(method, right.data(), 2, 10, 0.95, 0.0), 1.0)
        << to_string(method);
  }
  // Feasibility (documented bounds: states <= 1e6 and n (L + 1) states <= 1e9).
  EXPECT_TRUE(exact_mean_coverage_feasible(100000000, 1));  // L = 1: a binomial sum
  EXPECT_TRUE(exact_mean_coverage_feasible(872, 2));
  EXPECT_FALSE(exact_mean_coverage_feasible(873, 2));
  EXPECT_TRUE(exact_mean_coverage_feasible(499, 3));
  EXPECT_FALSE(exact_mean_coverage_feasible(500, 3));
  EXPECT_TRUE(exact_mean_coverage_feasible(255, 5));
  EXPECT_FALSE(exact_mean_coverage_feasible(256, 5));
  EXPECT_TRUE(exact_mean_coverage_feasible(103, 10));
  EXPECT_FALSE(exact_mean_coverage_feasible(104, 10));
  EXPECT_FALSE(exact_mean_coverage_feasible(1000, 3));
  EXPECT_FALSE(exact_mean_coverage_feasible(100000, 5));
  EXPECT_TRUE(std::isnan(exact_mean_coverage(T::WILSON_DEFF, pmf.data(), 2, 100000, 0.95, 0.7)));
  // Bad arguments.
  const std::vector<double> bad = {0.2, 0.3, 0.6};
  EXPECT_THROW(exact_mean_coverage(T::WILSON_DEFF, bad.data(), 2, 5, 0.95, 0.7),
               std::invalid_argument);
  const std::vector<double> negative = {-0.1, 0.6, 0.5};
  EXPECT_THROW(exact_mean_coverage(T::WILSON_DEFF, negative.data(), 2, 5, 0.95, 0.7),
               std::invalid_argument);
  EXPECT_THROW(exact_mean_coverage(T::WILSON_DEFF, nullptr, 2, 5, 0.95, 0.7),
               std::invalid_argument);
  EXPECT_THROW(exact_mean_coverage(T::WILSON_DEFF, pmf.data(), 2, 5, 0.95, 2.5),
               std::invalid_argument);
  EXPECT_THROW(exact_mean_coverage(T::WILSON_DEFF, pmf.data(), 2, 0, 0.95, 0.7),
               std::invalid_argument);
  EXPECT_THROW(exact_mean_coverage_feasible(0, 3), std::invalid_argument);
}

TEST(ExactMeanCoverage, Timings) {
  // Prints the cost per call (recorded in the report); asserts only a generous bound.
  for (const int32_t L : {1, 3, 5}) {
    std::vector<double> pmf(size_t(L) + 1);
    const boost::math::binomial_distribution<double> k(double(L), 0.7);
    for (int32_t j = 0; j <= L; ++j) pmf[size_t(j)] = boost::math::pdf(k, double(j));
    const double truth = L * 0.3;
    for (const int64_t n : {10, 20, 50}) {
      std::printf("L=%d n=%3lld:", L, static_cast<long long>(n));
      for (const MeanIntervalMethod method : all_mean_interval_methods()) {
        const auto start = std::chrono::steady_clock::now();
        const double c = exact_mean_coverage(method, pmf.data(), L, n, 0.95, truth);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        std::printf("  %s %.4f (%.2f ms)", to_string(method).c_str(), c, ms);
        EXPECT_LT(ms, 2000.0);
        EXPECT_GT(c, 0.5);
      }
      std::printf("\n");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Differences: Newcombe and MOVER

TEST(Difference, NewcombeMatchesStatsmodels) {
  struct Case {
    int64_t x1, n1, x2, n2;
    double confidence, low, high;
  };
  // statsmodels 0.15.0 confint_proportions_2indep(x1, n1, x2, n2, method="newcomb",
  // compare="diff", alpha=1-confidence).
  const std::vector<Case> cases = {
      {56, 70, 48, 80, 0.95, 0.05243147240236498, 0.333872654036906},
      {7, 34, 1, 34, 0.95, 0.018921443885772993, 0.3403686870327073},
      {9, 10, 3, 10, 0.95, 0.17052272393450302, 0.8090179735354881},
      {0, 10, 0, 20, 0.95, -0.16112515805281938, 0.2775327998628892},
      {10, 10, 0, 10, 0.95, 0.6075093504305242, 1.0},
      {0, 10, 10, 10, 0.95, -1.0, -0.6075093504305242},
      {5, 10, 5, 10, 0.95, -0.3725136238199143, 0.3725136238199143},
      {3, 3, 3, 3, 0.95, -0.5614970317550454, 0.5614970317550454},
      {0, 1, 1, 1, 0.9, -1.0, 0.03256547758000283},
      {1, 100, 0, 100, 0.95, -0.0278984707397118, 0.054486196178705315},
      {7, 50, 12, 60, 0.99, -0.2402686024289218, 0.13560202650166203},
      {421, 1000, 398, 1000, 0.95, -0.020073695563389136, 0.06595343349446708},
      {0, 100000, 1, 100000, 0.95, -5.664709659040966e-05, 2.9285854493180073e-05},
      {5, 29, 5, 29, 0.8, -0.12856392140047573, 0.12856392140047573},
  };
  double worst = 0.0;
  for (const Case& c : cases) {
    const Interval ci = newcombe_difference(c.x1, c.n1, c.x2, c.n2, c.confidence);
    SCOPED_TRACE(std::to_string(c.x1) + "/" + std::to_string(c.n1) + " - " + std::to_string(c.x2) +
                 "/" + std::to_string(c.n2));
    EXPECT_NEAR(ci.low, c.low, 1e-12);
    EXPECT_NEAR(ci.high, c.high, 1e-12);
    worst = std::max({worst, std::fabs(ci.low - c.low), std::fabs(ci.high - c.high)});
  }
  std::printf("max |deviation| from statsmodels (newcomb): %.3g\n", worst);
  // Published: Fagerland, Lydersen & Laake (2015), "Recommended confidence intervals for two
  // independent binomial proportions", Stat. Methods Med. Res. 24:224-254, example 7/34 vs
  // 1/34, Newcombe hybrid score: 0.019 to 0.34 (as quoted in statsmodels' test_proportion.py).
  const Interval paper = newcombe_difference(7, 34, 1, 34, 0.95);
  EXPECT_NEAR(paper.low, 0.019, 5e-4);
  EXPECT_NEAR(paper.high, 0.34, 5e-3);
  EXPECT_THROW(newcombe_difference(11, 10, 0, 10, 0.95), std::invalid_argument);
  EXPECT_THROW(newcombe_difference(0, 0, 0, 10, 0.95), std::invalid_argument);
  EXPECT_THROW(newcombe_difference(0, 10, -1, 10, 0.95), std::invalid_argument);
  EXPECT_THROW(newcombe_difference(0, 10, 0, 10, 0.0), std::invalid_argument);
}

TEST(Difference, MoverGeneral) {
  // Zou & Donner (2008), by hand: est 0.5 in [0.3, 0.6], est 0.2 in [0.1, 0.45]:
  // low = 0.3 - sqrt(0.2^2 + 0.25^2), high = 0.3 + sqrt(0.1^2 + 0.1^2).
  const Interval d = mover_difference(0.5, {0.3, 0.6}, 0.2, {0.1, 0.45});
  EXPECT_NEAR(d.low, 0.3 - std::sqrt(0.04 + 0.0625), 1e-15);
  EXPECT_NEAR(d.high, 0.3 + std::sqrt(0.02), 1e-15);
  // Antisymmetric: swapping the two estimates negates and swaps the ends.
  const Interval r = mover_difference(0.2, {0.1, 0.45}, 0.5, {0.3, 0.6});
  EXPECT_NEAR(r.low, -d.high, 1e-15);
  EXPECT_NEAR(r.high, -d.low, 1e-15);
  // With Wilson intervals it is Newcombe's method 10.
  const Interval w1 = proportion_interval(M::WILSON, 7, 40, 0.95);
  const Interval w2 = proportion_interval(M::WILSON, 2, 30, 0.95);
  const Interval mover = mover_difference(7.0 / 40, w1, 2.0 / 30, w2);
  const Interval newcombe = newcombe_difference(7, 40, 2, 30, 0.95);
  EXPECT_EQ(mover.low, newcombe.low);
  EXPECT_EQ(mover.high, newcombe.high);
  // Zero-width inputs give a zero-width difference.
  const Interval flat = mover_difference(1.0, {1.0, 1.0}, 0.25, {0.25, 0.25});
  EXPECT_EQ(flat.low, 0.75);
  EXPECT_EQ(flat.high, 0.75);
  // Linear metrics: the jump in edit distance between two cells' deff intervals contains
  // the difference of the estimates and lies in [-L, L].
  const Interval a = token_mean_interval(T::WILSON_DEFF, 6, 14, 5, 3, 0.95);
  const Interval b = token_mean_interval(T::WILSON_DEFF, 0, 0, 5, 3, 0.95);
  const Interval jump = mover_difference(6.0 / 5, a, 0.0, b);
  EXPECT_LT(jump.low, 1.2);
  EXPECT_GT(jump.high, 1.2);
  EXPECT_GE(jump.low, -3.0);
  EXPECT_LE(jump.high, 3.0);
  // NaN in, NaN out (e.g. student-t at n = 1).
  EXPECT_TRUE(is_nan(mover_difference(0.5, {NaN, NaN}, 0.2, {0.1, 0.45})));
  EXPECT_TRUE(is_nan(mover_difference(0.5, {0.3, 0.6}, 0.2, {0.1, NaN})));
  EXPECT_TRUE(is_nan(mover_difference(NaN, {0.3, 0.6}, 0.2, {0.1, 0.45})));
  // Infinite ends stay infinite.
  EXPECT_EQ(mover_difference(0.5, {-INF, INF}, 0.2, {0.1, 0.45}).low, -INF);
  // An interval that does not contain its estimate is refused.
  EXPECT_THROW(mover_difference(0.7, {0.3, 0.6}, 0.2, {0.1, 0.45}), std::invalid_argument);
  EXPECT_THROW(mover_difference(0.5, {0.3, 0.6}, 0.05, {0.1, 0.45}), std::invalid_argument);
}

// TallyMemo returns what compute() returns for every key, computes each key once, and keeps
// every stored value across its growth. Keys are chosen to share hash slots and to straddle
// the growth.
TEST(TallyMemo, ComputesEachKeyOnce) {
  TallyMemo<std::pair<int64_t, int64_t>> memo;
  int64_t calls = 0;
  auto value_of = [&](int64_t e, int64_t e2) {
    return memo.get(e, e2, [&] {
      ++calls;
      return std::make_pair(3 * e + 1, e2 - 7);
    });
  };
  const int64_t keys = 3000;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t i = 0; i < keys; ++i) {
      const int64_t e = i % 61, e2 = i * 1024;  // many equal e, e2 multiples of the table size
      ASSERT_EQ(value_of(e, e2), std::make_pair(3 * e + 1, e2 - 7)) << "pass " << pass;
    }
    EXPECT_EQ(calls, keys) << "pass " << pass;
  }
  EXPECT_EQ(memo.size(), size_t(keys));
}

// TallyCache returns what compute() returns for every key; a key looked up again while its
// slot still holds it is not computed again, and a key whose slot another took is.
TEST(TallyCache, KeepsTheLastKeyOfEachSlot) {
  for (const size_t slots : {size_t{1}, size_t{64}, size_t{4096}}) {
    TallyCache<std::pair<int64_t, int64_t>> cache(slots);
    int64_t calls = 0;
    auto value_of = [&](int64_t e, int64_t e2) {
      return cache.get(e, e2, [&] {
        ++calls;
        return std::make_pair(3 * e + 1, e2 - 7);
      });
    };
    // The same key again and again: computed once.
    for (int i = 0; i < 10; ++i) ASSERT_EQ(value_of(5, 9), std::make_pair(int64_t{16}, int64_t{2}));
    EXPECT_EQ(calls, 1) << slots << " slots";
    // Many keys, twice: each computed at least once, values right; with one slot every key
    // evicts the one before.
    calls = 0;
    const int64_t keys = 300;
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t i = 0; i < keys; ++i) {
        ASSERT_EQ(value_of(i, 2 * i + 1), std::make_pair(3 * i + 1, 2 * i - 6)) << slots;
      }
    }
    EXPECT_GE(calls, keys) << slots << " slots";
    if (slots == 1) EXPECT_EQ(calls, 2 * keys);
    if (slots == 4096) EXPECT_LT(calls, 2 * keys);  // most of the 300 keys keep their slots
    // Alternating between two keys in one slot: computed every time.
    TallyCache<int64_t> one(1);
    int64_t computed = 0;
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(one.get(i % 2, 0, [&] { ++computed; return int64_t(i % 2) * 10; }),
                int64_t(i % 2) * 10);
    }
    EXPECT_EQ(computed, 6);
  }
  EXPECT_THROW(TallyCache<int64_t>(0), std::invalid_argument);
  EXPECT_THROW(TallyCache<int64_t>(48), std::invalid_argument);
}

// MemoTokenIntervals gives TokenMeanIntervals' bits for every tally n items of length L can
// have (each tally looked up twice, so the second comes from the cache where it kept it), with
// every method and caches of 1 to 1024 slots; clopper-pearson-deff's memo by (E, n*) serves
// tallies whose (E, E2) differ, so its sharing is exercised: many tallies here have n_eff
// truncated at nL.
TEST(MemoTokenIntervals, SameBitsAsTokenMeanIntervals) {
  for (const auto& [n, length] : {std::pair<int64_t, int32_t>{6, 3}, {9, 2}, {1, 4}}) {
    // Every (E, E2) of n items with 0..L errors each.
    std::vector<std::pair<int64_t, int64_t>> tallies;
    std::vector<int32_t> item(size_t(n), 0);
    for (;;) {
      int64_t e = 0, e2 = 0;
      for (int32_t k : item) {
        e += k;
        e2 += int64_t(k) * k;
      }
      tallies.emplace_back(e, e2);
      size_t i = 0;
      while (i < item.size() && item[i] == length) item[i++] = 0;
      if (i == item.size()) break;
      ++item[i];
    }
    std::sort(tallies.begin(), tallies.end());
    tallies.erase(std::unique(tallies.begin(), tallies.end()), tallies.end());
    for (const MeanIntervalMethod method : all_mean_interval_methods()) {
      const TokenMeanIntervals plain(method, n, length, 0.9);
      for (const size_t slots : {size_t{1}, size_t{4}, size_t{1024}}) {
        MemoTokenIntervals memo(method, n, length, 0.9, slots);
        for (int pass = 0; pass < 2; ++pass) {
          for (const auto& [e, e2] : tallies) {
            const Interval want = plain.at(e, e2), got = memo.at(e, e2);
            EXPECT_TRUE(same_bits(got.low, want.low) && same_bits(got.high, want.high))
                << to_string(method) << " n = " << n << " L = " << length << " E = " << e
                << " E2 = " << e2 << ", " << slots << " slots";
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace mirage
