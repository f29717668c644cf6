// Copyright (c) Mirage developers.
#include "model/truth.h"

#include <boost/math/distributions/binomial.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

double log_sigmoid(double x) {
  if (x == std::numeric_limits<double>::infinity()) return 0.0;
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

double logit(double p) {
  return std::log(p) - std::log1p(-p);
}

// Every integrand here is a smooth function of the item's log-odds x = base + d whose
// features (the step of sigmoid(x) or sigmoid(x)^L, the peak of a binomial term) are a few
// units of x wide, wherever the law of d puts its mass. Tanh-sinh on u in (0, 1) resolves a
// feature near an end of its piece (its nodes crowd there) but can miss one that a wide law
// (logistic:20, normal:50, kumaraswamy:0.1:0.1) squeezes into a sliver of the interior:
// without help the k pmf summed to 1 - 0.037 at logistic:20. So the integral is broken at
// d = -base + {-8, -2, 0, 2, 8} wherever one unit of x there spans less than half of the
// distance (in u) to the nearer end. Narrow laws get no breaks; wide ones need fewer
// evaluations with them than without (measured over the pmf at L = 1..64: 9.2e6 against
// 1.7e7 at logistic:20, 2.2e6 either way at normal:1.5), and every sum is 1 within 1e-12.
std::vector<double> feature_breaks(const DifficultyModel& difficulty, double base,
                                   std::vector<double> breaks = {}) {
  static constexpr double OFFSETS[] = {-8, -2, 0, 2, 8};
  for (double offset : OFFSETS) {
    const double d = offset - base;
    const double spread = difficulty_cdf(difficulty, d + 1) - difficulty_cdf(difficulty, d - 1);
    const double room =
        std::min(difficulty_cdf(difficulty, d), difficulty_survival(difficulty, d));
    if (spread < 0.5 * room) breaks.push_back(d);
  }
  return breaks;
}

// The alternating sum of max_share_cdf in type Real.
template <class Real>
Real max_share_sum(int32_t m, Real t, int64_t terms, Real* abs_sum) {
  Real sum = 0, magnitude = 0, binomial = 1;  // C(m, j), built up exactly-ish term by term
  for (int64_t j = 0; j <= terms; ++j) {
    if (j > 0) binomial = binomial * Real(m - j + 1) / Real(j);
    const Real base = Real(1) - Real(j) * t;
    if (!(base > 0)) break;
    Real power = 1;
    for (int32_t e = 0; e < m - 1; ++e) power *= base;
    const Real term = binomial * power;
    sum += (j % 2 == 0) ? term : -term;
    magnitude += term;
  }
  if (abs_sum) *abs_sum = magnitude;
  return sum;
}

}  // namespace

double max_share_cdf(int32_t m, double t) {
  if (m < 1) throw std::invalid_argument("max_share_cdf: m must be >= 1");
  if (std::isnan(t)) return NaN;
  if (t >= 1.0) return 1.0;
  if (m == 1) return 0.0;
  if (t * m <= 1.0) return 0.0;  // the largest of m shares is at least 1/m
  const int64_t terms = std::min<int64_t>(m, static_cast<int64_t>(std::floor(1.0 / t)));
  long double magnitude = 0;
  const long double sum = max_share_sum<long double>(m, static_cast<long double>(t), terms,
                                                     &magnitude);
  // Each term carries a relative rounding error of about m ulps of long double.
  const long double error = magnitude * static_cast<long double>(m + 2) * 1.1e-19L;
  if (error < 1e-14L) return std::min(1.0, std::max(0.0, static_cast<double>(sum)));
  using Big = boost::multiprecision::cpp_bin_float_50;
  const Big exact = max_share_sum<Big>(m, Big(t), terms, nullptr);
  return std::min(1.0, std::max(0.0, exact.convert_to<double>()));
}

double exact_match_probability(double p, int32_t length, const DifficultyModel& difficulty) {
  if (p <= 0.0) return 0.0;
  if (p >= 1.0) return 1.0;
  if (difficulty.none()) return std::pow(p, length);
  const double base = logit(p);
  return expect_over_items(
      difficulty, [&](double d) { return std::exp(length * log_sigmoid(base + d)); },
      feature_breaks(difficulty, base));
}

MetricTruth metric_truth(double p, int32_t length, const DifficultyModel& difficulty,
                         int32_t choices) {
  MetricTruth truth{};
  const double L = length;
  const int32_t m = choices - 1;
  truth.multiple_choice_grade = NaN;
  truth.brier_score = NaN;
  const double brier_factor = choices > 0 ? 1.0 + 2.0 / (m + 1.0) : NaN;
  // Per-item quantities from the log of the item's per-token probability.
  auto grade_of = [&](double log_p) {
    const double log_q = L * log_p;
    const double q = std::exp(log_q), miss = -std::expm1(log_q);
    return max_share_cdf(m, miss > 0.0 ? q / miss : std::numeric_limits<double>::infinity());
  };
  auto miss_sq_of = [&](double log_p) {
    const double miss = -std::expm1(L * log_p);
    return miss * miss;
  };
  if (difficulty.none() || p <= 0.0 || p >= 1.0) {
    // Every item has p (with difficulty too when p is 0 or 1: sigmoid(+/-inf + d)).
    const double log_p = p > 0.0 ? std::log(p) : -std::numeric_limits<double>::infinity();
    truth.exact_match = std::pow(p, length);
    truth.token_accuracy = p;
    truth.token_edit_distance = L * (1.0 - p);
    if (choices > 0) {
      truth.multiple_choice_grade = p > 0.0 ? grade_of(log_p) : 0.0;
      truth.brier_score = (p > 0.0 ? miss_sq_of(log_p) : 1.0) * brier_factor;
    }
    return truth;
  }
  const double base = logit(p);
  truth.exact_match = exact_match_probability(p, length, difficulty);
  const std::vector<double> breaks = feature_breaks(difficulty, base);
  truth.token_accuracy = expect_over_items(
      difficulty, [&](double d) { return std::exp(log_sigmoid(base + d)); }, breaks);
  truth.token_edit_distance =
      L * expect_over_items(
              difficulty, [&](double d) { return std::exp(log_sigmoid(-(base + d))); }, breaks);
  if (choices > 0) {
    // The grade has kinks (a jump for m = 1) where q / (1 - q) = 1 / j, i.e. q = 1 / (j + 1):
    // split the integral there.
    std::vector<double> kinks;
    for (int32_t j = 1; j <= m; ++j) {
      const double log_p = -std::log(j + 1.0) / L;
      kinks.push_back(log_p - std::log(-std::expm1(log_p)) - base);
    }
    truth.multiple_choice_grade = expect_over_items(
        difficulty, [&](double d) { return grade_of(log_sigmoid(base + d)); },
        feature_breaks(difficulty, base, kinks));
    truth.brier_score =
        brier_factor *
        expect_over_items(
            difficulty, [&](double d) { return miss_sq_of(log_sigmoid(base + d)); }, breaks);
  }
  return truth;
}

