// Copyright (c) Mirage developers.
//! \file test_difficulty.cpp
//! Continuous item difficulty and sampled multiple choice (include/mirage/item_model.h,
//! host/model/difficulty.h, host/model/truth.h), checked against truths computed here by
//! methods independent of the code under test: integrals over the density of the logit shift
//! d by adaptive Gauss-Kronrod (the code integrates the quantile function by tanh-sinh),
//! closed forms derived by hand for the flat Dirichlet split (the "broken stick": three pieces
//! form a triangle with probability 1/4), and a Monte Carlo with std::mt19937_64.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "mirage/item_model.h"
#include "mirage/sampler.h"
#include "model/difficulty.h"
#include "model/truth.h"
#include "run/simulation.h"
#include "stats/reduction.h"

namespace mirage {
namespace {

constexpr double INF = std::numeric_limits<double>::infinity();

double log_sigmoid(double x) {
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

// The density of the logit shift d of each family, written from its definition.
double density(const DifficultyModel& m, double d) {
  switch (m.family) {
    case DIFFICULTY_NORMAL: {
      const double z = d / m.a;
      return std::exp(-0.5 * z * z) / (m.a * 2.5066282746310002);
    }
    case DIFFICULTY_LOGISTIC: {
      const double z = std::fabs(d) / m.a;
      return std::exp(-z) / (m.a * (1.0 + std::exp(-z)) * (1.0 + std::exp(-z)));
    }
    case DIFFICULTY_KUMARASWAMY: {
      // q = sigmoid(d) has density a b q^(a-1) (1 - q^a)^(b-1); dq/dd = q (1 - q). In logs,
      // with 1 - q^a from a Taylor step where q is within 1e-12 of 1.
      const double log_q = log_sigmoid(d), log_1mq = log_sigmoid(-d);
      const double a_log_q = m.a * log_q;
      const double log_1mqa =
          a_log_q < -1e-12 ? std::log(-std::expm1(a_log_q)) : std::log(m.a) + log_1mq;
      return m.a * m.b * std::exp(a_log_q + log_1mq + (m.b - 1.0) * log_1mqa);
    }
    default:
      return 0.0;
  }
}

// E[g(d)] by adaptive Gauss-Kronrod (61 points) over the density, split at `breaks`.
double reference_expectation(const DifficultyModel& m, const std::function<double(double)>& g,
                             std::vector<double> breaks = {}) {
  std::sort(breaks.begin(), breaks.end());
  std::vector<double> ends = {-INF};
  for (double b : breaks) ends.push_back(b);
  ends.push_back(INF);
  double total = 0.0;
  for (size_t i = 0; i + 1 < ends.size(); ++i) {
    auto f = [&](double d) {
      const double w = density(m, d);
      return w == 0.0 ? 0.0 : w * g(d);
    };
    total += boost::math::quadrature::gauss_kronrod<double, 61>::integrate(f, ends[i], ends[i + 1],
                                                                           15, 1e-12);
  }
  return total;
}

// P(max share <= t) of a flat Dirichlet split into 3 pieces, by hand: the complement of "some
// piece exceeds t" by inclusion-exclusion over the pieces, each exceeding t with probability
// (1 - t)^2 and two together (1 - 2t)^2 (at most one can exceed 1/2).
double max_share_cdf_3(double t) {
  if (t >= 1.0) return 1.0;
  if (t <= 1.0 / 3.0) return 0.0;
  const double one = (1.0 - t) * (1.0 - t);
  const double two = t < 0.5 ? (1.0 - 2.0 * t) * (1.0 - 2.0 * t) : 0.0;
  return 1.0 - 3.0 * one + 3.0 * two;
}

const DifficultyModel FAMILIES[] = {
    {DIFFICULTY_NORMAL, 1.5, 0.0},
    {DIFFICULTY_LOGISTIC, 0.7, 0.0},
    {DIFFICULTY_KUMARASWAMY, 0.3, 2.0},
    {DIFFICULTY_KUMARASWAMY, 2.0, 0.5},
};

std::string name(const DifficultyModel& m) {
  return to_string(m);
}

// ---- The law of the items --------------------------------------------------------------------

TEST(DifficultyFamilies, ParseAndPrintRoundTrip) {
  for (const char* text : {"none", "normal:1.5", "logistic:0.3", "kumaraswamy:0.3:2"}) {
    EXPECT_EQ(to_string(parse_difficulty("--difficulty", text)), text);
  }
  EXPECT_TRUE(parse_difficulty("--difficulty", "normal:0").none());
  EXPECT_TRUE(parse_difficulty("--difficulty", "logistic:0").none());
}

// The host quantile (Boost.Math, std) inverts the host CDF, and the CDF integrates the density.
TEST(DifficultyFamilies, QuantileInvertsTheCdfAndTheCdfIntegratesTheDensity) {
  for (const DifficultyModel& m : FAMILIES) {
    for (double u : {1e-12, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0 - 1e-9}) {
      const double d = difficulty_quantile(m, u, 1.0 - u);
      EXPECT_NEAR(difficulty_cdf(m, d), u, 1e-12 * std::max(1.0, u / 1e-3)) << name(m);
      EXPECT_NEAR(difficulty_survival(m, d), 1.0 - u, 1e-12) << name(m);
      const double by_density = boost::math::quadrature::gauss_kronrod<double, 61>::integrate(
          [&](double x) { return density(m, x); }, -INF, d, 15, 1e-12);
      EXPECT_NEAR(by_density, u, 1e-10 * std::max(u, 1e-3)) << name(m) << " u " << u;
    }
  }
}

// The samplers' per-item shift (portable math, item_model.h) equals the host quantile
// (Boost.Math and libm) to near double precision over the whole range of the 53-bit uniform,
// tails included; and each item's threshold is floor(sigmoid(logit p + d) 2^32) up to the
// last unit of a rounding difference.
TEST(DifficultyFamilies, PortableShiftMatchesTheHostQuantile) {
  std::mt19937_64 rng(12);
  std::vector<std::pair<uint32_t, uint32_t>> words = {
      {0u, 0u}, {0u, 1u << 12}, {0xffffffffu, 0xffffffffu}, {0x80000000u, 0u}, {1u, 7u}};
  for (int i = 0; i < 20000; ++i) words.emplace_back(uint32_t(rng()), uint32_t(rng()));
  for (const DifficultyModel& m : FAMILIES) {
    double worst = 0.0;
    int threshold_off = 0;
    for (const auto& w : words) {
      const OpenUniform u = open_uniform(w.first, w.second);
      const double portable = item_logit_shift(m.family, m.a, m.b, u);
      const double host = difficulty_quantile(m, u.u, u.complement);
      ASSERT_TRUE(std::isfinite(portable)) << name(m) << " u " << u.u;
      worst = std::max(worst, std::fabs(portable - host) / std::max(1.0, std::fabs(host)));
      const double base = -1.3;  // logit(p) of an ordinary scale
      const uint64_t t = item_threshold(base, portable);
      const double x = base + host;
      const double p = std::exp(log_sigmoid(x));
      const uint64_t expected = token_threshold(p);
      threshold_off += t != expected;
      EXPECT_LE(t > expected ? t - expected : expected - t, 1u) << name(m) << " u " << u.u;
    }
    EXPECT_LT(worst, 1e-12) << name(m);
    EXPECT_LT(threshold_off, 50) << name(m);
  }
}

// No bins: every item has its own threshold (with 4096 items, practically all distinct).
TEST(DifficultyFamilies, EveryItemHasItsOwnThreshold) {
  const double logits[] = {0.4};
  const uint64_t thresholds[] = {token_threshold(0.6)};
  SweepSpec spec;
  spec.seed = 5;
  spec.threshold = thresholds;
  spec.scale_logit = logits;
  for (const DifficultyModel& m : FAMILIES) {
    spec.difficulty = m.family;
    spec.difficulty_a = m.a;
    spec.difficulty_b = m.b;
    std::set<uint64_t> seen;
    for (uint32_t g = 0; g < 1024; ++g) {
      uint64_t t[ITEMS_PER_GROUP];
      group_item_model(spec, 0, 0, g, t, nullptr);
      seen.insert(t, t + ITEMS_PER_GROUP);
    }
    EXPECT_GT(seen.size(), 4000u) << name(m);
  }
}

// ---- The exact truth ---------------------------------------------------------------------------

// Every metric's analytic value equals an independent integral over the density of d to 1e-9
// relative, far tails included (p = 0.0114 is the default model at N = 1e8; p = 1e-3 puts
// exact match at L = 20 near 1e-40).
TEST(Truth, MatchesAnIndependentIntegralOverTheDensity) {
  for (const DifficultyModel& m : FAMILIES) {
    for (double p : {1e-3, 0.0114, 0.3, 0.9, 0.999}) {
      const double base = std::log(p) - std::log1p(-p);
      for (int32_t L : {1, 5, 20}) {
        const std::string where = name(m) + " p " + std::to_string(p) + " L " + std::to_string(L);
        const MetricTruth truth = metric_truth(p, L, m, 4);
        const double em = reference_expectation(
            m, [&](double d) { return std::exp(L * log_sigmoid(base + d)); });
        EXPECT_NEAR(truth.exact_match, em, 1e-9 * em) << where;
        const double miss = reference_expectation(
            m, [&](double d) { return std::exp(log_sigmoid(-(base + d))); });
        EXPECT_NEAR(truth.token_accuracy, 1.0 - miss, 1e-9 * (1.0 - miss)) << where;
        EXPECT_NEAR(truth.token_edit_distance, L * miss, 1e-9 * L * miss) << where;
        // Four options: three distractors share the rest by a flat Dirichlet.
        auto q_of = [&](double d) { return std::exp(L * log_sigmoid(base + d)); };
        const std::vector<double> kinks = {
            // q / (1 - q) = 1/2 and = 1/3, where max_share_cdf_3 changes its formula
            std::log(std::pow(1.0 / 3.0, 1.0 / L)) - std::log1p(-std::pow(1.0 / 3.0, 1.0 / L)) -
                base,
            std::log(std::pow(0.25, 1.0 / L)) - std::log1p(-std::pow(0.25, 1.0 / L)) - base};
        const double grade = reference_expectation(
            m,
            [&](double d) {
              const double q = q_of(d);
              return max_share_cdf_3(q / (1.0 - q));
            },
            kinks);
        EXPECT_NEAR(truth.multiple_choice_grade, grade, 1e-9 * std::max(grade, 1e-6)) << where;
        const double brier = 1.5 * reference_expectation(m, [&](double d) {
          const double miss_q = -std::expm1(L * log_sigmoid(base + d));
          return miss_q * miss_q;
        });
        EXPECT_NEAR(truth.brier_score, brier, 1e-9 * brier) << where;
      }
    }
  }
  // The issue that retired the bins: normal:1.5 at N = 1e8, L = 5 under the default model.
  const double p = std::exp(-std::pow(1e8 / 2e9, -0.5));
  const double em = metric_truth(p, 5, {DIFFICULTY_NORMAL, 1.5, 0.0}, 0).exact_match;
  EXPECT_NEAR(em, 2.15e-4, 0.01e-4);
}

// Wide laws squeeze the items' transition into a sliver of u in (0, 1) that tanh-sinh on u can
// miss: the k pmf at logistic:20 once summed to 1 - 0.037 and `mirage bench --difficulty
// logistic:20` stopped in the reduction. The pmf of the number of correct tokens and the means
// must match the density integral (split every unit of log-odds around the transition) to
// 1e-9, and the pmf must sum to 1 within 1e-12.
TEST(Truth, WideLawsMatchTheDensityIntegral) {
  const DifficultyModel wide[] = {{DIFFICULTY_LOGISTIC, 20.0, 0.0},
                                  {DIFFICULTY_NORMAL, 50.0, 0.0},
                                  {DIFFICULTY_KUMARASWAMY, 0.1, 0.1},
                                  {DIFFICULTY_KUMARASWAMY, 100.0, 0.01}};
  for (const DifficultyModel& m : wide) {
    for (double p : {1e-4, 0.05, 0.5, 0.97}) {
      const double base = std::log(p) - std::log1p(-p);
      std::vector<double> breaks;
      for (int j = -12; j <= 12; ++j) breaks.push_back(j - base);
      for (int32_t L : {1, 7, 20}) {
        const std::string where = name(m) + " p " + std::to_string(p) + " L " + std::to_string(L);
        const std::vector<double> pmf = correct_tokens_pmf(p, L, m);
        double total = 0.0;
        for (int32_t k = 0; k <= L; ++k) {
          total += pmf[size_t(k)];
          const double log_choose =
              std::lgamma(L + 1.0) - std::lgamma(k + 1.0) - std::lgamma(L - k + 1.0);
          const double reference = reference_expectation(
              m,
              [&](double d) {
                return std::exp(log_choose + k * log_sigmoid(base + d) +
                                (L - k) * log_sigmoid(-(base + d)));
              },
              breaks);
          EXPECT_NEAR(pmf[size_t(k)], reference, 1e-9 * std::max(reference, 1e-6))
              << where << " k " << k;
        }
        EXPECT_NEAR(total, 1.0, 1e-12) << where;
        const MetricTruth truth = metric_truth(p, L, m, 0);
        const double em = reference_expectation(
            m, [&](double d) { return std::exp(L * log_sigmoid(base + d)); }, breaks);
        EXPECT_NEAR(truth.exact_match, em, 1e-9 * std::max(em, 1e-6)) << where;
        const double miss = reference_expectation(
            m, [&](double d) { return std::exp(log_sigmoid(-(base + d))); }, breaks);
        EXPECT_NEAR(truth.token_edit_distance, L * miss, 1e-9 * L * std::max(miss, 1e-6))
            << where;
      }
    }
  }
}

// Two options: the grade is the step [q > 1/2]; its truth is the probability of the items
// with d above the step, integrated here over the density from the step on.
TEST(Truth, TwoOptionGradeIsTheMassAboveTheStep) {
  for (const DifficultyModel& m : FAMILIES) {
    for (int32_t L : {1, 3}) {
      const double p = 0.4, base = std::log(p) - std::log1p(-p);
      const double p_half = std::pow(0.5, 1.0 / L);
      const double step = std::log(p_half) - std::log1p(-p_half) - base;
      const double above = boost::math::quadrature::gauss_kronrod<double, 61>::integrate(
          [&](double d) { return density(m, d); }, step, INF, 15, 1e-12);
      EXPECT_NEAR(metric_truth(p, L, m, 2).multiple_choice_grade, above, 1e-10) << name(m);
    }
  }
}

// The largest share of a flat Dirichlet split: closed forms for 2 and 3 pieces (the triangle
// probability 1/4 at t = 1/2), and a Monte Carlo with an independent generator for 7 and 63.
TEST(Truth, LargestShareOfAFlatSplit) {
  EXPECT_EQ(max_share_cdf(1, 0.99), 0.0);
  EXPECT_EQ(max_share_cdf(1, 1.0), 1.0);
  for (double t : {0.5, 0.6, 0.75, 0.99}) EXPECT_NEAR(max_share_cdf(2, t), 2 * t - 1, 1e-15);
  EXPECT_EQ(max_share_cdf(2, 0.49), 0.0);
  EXPECT_NEAR(max_share_cdf(3, 0.5), 0.25, 1e-15);
  for (double t : {0.34, 0.4, 0.45, 0.5, 0.6, 0.9}) {
    EXPECT_NEAR(max_share_cdf(3, t), max_share_cdf_3(t), 1e-14) << t;
  }
  std::mt19937_64 rng(2024);
  std::exponential_distribution<double> exp1(1.0);
  for (int32_t m : {7, 63}) {
    const int draws = 400000;
    const std::vector<double> ts = {1.2 / m, 2.0 / m, 4.0 / m, 0.3};
    std::vector<int> below(ts.size(), 0);
    for (int i = 0; i < draws; ++i) {
      double sum = 0.0, largest = 0.0;
      for (int32_t j = 0; j < m; ++j) {
        const double e = exp1(rng);
        sum += e;
        largest = std::max(largest, e);
      }
      for (size_t k = 0; k < ts.size(); ++k) below[k] += largest / sum <= ts[k];
    }
    for (size_t k = 0; k < ts.size(); ++k) {
      const double f = max_share_cdf(m, ts[k]);
      const double seen = double(below[k]) / draws;
      const double se = std::sqrt(std::max(f * (1 - f), 1e-6) / draws);
      EXPECT_LT(std::fabs(seen - f) / se, 4.0) << "m " << m << " t " << ts[k] << " F " << f;
    }
  }
}

// ---- Sampling against the truth --------------------------------------------------------------

Config base_config() {
  Config c = default_config();
  c.backend = "cpu";
  c.quiet = true;
  c.seed = 4242;
  return c;
}

// Sampled means of exact match and edit distance within 4 standard errors of the truth
// computed here over the density, with 4e6 items per scale, in the far tail of the issue
// that retired the bins (N = 1e8, L = 5, sigma = 1.5: binned sampling was -45 % off there).
TEST(DifficultySampling, MeansMatchTheTruthInTheFarTails) {
  struct Case {
    const char* difficulty;
    std::vector<double> scales;
    int64_t items;
    int32_t replicates;
  };
  const Case cases[] = {
      {"normal:1.5", {1e8, 1e9, 1e10}, 1000000, 4},
      {"logistic:1", {1e8, 3e9}, 500000, 2},
      {"kumaraswamy:0.3:1", {1e9, 1e11}, 500000, 2},
  };
  for (const Case& k : cases) {
    Config c = base_config();
    c.difficulty = k.difficulty;
    c.scales = k.scales;
    c.lengths = {1, 2, 5};
    c.test_sizes = {k.items};
    c.replicates = k.replicates;
    const Results r = simulate(c, "test", nullptr);
    const DifficultyModel m = parse_difficulty("--difficulty", k.difficulty);
    const MetricResult* exact = r.metric("exact_match");
    const MetricResult* edit = r.metric("token_edit_distance");
    const double items = double(k.items) * k.replicates;
    for (int32_t s = 0; s < r.num_scales(); ++s) {
      const double base = r.model.logit[size_t(s)];
      for (int32_t kk = 0; kk < r.num_lengths(); ++kk) {
        const int32_t L = c.lengths[size_t(kk)];
        const std::string where = std::string(k.difficulty) + " N " +
                                  std::to_string(c.scales[size_t(s)]) + " L " + std::to_string(L);
        const double a = reference_expectation(
            m, [&](double d) { return std::exp(L * log_sigmoid(base + d)); });
        // E[(L - k)] and E[(L - k)^2] with k ~ Binomial(L, p_i): L(1-p), L p (1-p) + L^2 (1-p)^2.
        const double e1 = reference_expectation(
            m, [&](double d) { return L * std::exp(log_sigmoid(-(base + d))); });
        const double e2 = reference_expectation(m, [&](double d) {
          const double pi = std::exp(log_sigmoid(base + d)), qi = std::exp(log_sigmoid(-(base + d)));
          return L * pi * qi + double(L) * L * qi * qi;
        });
        // Mean over the replicates of the per-replicate estimates = the pooled mean.
        double em = 0.0, ed = 0.0;
        for (int32_t rr = 0; rr < k.replicates; ++rr) {
          const size_t cell = (size_t(s) * r.num_lengths() + kk) * k.replicates + rr;
          em += exact->estimate[cell] / k.replicates;
          ed += edit->estimate[cell] / k.replicates;
        }
        EXPECT_LT(std::fabs(em - a) / std::sqrt(a * (1 - a) / items), 4.0)
            << where << ": exact match " << em << " vs " << a;
        EXPECT_LT(std::fabs(ed - e1) / std::sqrt((e2 - e1 * e1) / items), 4.0)
            << where << ": edit distance " << ed << " vs " << e1;
        // The file's analytic value is this truth too.
        EXPECT_NEAR(exact->expected[size_t(s) * r.num_lengths() + kk], a, 1e-9 * a) << where;
      }
    }
  }
}

// Without difficulty the token stream is what it always was: these sums were recorded from
// mirage before item difficulty existed (sample_unit_reference of commit 74b1e17).
TEST(DifficultySampling, NoDifficultyReproducesThePinnedTallies) {
  for (const char* none : {"none", "normal:0"}) {
    Config c = base_config();
    c.scales = parse_scales("--scales", {"1e8:1e12:9"});
    c.lengths = {1, 3, 5};
    c.test_sizes = {2000};
    c.replicates = 20;
    c.seed = 8080;
    c.difficulty = to_string(parse_difficulty("--difficulty", none));
    const Results r = simulate(c, "test", nullptr);
    int64_t exact = 0, errors = 0, errors_sq = 0;
    for (size_t i = 0; i < r.counts.exact_match.size(); ++i) {
      exact += r.counts.exact_match[i];
      errors += r.counts.token_errors[i];
      errors_sq += r.counts.token_errors_sq[i];
    }
    EXPECT_EQ(exact, 419320) << none;
    EXPECT_EQ(errors, 1457024) << none;
    EXPECT_EQ(errors_sq, 4472522) << none;
  }
}

// A spread of difficulty smooths exact match: its steepest step over a fine grid shrinks.
TEST(DifficultySampling, SpreadSmoothsExactMatch) {
  Config c = base_config();
  c.scales = parse_scales("--scales", {"1e9:1e12:31"});
  c.lengths = {5};
  c.replicates = 2;
  c.test_sizes = {100};
  const Results sharp = simulate(c, "test", nullptr);
  c.difficulty = "normal:2";
  const Results smooth = simulate(c, "test", nullptr);
  double steepest_sharp = 0, steepest_smooth = 0;
  for (int32_t s = 1; s < 31; ++s) {
    steepest_sharp = std::max(steepest_sharp, sharp.metric("exact_match")->expected[s] -
                                                  sharp.metric("exact_match")->expected[s - 1]);
    steepest_smooth = std::max(steepest_smooth, smooth.metric("exact_match")->expected[s] -
                                                    smooth.metric("exact_match")->expected[s - 1]);
  }
  EXPECT_LT(steepest_smooth, 0.8 * steepest_sharp);
}

// The resolution frontier's exact crossing with difficulty: at that scale E[p_i^L] is the
// accuracy a test set of n needs to show the ability with probability 1/2.
TEST(DifficultySampling, FrontierCrossingSolvesTheMixture) {
  Config c = base_config();
  c.difficulty = "normal:1.5";
  c.scales = parse_scales("--scales", {"1e8:1e12:9"});
  c.lengths = {5};
  c.test_sizes = {10, 1000};
  c.replicates = 4;
  const Results r = simulate(c, "test", nullptr);
  const DifficultyModel m = parse_difficulty("--difficulty", c.difficulty);
  for (int32_t t = 0; t < 2; ++t) {
    const double scale = r.frontier.analytic_scale_exact[size_t(t)];
    ASSERT_TRUE(std::isfinite(scale));
    const double p = std::exp(-std::pow(scale / c.loss_scale, c.loss_exponent));
    const double needed = -std::expm1(-std::log(2.0) / double(c.test_sizes[size_t(t)]));
    const double base = std::log(p) - std::log1p(-p);
    const double a = reference_expectation(
        m, [&](double d) { return std::exp(5 * log_sigmoid(base + d)); });
    EXPECT_NEAR(a, needed, 1e-7 * needed);
  }
}

// Multiple choice is sampled: grade and Brier score vary between items even when every item
// is equally hard, their means match the truth within 4 SE (closed forms by hand for four
// options), and their intervals have width.
TEST(MultipleChoice, SampledWithoutDifficultyMatchesTheClosedForms) {
  Config c = base_config();
  c.task = "multiple-choice";
  c.choices = 4;
  c.scales = {1e9, 3e9, 1e10, 1e11};
  c.lengths = {1, 3};
  c.test_sizes = {20, 400000};
  c.replicates = 5;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* grade = r.metric("multiple_choice_grade");
  const MetricResult* brier = r.metric("brier_score");
  ASSERT_NE(grade, nullptr);
  ASSERT_NE(brier, nullptr);
  EXPECT_EQ(brier->kind, "quadratic");
  const int32_t K = r.num_lengths(), T = 2, R = c.replicates;
  const double items = double(c.test_sizes[1]) * R;
  for (int32_t s = 0; s < r.num_scales(); ++s) {
    for (int32_t k = 0; k < K; ++k) {
      const double q = std::pow(r.model.p_token[size_t(s)], c.lengths[size_t(k)]);
      const double g = max_share_cdf_3(q / (1 - q));
      const double b = 1.5 * (1 - q) * (1 - q);  // (1 - q)^2 (1 + E sum D^2), E = 2/(m+1)
      const size_t sk = size_t(s) * K + k;
      EXPECT_NEAR(grade->expected[sk], g, 1e-12);
      EXPECT_NEAR(brier->expected[sk], b, 1e-12 * b);
      // Pooled over replicates at n = 400000, from the tallies.
      int64_t graded = 0;
      long double sum = 0, sum_sq = 0;
      for (int32_t rr = 0; rr < R; ++rr) {
        const size_t cell = ((size_t(s) * K + k) * T + 1) * R + rr;
        graded += r.counts.choice_grade[cell];
        sum += r.counts.brier[cell] * BRIER_UNIT;
        sum_sq += r.counts.brier_sq[cell] * BRIER_UNIT;
      }
      const std::string where = "N " + std::to_string(c.scales[size_t(s)]) + " L " +
                                std::to_string(c.lengths[size_t(k)]);
      if (g > 0 && g < 1) {
        EXPECT_LT(std::fabs(graded / items - g) / std::sqrt(g * (1 - g) / items), 4.0) << where;
      }
      const double mean = double(sum / items), var = double(sum_sq / items) - mean * mean;
      EXPECT_GT(var, 0.0) << where;  // the split makes the score random per item
      EXPECT_LT(std::fabs(mean - b) / std::sqrt(var / items), 4.0) << where;
      // Intervals of one replicate of 20 items have width (nothing is degenerate).
      const size_t small = ((size_t(s) * K + k) * T + 0) * R;
      EXPECT_GT(brier->ci_high[small] - brier->ci_low[small], 0.0) << where;
    }
  }
}

// With difficulty, means within 4 SE of the truth integrated here over the density.
TEST(MultipleChoice, SampledWithDifficultyMatchesTheTruth) {
  Config c = base_config();
  c.task = "multiple-choice";
  c.choices = 4;
  c.difficulty = "normal:1";
  c.scales = {1e9, 1e10, 1e11};
  c.lengths = {2};
  c.test_sizes = {300000};
  c.replicates = 4;
  const Results r = simulate(c, "test", nullptr);
  const DifficultyModel m = parse_difficulty("--difficulty", c.difficulty);
  const double items = double(c.test_sizes[0]) * c.replicates;
  for (int32_t s = 0; s < r.num_scales(); ++s) {
    const double base = r.model.logit[size_t(s)];
    auto q_of = [&](double d) { return std::exp(2 * log_sigmoid(base + d)); };
    const double g = reference_expectation(m, [&](double d) {
      const double q = q_of(d);
      return max_share_cdf_3(q / (1 - q));
    });
    const double b = reference_expectation(m, [&](double d) {
      const double miss = 1 - q_of(d);
      return 1.5 * miss * miss;
    });
    int64_t graded = 0;
    long double sum = 0, sum_sq = 0;
    for (int32_t rr = 0; rr < c.replicates; ++rr) {
      const size_t cell = size_t(s) * c.replicates + rr;
      graded += r.counts.choice_grade[cell];
      sum += r.counts.brier[cell] * BRIER_UNIT;
      sum_sq += r.counts.brier_sq[cell] * BRIER_UNIT;
    }
    EXPECT_LT(std::fabs(graded / items - g) / std::sqrt(g * (1 - g) / items), 4.0) << s;
    const double mean = double(sum / items), var = double(sum_sq / items) - mean * mean;
    EXPECT_LT(std::fabs(mean - b) / std::sqrt(var / items), 4.0) << s;
    EXPECT_NEAR(r.metric("multiple_choice_grade")->expected[size_t(s)], g, 1e-9);
    EXPECT_NEAR(r.metric("brier_score")->expected[size_t(s)], b, 1e-9 * b);
  }
}

// Two options and no difficulty: every item is the same, so the Brier score is the same
// constant per scale; its intervals are widened by the 2^-27 rounding of the sums, so they
// still contain the truth: coverage 1 everywhere, not decided by rounding.
TEST(MultipleChoice, ConstantScoresAreNotDecidedByRounding) {
  Config c = base_config();
  c.task = "multiple-choice";
  c.choices = 2;
  c.scales = parse_scales("--scales", {"1e8:1e13:41"});
  c.lengths = {1, 5};
  c.test_sizes = {10, 100};
  c.replicates = 3;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* brier = r.metric("brier_score");
  for (double coverage : brier->summary.coverage) EXPECT_EQ(coverage, 1.0);
}

// The file records the law of the items and the multiple-choice tallies.
TEST(MultipleChoice, FileRecordsTheItemModelAndTheChoiceTallies) {
  Config c = base_config();
  c.task = "multiple-choice";
  c.choices = 5;
  c.difficulty = "kumaraswamy:0.3:2";
  c.scales = {1e9, 1e10};
  c.lengths = {1, 2};
  c.test_sizes = {100};
  c.replicates = 2;
  const std::string path = ::testing::TempDir() + "/mirage_difficulty_file.h5";
  const Results r = simulate(c, "test", nullptr);
  write_hdf5(r, path);
  const h5::File f = h5::File::open_read(path);
  EXPECT_EQ(f.attr_string("/model/difficulty", "family"), "kumaraswamy");
  EXPECT_EQ(f.attr_string("/model/difficulty", "spec"), "kumaraswamy:0.3:2");
  EXPECT_NE(f.attr_string("/model/difficulty", "definition").find("Kumaraswamy"),
            std::string::npos);
  const std::vector<double> prob = f.read_double("/model/difficulty/probability");
  const std::vector<double> shift = f.read_double("/model/difficulty/shift_quantile");
  const std::vector<double> pq = f.read_double("/model/difficulty/p_token_quantile");
  ASSERT_EQ(shift.size(), prob.size());
  ASSERT_EQ(pq.size(), 2 * prob.size());
  EXPECT_TRUE(std::is_sorted(shift.begin(), shift.end()));
  EXPECT_TRUE(std::is_sorted(pq.begin(), pq.begin() + long(prob.size())));
  EXPECT_EQ(f.read_int64("/counts/multiple_choice_grade").size(), size_t(2 * 2 * 1 * 2));
  EXPECT_EQ(f.attr_double("/counts/brier_score", "unit"), BRIER_UNIT);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mirage
