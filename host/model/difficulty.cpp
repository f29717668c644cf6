// Copyright (c) Mirage developers.
#include "model/difficulty.h"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/quadrature/tanh_sinh.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "mirage/item_model.h"

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double LN2 = 0.6931471805599453;
// tanh-sinh's stopping rule: the last two levels differ by less than this (relative to the
// L1 norm). The error of the last level is then about its square (the method converges
// quadratically on these analytic integrands), far below it: tests/test_difficulty.cpp checks
// 1e-9 against an independent integration.
constexpr double EXPECTATION_TOLERANCE = 1e-9;

std::string shortest(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

[[noreturn]] void refuse(const std::string& option, const std::string& text,
                         const std::string& why) {
  throw std::invalid_argument(option + ": value '" + text + "' " + why +
                              "; allowed: none, normal:SIGMA, logistic:S (0 < SIGMA, S <= 50), "
                              "kumaraswamy:A:B (0.01 <= A, B <= 100)");
}

// A parameter: the whole text must be a finite number.
double parameter(const std::string& option, const std::string& text, const std::string& part) {
  double value = NaN;
  const char* end = part.data() + part.size();
  const auto result = std::from_chars(part.data(), end, value);
  if (part.empty() || result.ec != std::errc() || result.ptr != end || !std::isfinite(value)) {
    refuse(option, text, "has a parameter '" + part + "' that is not a finite number");
  }
  return value;
}

double log_sigmoid(double x) {
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

// log(1 - q^a) for q = sigmoid(x), without cancellation at either end: log1p(-q^a) while q^a
// is small, log(-expm1(a log q)) nearer 1, and log(a) + log(1 - q) once a log q is too small
// for expm1 to resolve (relative error O(1 - q) < 1e-15 there).
double log_one_minus_q_power(double a, double x) {
  if (x == -std::numeric_limits<double>::infinity()) return 0.0;
  if (x == std::numeric_limits<double>::infinity()) return -std::numeric_limits<double>::infinity();
  const double a_log_q = a * log_sigmoid(x);
  if (a_log_q < -LN2) return std::log1p(-std::exp(a_log_q));
  if (a_log_q < -1e-15) return std::log(-std::expm1(a_log_q));
  return std::log(a) + log_sigmoid(-x);
}

}  // namespace

DifficultyModel parse_difficulty(const std::string& option, const std::string& text) {
  DifficultyModel model;
  if (text == "none" || text.empty()) {
    if (text.empty()) refuse(option, text, "is empty");
    return model;
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string::npos ? std::string::npos
                                                                  : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const std::string& family = parts[0];
  if (family == "normal" || family == "logistic") {
    if (parts.size() != 2) refuse(option, text, "needs exactly one parameter (" + family + ":S)");
    const double s = parameter(option, text, parts[1]);
    if (s < 0.0 || s > 50.0) refuse(option, text, "has a scale outside [0, 50] logits");
    if (s == 0.0) return model;  // no spread: every item as hard as the model says
    model.family = family == "normal" ? DIFFICULTY_NORMAL : DIFFICULTY_LOGISTIC;
    model.a = s;
    return model;
  }
  if (family == "kumaraswamy") {
    if (parts.size() != 3) refuse(option, text, "needs two parameters (kumaraswamy:A:B)");
    model.family = DIFFICULTY_KUMARASWAMY;
    model.a = parameter(option, text, parts[1]);
    model.b = parameter(option, text, parts[2]);
    if (!(model.a >= 0.01 && model.a <= 100.0) || !(model.b >= 0.01 && model.b <= 100.0)) {
      refuse(option, text, "has a shape outside [0.01, 100]");
    }
    return model;
  }
  refuse(option, text, "names an unknown family '" + family + "'");
}

std::string family_name(const DifficultyModel& model) {
  switch (model.family) {
    case DIFFICULTY_NORMAL:
      return "normal";
    case DIFFICULTY_LOGISTIC:
      return "logistic";
    case DIFFICULTY_KUMARASWAMY:
      return "kumaraswamy";
    default:
      return "none";
  }
}

std::string to_string(const DifficultyModel& model) {
  switch (model.family) {
    case DIFFICULTY_NORMAL:
    case DIFFICULTY_LOGISTIC:
      return family_name(model) + ":" + shortest(model.a);
    case DIFFICULTY_KUMARASWAMY:
      return "kumaraswamy:" + shortest(model.a) + ":" + shortest(model.b);
    default:
      return "none";
  }
}

std::string difficulty_definition(const DifficultyModel& model) {
  const std::string base =
      "p_i(N) = sigmoid(logit(p(N)) + d_i), one logit shift d_i per item from its own 53-bit "
      "uniform u_i of the difficulty stream; ";
  switch (model.family) {
    case DIFFICULTY_NORMAL:
      return base + "d_i = SIGMA Phi^-1(u_i) ~ Normal(0, SIGMA), SIGMA = " + shortest(model.a);
    case DIFFICULTY_LOGISTIC:
      return base + "d_i = S log(u_i / (1 - u_i)) ~ Logistic(0, S), S = " + shortest(model.a);
    case DIFFICULTY_KUMARASWAMY:
      return base +
             "d_i = logit(q_i), q_i = (1 - (1 - u_i)^(1/B))^(1/A) ~ Kumaraswamy(A, B) (density A "
             "B q^(A-1) (1 - q^A)^(B-1): the item's per-token probability where p(N) = 1/2), A = " +
             shortest(model.a) + ", B = " + shortest(model.b);
    default:
      return "every item has the model's per-token probability p(N)";
  }
}

double difficulty_quantile(const DifficultyModel& model, double u, double u_complement) {
  switch (model.family) {
    case DIFFICULTY_NORMAL: {
      const boost::math::normal_distribution<double> normal;
      // Quantile of the smaller tail probability, for accuracy in both tails.
      const double z = u <= 0.5 ? boost::math::quantile(normal, u)
                                : -boost::math::quantile(normal, u_complement);
      return model.a * z;
    }
    case DIFFICULTY_LOGISTIC:
      return model.a * ((u < 0.5 ? std::log(u) : std::log1p(-u_complement)) -
                        (u < 0.5 ? std::log1p(-u) : std::log(u_complement)));
    case DIFFICULTY_KUMARASWAMY: {
      // As item_model.h computes it, with libm: no difference of nearly equal numbers. The
      // quadrature probes u down to 1e-300, where 1 - u rounds to 1: log(1 - u) from u there.
      const double log_t = (u < 0.5 ? std::log1p(-u) : std::log(u_complement)) / model.b;
      const double log_q = (log_t < -LN2 ? std::log1p(-std::exp(log_t))
                                            : std::log(-std::expm1(log_t))) / model.a;
      const double log_1mq = log_q < -LN2 ? std::log1p(-std::exp(log_q))
                             : log_q < 0.0  ? std::log(-std::expm1(log_q))
                                            : log_t - std::log(model.a);
      return log_q - log_1mq;
    }
    default:
      return 0.0;
  }
}

double difficulty_cdf(const DifficultyModel& model, double x) {
  switch (model.family) {
    case DIFFICULTY_NORMAL:
      if (std::isinf(x)) return x > 0 ? 1.0 : 0.0;
      return boost::math::cdf(boost::math::normal_distribution<double>(0.0, model.a), x);
    case DIFFICULTY_LOGISTIC:
      return std::exp(log_sigmoid(x / model.a));
    case DIFFICULTY_KUMARASWAMY:
      // q = sigmoid(x); P(q' <= q) = 1 - (1 - q^A)^B.
      return -std::expm1(model.b * log_one_minus_q_power(model.a, x));
    default:
      return x >= 0.0 ? 1.0 : 0.0;
  }
}

double difficulty_survival(const DifficultyModel& model, double x) {
  switch (model.family) {
    case DIFFICULTY_NORMAL:
      if (std::isinf(x)) return x > 0 ? 0.0 : 1.0;
      return boost::math::cdf(
          boost::math::complement(boost::math::normal_distribution<double>(0.0, model.a), x));
    case DIFFICULTY_LOGISTIC:
      return std::exp(log_sigmoid(-x / model.a));
    case DIFFICULTY_KUMARASWAMY:
      return std::exp(model.b * log_one_minus_q_power(model.a, x));
    default:
      return x >= 0.0 ? 0.0 : 1.0;
  }
}

double expect_over_items(const DifficultyModel& model, const std::function<double(double)>& g,
                         const std::vector<double>& breaks) {
  if (model.none()) return g(0.0);
  // Pieces [u_k, u_{k+1}] of (0, 1), each end with its exact complement.
  struct End {
    double u, complement;
  };
  std::vector<End> ends = {{0.0, 1.0}};
  std::vector<double> sorted = breaks;
  std::sort(sorted.begin(), sorted.end());
  for (double d : sorted) {
    if (!std::isfinite(d)) continue;
    const End e{difficulty_cdf(model, d), difficulty_survival(model, d)};
    // A break with less than 1e-15 of the items beyond it only cuts off a sliver whose share
    // of E[g] is below 1e-15 max|g|: merging that sliver into its neighbour costs nothing and
    // saves a piece's evaluations.
    if (e.u < 1e-15 || e.complement < 1e-15) continue;
    if (e.u > ends.back().u) ends.push_back(e);
  }
  ends.push_back({1.0, 0.0});
  // The integrand on [-1, 1] with Boost's two-argument form: t > 0 is the distance to +1,
  // t < 0 minus the distance to -1, so the abscissa's distance to each end is exact.
  // One integrator per thread: its abscissa tables are costly to build, and Boost 1.74's
  // two-argument integrate is not callable on a const object. At most 10 refinements (about
  // 1500 abscissas per piece, past 1e-15 for these analytic integrands): a piece on which
  // the integrand is nearly 0 has a nearly-0 L1 norm, and its relative stopping rule would
  // otherwise keep refining to the default 15 levels (10^5 evaluations).
  thread_local boost::math::quadrature::tanh_sinh<double> integrator(10);
  double total = 0.0;
  for (size_t k = 0; k + 1 < ends.size(); ++k) {
    const End lo = ends[k], hi = ends[k + 1];
    const double width = lo.u < 0.5 ? hi.u - lo.u : lo.complement - hi.complement;
    if (!(width > 0.0)) continue;
    auto f = [&](double, double t) {
      double u, complement;
      if (t < 0.0) {  // near the left end: 1 + z = -t
        const double offset = width * (-t) * 0.5;
        u = lo.u + offset;
        complement = lo.complement - offset;
      } else {  // near the right end: 1 - z = t
        const double offset = width * t * 0.5;
        u = hi.u - offset;
        complement = hi.complement + offset;
      }
      if (!(u > 0.0) || !(complement > 0.0)) return 0.0;  // the ends themselves: measure zero
      return g(difficulty_quantile(model, u, complement));
    };
    double error = 0.0;
    total += 0.5 * width * integrator.integrate(f, EXPECTATION_TOLERANCE, &error);
  }
  return total;
}

}  // namespace mirage