double pass_at_k_probability(double p, int32_t length, int32_t k,
                             const DifficultyModel& difficulty) {
  // 1 - (1 - q)^k from log q, without cancelling: q = 1 gives log1p(-1) = -inf, hence 1.
  auto of_log_p = [&](double log_p) {
    return -std::expm1(double(k) * std::log1p(-std::exp(double(length) * log_p)));
  };
  if (p <= 0.0) return 0.0;
  if (difficulty.none() || p >= 1.0) return of_log_p(std::log(p));
  const double base = logit(p);
  // The integrand rises from 0 to 1 around k q_i = 1: break the integral there too (for large
  // k that is far below the features around x = 0).
  const double log_p_step = -std::log(double(k)) / length;
  std::vector<double> steps;
  if (k > 1) steps.push_back(log_p_step - std::log(-std::expm1(log_p_step)) - base);
  return expect_over_items(
      difficulty, [&](double d) { return of_log_p(log_sigmoid(base + d)); },
      feature_breaks(difficulty, base, steps));
}

double until_success_attempts(double p, int32_t length, int32_t budget,
                              const DifficultyModel& difficulty) {
  auto of_log_p = [&](double log_p) {
    const double q = std::exp(double(length) * log_p);
    if (q <= 0.0) return double(budget);
    return -std::expm1(double(budget) * std::log1p(-q)) / q;
  };
  if (p <= 0.0) return double(budget);
  if (difficulty.none() || p >= 1.0) return of_log_p(std::log(p));
  const double base = logit(p);
  // The integrand falls from B to 1/q_i around B q_i = 1: break the integral there too.
  const double log_p_step = -std::log(double(budget)) / length;
  std::vector<double> steps;
  if (budget > 1) steps.push_back(log_p_step - std::log(-std::expm1(log_p_step)) - base);
  return expect_over_items(
      difficulty, [&](double d) { return of_log_p(log_sigmoid(base + d)); },
      feature_breaks(difficulty, base, steps));
}

std::vector<double> correct_tokens_pmf(double p, int32_t length,
                                       const DifficultyModel& difficulty) {
  std::vector<double> pmf(size_t(length) + 1, 0.0);
  if (p <= 0.0 || p >= 1.0 || difficulty.none()) {
    if (p <= 0.0) {
      pmf[0] = 1.0;
    } else if (p >= 1.0) {
      pmf[size_t(length)] = 1.0;
    } else {
      const boost::math::binomial_distribution<double> binomial(length, p);
      for (int32_t k = 0; k <= length; ++k) pmf[size_t(k)] = boost::math::pdf(binomial, k);
    }
    return pmf;
  }
  const double base = logit(p);
  const std::vector<double> breaks = feature_breaks(difficulty, base);
  for (int32_t k = 0; k <= length; ++k) {
    const double log_choose =
        std::lgamma(length + 1.0) - std::lgamma(k + 1.0) - std::lgamma(length - k + 1.0);
    pmf[size_t(k)] = expect_over_items(difficulty, [&](double d) {
      const double x = base + d;
      // k log p + (L - k) log(1 - p), without 0 * inf where p_i is 0 or 1.
      const double log_p = k > 0 ? k * log_sigmoid(x) : 0.0;
      const double log_q = length - k > 0 ? (length - k) * log_sigmoid(-x) : 0.0;
      return std::exp(log_choose + log_p + log_q);
    }, breaks);
  }
  return pmf;
}

double token_probability_for_accuracy(double accuracy, int32_t length,
                                      const DifficultyModel& difficulty) {
  if (!(accuracy > 0.0 && accuracy < 1.0)) return NaN;
  if (difficulty.none()) return std::pow(accuracy, 1.0 / length);
  // Bisection on logit p: E[sigmoid(logit p + d)^L] increases with logit p.
  double lo = -745.0, hi = 745.0;
  auto at = [&](double x) {
    return expect_over_items(
        difficulty, [&](double d) { return std::exp(length * log_sigmoid(x + d)); },
        feature_breaks(difficulty, x));
  };
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, std::fabs(lo)); ++i) {
    const double mid = 0.5 * (lo + hi);
    (at(mid) < accuracy ? lo : hi) = mid;
  }
  return std::exp(log_sigmoid(0.5 * (lo + hi)));
}

}  // namespace mirage
