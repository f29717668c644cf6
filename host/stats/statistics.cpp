// Copyright (c) Mirage developers.
//! \file statistics.cpp
//! Host statistics, docs/DESIGN.md §5. See statistics.h for the contract of each function.
#include "stats/statistics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/tools/roots.hpp>

#include "mirage/philox_avx512.h"  // MIRAGE_HAVE_AVX512_PATH, cpu_has_avx512(), <immintrin.h>
#include "stats/int128.h"

namespace mirage {
namespace detail {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double INF = std::numeric_limits<double>::infinity();

//! Probability left out of each tail by exact_binomial_coverage (2 tails: < 2e-14 in all).
constexpr double COVERAGE_TAIL_BOUND = 1e-14;

//! Shortest decimal text that reads back as `value` (so messages show 0.95, not
//! 0.94999999999999996).
std::string format_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

[[noreturn]] void fail(const std::string& function, const std::string& message) {
  throw std::invalid_argument(function + ": " + message);
}

void check_confidence(const char* function, double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0)) {
    fail(function, "confidence = " + format_number(confidence) +
                       "; must be a number strictly between 0 and 1 (e.g. 0.95)");
  }
}

//! alpha / 2 = (1 - confidence) / 2, the probability in each tail. Exact in binary for
//! confidence >= 1/2 (Sterbenz), and taking quantiles of the complement keeps full
//! relative accuracy for confidence close to 1.
double tail_probability(double confidence) {
  return 0.5 * (1.0 - confidence);
}

//! z, the 1 - alpha/2 quantile of N(0, 1). Kept per thread for the last confidence: the
//! reduction asks for the same one millions of times, and the quantile is not cheap.
double normal_critical_value(double confidence) {
  thread_local double last_confidence = NaN, last_z = NaN;
  if (confidence == last_confidence) return last_z;
  const boost::math::normal_distribution<double> normal;
  last_z = boost::math::quantile(boost::math::complement(normal, tail_probability(confidence)));
  last_confidence = confidence;
  return last_z;
}

//! t_{dof, 1 - alpha/2}, the 1 - alpha/2 quantile of Student's t with dof degrees of freedom.
double student_t_critical_value(double dof, double confidence) {
  const boost::math::students_t_distribution<double> t(dof);
  return boost::math::quantile(boost::math::complement(t, tail_probability(confidence)));
}

//! Lower quantile Beta(a, b) at probability tail.
double beta_lower(double a, double b, double tail) {
  return boost::math::quantile(boost::math::beta_distribution<double>(a, b), tail);
}

//! Upper quantile Beta(a, b) at probability 1 - tail, via the complement for accuracy.
double beta_upper(double a, double b, double tail) {
  return boost::math::quantile(
      boost::math::complement(boost::math::beta_distribution<double>(a, b), tail));
}

double clip01(double v) {
  return std::min(1.0, std::max(0.0, v));
}

//! The logistic function 1 / (1 + exp(-t)), without overflow or loss for large |t|.
double expit(double t) {
  if (t >= 0.0) return 1.0 / (1.0 + std::exp(-t));
  const double e = std::exp(t);
  return e / (1.0 + e);
}

//! Root of f on [a, b] (f(a) and f(b) of opposite signs or one of them zero, already
//! evaluated) by TOMS 748 (Alefeld, Potra & Shi 1995; Boost.Math) until the bracket is 4
//! machine epsilons wide (relative); returns the bracket's midpoint.
template <class F>
double solve_bracketed(F f, double a, double b, double fa, double fb) {
  if (fa == 0.0) return a;
  if (fb == 0.0) return b;
  boost::uintmax_t max_iter = 300;
  const boost::math::tools::eps_tolerance<double> tolerance(std::numeric_limits<double>::digits);
  const std::pair<double, double> r =
      boost::math::tools::toms748_solve(f, a, b, fa, fb, tolerance, max_iter);
  return 0.5 * (r.first + r.second);
}

//! LOGIT; see proportion_interval. At x = 0 and x = n the ends of R's binom.logit, which
//! are Clopper-Pearson's there: 1 - (alpha/2)^(1/n) and (alpha/2)^(1/n).
Interval logit_interval(int64_t x, int64_t n, double confidence, double z) {
  const double nd = static_cast<double>(n);
  const double log_tail = std::log(tail_probability(confidence));
  if (x == 0) return {0.0, -std::expm1(log_tail / nd)};
  if (x == n) return {std::exp(log_tail / nd), 1.0};
  const double xd = static_cast<double>(x);
  const double fd = static_cast<double>(n - x);
  const double log_odds = std::log(xd) - std::log(fd);
  const double se = std::sqrt(nd / (xd * fd));  // = sqrt(1 / x + 1 / (n - x))
  return {expit(log_odds - z * se), expit(log_odds + z * se)};
}

//! LIKELIHOOD_RATIO; see proportion_interval. The deviance D(p) = 2 (l(phat) - l(p)) falls
//! strictly on (0, phat] to 0 and rises strictly on [phat, 1), so each side has one root of
//! D(p) = z^2.
Interval likelihood_ratio_interval(int64_t x, int64_t n, double z) {
  const double nd = static_cast<double>(n);
  const double c = z * z;  // chi-square(1) quantile at the confidence
  if (x == 0) return {0.0, -std::expm1(-c / (2.0 * nd))};
  if (x == n) return {std::exp(-c / (2.0 * nd)), 1.0};
  const double xd = static_cast<double>(x);
  const double fd = static_cast<double>(n - x);
  const double phat = xd / nd;
  const double log_phat = std::log(xd / nd);
  const double log_qhat = std::log(fd / nd);
  const auto f = [&](double p) {
    return 2.0 * (xd * (log_phat - std::log(p)) + fd * (log_qhat - std::log1p(-p))) - c;
  };
  const double f_hat = -c;  // D(phat) = 0
  // Lower end: halve towards 0 until D exceeds z^2 (D grows like 2 x log(1 / p)).
  double a = 0.5 * phat;
  double fa = f(a);
  while (!(fa > 0.0) && a > 0.0) {
    a *= 0.5;
    fa = f(a);
  }
  const double low = a > 0.0 ? solve_bracketed(f, a, phat, fa, f_hat) : 0.0;
  // Upper end: halve the distance to 1 until D exceeds z^2.
  double gap = 0.5 * (1.0 - phat);
  double b = 1.0 - gap;
  double fb = f(b);
  while (!(fb > 0.0) && gap > 0.0) {
    gap *= 0.5;
    b = 1.0 - gap;
    fb = f(b);
  }
  const double high = gap > 0.0 && b < 1.0 ? solve_bracketed(f, phat, b, f_hat, fb) : 1.0;
  return {low, high};
}

//! Boost.Math policy without promotion of double to long double: the incomplete beta and
//! its inverse run 5 to 14 times faster and stay accurate to a few hundred ulps at worst.
//! Used by BLAKER only (the other methods keep the promoted evaluation they always had).
typedef boost::math::policies::policy<boost::math::policies::promote_double<false>> Fast;

//! The binomial tails Blaker's acceptability needs on one side of phat. For the lower end
//! (upper = false): t(p) = P(X >= x) and other(j, p) = P(X <= j) for j < x. For the upper end
//! (upper = true), mirrored: t(p) = P(X <= x) and other(j, p) = P(X >= j) for j > x.
//! Regularized incomplete beta: P(X >= k) = I_p(k, n - k + 1), P(X <= k) = 1 - I_p(k + 1,
//! n - k).
struct BlakerTails {
  int64_t x;
  int64_t n;
  bool upper;

  double t(double p) const {
    const double xd = static_cast<double>(x);
    const double nd = static_cast<double>(n);
    return upper ? boost::math::ibetac(xd + 1.0, nd - xd, p, Fast())
                 : boost::math::ibeta(xd, nd - xd + 1.0, p, Fast());
  }
  double other(int64_t j, double p) const {
    const double jd = static_cast<double>(j);
    const double nd = static_cast<double>(n);
    if (upper) return j > n ? 0.0 : boost::math::ibeta(jd, nd - jd + 1.0, p, Fast());
    return j < 0 ? 0.0 : boost::math::ibetac(jd + 1.0, nd - jd, p, Fast());
  }
};

//! One end of Blaker's interval (see proportion_interval for the argument). Lower end
//! (upper = false, 0 < x): p0 = Clopper-Pearson's lower end, where t = alpha/2. j0 = the
//! largest j < x with P(X <= j) <= t at p0 (so a(p0) = t + P(X <= j0) <= alpha). Moving up
//! from p0, j(p) stays j0 until s1, the root of P(X <= j0 + 1) = t, where a jumps to
//! 2 t(s1) > alpha. On [p0, s1) a = 1 - P(j0 < X < x) first falls, then rises, so it exceeds
//! alpha at most on a final stretch [r, s1): the end is r when a(s1-) > alpha, else s1. The
//! upper end is the mirror image with the tails exchanged.
double blaker_end(int64_t x, int64_t n, double tail, bool upper) {
  if (!upper && x == 0) return 0.0;
  if (upper && x == n) return 1.0;
  const double alpha = 2.0 * tail;
  const double xd = static_cast<double>(x);
  const double nd = static_cast<double>(n);
  const double phat = xd / nd;
  const BlakerTails tails{x, n, upper};
  // Clopper-Pearson's end (alpha/2 in the tail).
  const double p0 =
      upper ? boost::math::quantile(boost::math::complement(
                  boost::math::beta_distribution<double, Fast>(xd + 1.0, nd - xd), tail))
            : boost::math::quantile(boost::math::beta_distribution<double, Fast>(xd, nd - xd + 1.0),
                                    tail);
  const double t0 = tails.t(p0);
  // j0 by bisection over j: other(j, p0) is monotone in j. `ok` is the end where the tail
  // is 0 (j = -1 or n + 1); `bad` the neighbour of x, whose tail 1 - t0 exceeds t0.
  const int64_t step = upper ? -1 : 1;
  int64_t ok = upper ? n + 1 : -1;
  int64_t bad = upper ? x + 1 : x - 1;
  if (tails.other(bad, p0) <= t0) return p0;  // only for alpha close to 1: a(p0) = 1
  while ((bad - ok) * step > 1) {
    const int64_t mid = ok + (bad - ok) / 2;
    if (tails.other(mid, p0) <= t0) {
      ok = mid;
    } else {
      bad = mid;
    }
  }
  const int64_t j0 = ok;
  const int64_t j1 = j0 + step;  // the next j; j1 is on x's side of j0 and not x
  // s1: other(j1, p) - t(p) falls (lower end) / rises (upper end) through 0 between p0 and
  // phat, where t >= 1/2 >= other(j1) (the binomial median at an integer mean n phat).
  const auto h = [&](double p) { return tails.other(j1, p) - tails.t(p); };
  const double h0 = h(p0);
  const double h_hat = h(phat);
  double s1 = phat;
  if (h_hat <= 0.0 && h0 > 0.0)
    s1 = upper ? solve_bracketed(h, phat, p0, h_hat, h0) : solve_bracketed(h, p0, phat, h0, h_hat);
  const auto f = [&](double p) { return tails.t(p) + tails.other(j0, p) - alpha; };
  const double f0 = t0 + tails.other(j0, p0) - alpha;
  if (f0 >= 0.0) return p0;  // a(p0) = alpha up to rounding
  const double f1 = f(s1);
  if (!(f1 > 0.0)) return s1;
  return upper ? solve_bracketed(f, s1, p0, f1, f0) : solve_bracketed(f, p0, s1, f0, f1);
}

//! The interval without argument checks (the caller has validated them). z is passed in so
//! that exact_binomial_coverage computes it once.
Interval proportion_interval_unchecked(IntervalMethod method, int64_t x, int64_t n,
                                       double confidence, double z) {
  const double xd = static_cast<double>(x);
  const double nd = static_cast<double>(n);
  const double phat = xd / nd;
  const double z2 = z * z;
  switch (method) {
    case IntervalMethod::WALD: {
      // Clipped to [0, 1]: the unclipped interval can leave the parameter space.
      const double half = z * std::sqrt(phat * (1.0 - phat) / nd);
      return {clip01(phat - half), clip01(phat + half)};
    }
    case IntervalMethod::WILSON: {
      const double center = (xd + 0.5 * z2) / (nd + z2);
      const double half =
          z * std::sqrt(nd) / (nd + z2) * std::sqrt(phat * (1.0 - phat) + z2 / (4.0 * nd));
      // At x = 0 (x = n) the end is 0 (1) in exact arithmetic; set it so rounding cannot
      // leave a tiny nonzero lower end that would exclude p = 0.
      const double low = x == 0 ? 0.0 : clip01(center - half);
      const double high = x == n ? 1.0 : clip01(center + half);
      return {low, high};
    }
    case IntervalMethod::AGRESTI_COULL: {
      const double ntilde = nd + z2;
      const double ptilde = (xd + 0.5 * z2) / ntilde;
      const double half = z * std::sqrt(ptilde * (1.0 - ptilde) / ntilde);
      return {clip01(ptilde - half), clip01(ptilde + half)};
    }
    case IntervalMethod::CLOPPER_PEARSON: {
      const double tail = tail_probability(confidence);
      const double low = x == 0 ? 0.0 : beta_lower(xd, nd - xd + 1.0, tail);
      const double high = x == n ? 1.0 : beta_upper(xd + 1.0, nd - xd, tail);
      return {low, high};
    }
    case IntervalMethod::JEFFREYS: {
      const double tail = tail_probability(confidence);
      const double low = x == 0 ? 0.0 : beta_lower(xd + 0.5, nd - xd + 0.5, tail);
      const double high = x == n ? 1.0 : beta_upper(xd + 0.5, nd - xd + 0.5, tail);
      return {low, high};
    }
    case IntervalMethod::LOGIT:
      return logit_interval(x, n, confidence, z);
    case IntervalMethod::LIKELIHOOD_RATIO:
      return likelihood_ratio_interval(x, n, z);
    case IntervalMethod::BLAKER: {
      const double tail = tail_probability(confidence);
      return {blaker_end(x, n, tail, false), blaker_end(x, n, tail, true)};
    }
  }
  fail("proportion_interval",
       "method = " + std::to_string(static_cast<int>(method)) + "; not a valid IntervalMethod");
}

void check_interval_method(const char* function, IntervalMethod method) {
  switch (method) {
    case IntervalMethod::WILSON:
    case IntervalMethod::CLOPPER_PEARSON:
    case IntervalMethod::JEFFREYS:
    case IntervalMethod::AGRESTI_COULL:
    case IntervalMethod::WALD:
    case IntervalMethod::LOGIT:
    case IntervalMethod::LIKELIHOOD_RATIO:
    case IntervalMethod::BLAKER:
      return;
  }
  fail(function,
       "method = " + std::to_string(static_cast<int>(method)) + "; not a valid IntervalMethod");
}

void check_proportion_arguments(const char* function, IntervalMethod method, int64_t n,
                                double confidence) {
  check_interval_method(function, method);
  if (n < 1) fail(function, "n = " + std::to_string(n) + "; must be >= 1");
  check_confidence(function, confidence);
}

//! The type-7 quantile between the order statistics a <= b at weight t in [0, 1), as numpy
//! computes it (quantile_sorted's contract for infinite values).
double type7_interpolate(double a, double b, double t) {
  if (t == 0.0 || a == b) return a;
  if (std::isinf(a) || std::isinf(b)) {
    // With 0 < t < 1 the interpolant takes the infinite neighbour's value; between -inf and
    // +inf it is undefined.
    if (std::isinf(a) && std::isinf(b)) return NaN;
    return std::isinf(a) ? a : b;
  }
  const double diff = b - a;
  if (!std::isfinite(diff)) return (1.0 - t) * a + t * b;  // b - a overflowed
  // numpy's _lerp: interpolate from the nearer end, so t -> 1 gives exactly b.
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

//! quantile_sorted of `values` (n >= 1, no NaN, any order) by selection instead of a sort:
//! the order statistics floor(h) and floor(h) + 1 are found with nth_element (linear time) and
//! interpolated exactly as quantile_sorted does, so the result is the same bits. Reorders
//! `values`.
double quantile_by_selection(std::vector<double>& values, double prob) {
  const size_t n = values.size();
  const double h = static_cast<double>(n - 1) * prob;
  const double j = std::floor(h);
  const size_t lo = static_cast<size_t>(j);
  if (lo + 1 >= n) return *std::max_element(values.begin(), values.end());
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lo), values.end());
  const double a = values[lo];
  const double b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
  return type7_interpolate(a, b, h - j);
}

//! quantile_by_selection at 0.025, 0.5 and 0.975 (as summarize_replicates reports them), with
//! the three selections nested: after the median's nth_element the lower quantile's order
//! statistics lie in the lower part and the upper one's in the upper part, so those selections
//! run on about half the values each. The same order statistics, interpolated the same way:
//! the same bits as three calls of quantile_by_selection. Reorders `values` (n >= 1, no NaN).
std::array<double, 3> summary_quantiles(std::vector<double>& values) {
  const size_t n = values.size();
  const auto at = [&](size_t i) { return values.begin() + static_cast<std::ptrdiff_t>(i); };
  if (n < 3) {
    return {quantile_by_selection(values, 0.025), quantile_by_selection(values, 0.5),
            quantile_by_selection(values, 0.975)};
  }
  auto position = [&](double prob, size_t* lo) {
    const double h = static_cast<double>(n - 1) * prob;
    const double j = std::floor(h);
    *lo = static_cast<size_t>(j);
    return h - j;
  };
  size_t m = 0, a = 0, c = 0;
  const double tm = position(0.5, &m), ta = position(0.025, &a), tc = position(0.975, &c);
  // n >= 3: a <= m < n - 1 and m <= c <= n - 1.
  std::nth_element(values.begin(), at(m), values.end());
  const double median_low = values[m];
  const double median_high = *std::min_element(at(m + 1), values.end());
  // Lower quantile: positions a, a + 1 <= m; [0, m) holds the m smallest values, values[m] the
  // next.
  double lower;
  if (a == m) {
    lower = type7_interpolate(median_low, median_high, ta);
  } else {
    std::nth_element(values.begin(), at(a), at(m));
    const double low = values[a];
    const double high = a + 1 < m ? *std::min_element(at(a + 1), at(m)) : median_low;
    lower = type7_interpolate(low, high, ta);
  }
  // Upper quantile: positions c, c + 1 >= m + 1 when c > m.
  double upper;
  if (c == m) {
    upper = type7_interpolate(median_low, median_high, tc);
  } else if (c + 1 >= n) {
    upper = *std::max_element(at(m + 1), values.end());  // as quantile_by_selection: the max
  } else {
    std::nth_element(at(m + 1), at(c), values.end());
    upper = type7_interpolate(values[c], *std::min_element(at(c + 1), values.end()), tc);
  }
  return {lower, type7_interpolate(median_low, median_high, tm), upper};
}

}  // namespace detail

const std::vector<IntervalMethod>& all_interval_methods() {
  static const std::vector<IntervalMethod> methods = {IntervalMethod::WILSON,
                                                      IntervalMethod::CLOPPER_PEARSON,
                                                      IntervalMethod::JEFFREYS,
                                                      IntervalMethod::AGRESTI_COULL,
                                                      IntervalMethod::WALD,
                                                      IntervalMethod::LOGIT,
                                                      IntervalMethod::LIKELIHOOD_RATIO,
                                                      IntervalMethod::BLAKER};
  return methods;
}

std::string to_string(IntervalMethod method) {
  switch (method) {
    case IntervalMethod::WILSON:
      return "wilson";
    case IntervalMethod::CLOPPER_PEARSON:
      return "clopper-pearson";
    case IntervalMethod::JEFFREYS:
      return "jeffreys";
    case IntervalMethod::AGRESTI_COULL:
      return "agresti-coull";
    case IntervalMethod::WALD:
      return "wald";
    case IntervalMethod::LOGIT:
      return "logit";
    case IntervalMethod::LIKELIHOOD_RATIO:
      return "likelihood-ratio";
    case IntervalMethod::BLAKER:
      return "blaker";
  }
  detail::fail("to_string", "method = " + std::to_string(static_cast<int>(method)) +
                                "; not a valid IntervalMethod");
}

IntervalMethod parse_interval_method(const std::string& name) {
  std::string allowed;
  for (const IntervalMethod method : all_interval_methods()) {
    if (name == to_string(method)) return method;
    allowed += (allowed.empty() ? "" : ", ") + to_string(method);
  }
  throw std::invalid_argument("--interval: unknown method '" + name + "'; allowed: " + allowed);
}

const std::vector<MeanIntervalMethod>& all_mean_interval_methods() {
  static const std::vector<MeanIntervalMethod> methods = {
      MeanIntervalMethod::STUDENT_T, MeanIntervalMethod::NORMAL, MeanIntervalMethod::WILSON_DEFF,
      MeanIntervalMethod::CLOPPER_PEARSON_DEFF};
  return methods;
}

std::string to_string(MeanIntervalMethod method) {
  switch (method) {
    case MeanIntervalMethod::STUDENT_T:
      return "student-t";
    case MeanIntervalMethod::NORMAL:
      return "normal";
    case MeanIntervalMethod::WILSON_DEFF:
      return "wilson-deff";
    case MeanIntervalMethod::CLOPPER_PEARSON_DEFF:
      return "clopper-pearson-deff";
  }
  detail::fail("to_string", "method = " + std::to_string(static_cast<int>(method)) +
                                "; not a valid MeanIntervalMethod");
}

MeanIntervalMethod parse_mean_interval_method(const std::string& name) {
  std::string allowed;
  for (const MeanIntervalMethod method : all_mean_interval_methods()) {
    if (name == to_string(method)) return method;
    allowed += (allowed.empty() ? "" : ", ") + to_string(method);
  }
  throw std::invalid_argument("--mean-interval: unknown method '" + name +
                              "'; allowed: " + allowed);
}

Interval proportion_interval(IntervalMethod method, int64_t x, int64_t n, double confidence) {
  constexpr const char* FUNCTION = "proportion_interval";
  detail::check_proportion_arguments(FUNCTION, method, n, confidence);
  if (x < 0 || x > n) {
    detail::fail(FUNCTION,
                 "x = " + std::to_string(x) + "; must satisfy 0 <= x <= n = " + std::to_string(n));
  }
  return detail::proportion_interval_unchecked(method, x, n, confidence,
                                               detail::normal_critical_value(confidence));
}

Interval mean_interval(MeanIntervalMethod method, double mean, double sd, int64_t n,
                       double confidence) {
  constexpr const char* FUNCTION = "mean_interval";
  if (method == MeanIntervalMethod::WILSON_DEFF ||
      method == MeanIntervalMethod::CLOPPER_PEARSON_DEFF) {
    detail::fail(FUNCTION,
                 "method = " + to_string(method) +
                     "; needs token counts: use token_mean_interval (stats/token_intervals.h)");
  }
  if (method != MeanIntervalMethod::STUDENT_T && method != MeanIntervalMethod::NORMAL) {
    detail::fail(FUNCTION, "method = " + std::to_string(static_cast<int>(method)) +
                               "; not a valid MeanIntervalMethod");
  }
  if (n < 1) detail::fail(FUNCTION, "n = " + std::to_string(n) + "; must be >= 1");
  if (sd < 0.0) {
    detail::fail(FUNCTION, "sd = " + detail::format_number(sd) + "; must be >= 0 (or NaN)");
  }
  detail::check_confidence(FUNCTION, confidence);
  if (n < 2 || std::isnan(sd) || std::isnan(mean)) return {detail::NaN, detail::NaN};
  if (sd == 0.0) return {mean, mean};
  const double critical =
      method == MeanIntervalMethod::STUDENT_T
          ? detail::student_t_critical_value(static_cast<double>(n - 1), confidence)
          : detail::normal_critical_value(confidence);
  const double half = critical * sd / std::sqrt(static_cast<double>(n));
  return {mean - half, mean + half};
}

Moments moments_from_sums(int64_t sum, int64_t sum_sq, int64_t n) {
  constexpr const char* FUNCTION = "moments_from_sums";
  if (n < 1) detail::fail(FUNCTION, "n = " + std::to_string(n) + "; must be >= 1");
  if (sum_sq < 0) {
    detail::fail(FUNCTION, "sum_sq = " + std::to_string(sum_sq) + "; must be >= 0");
  }
  const long double mean = static_cast<long double>(sum) / static_cast<long double>(n);
  if (n < 2) return {static_cast<double>(mean), detail::NaN};
  // |sum|^2 and n * sum_sq are below 2^126 for any int64 inputs, so the numerator of the
  // variance is exact: no cancellation, and negative only for impossible inputs.
  const detail::Int128 numerator =
      static_cast<detail::Int128>(n) * sum_sq - static_cast<detail::Int128>(sum) * sum;
  if (numerator < 0) {
    detail::fail(FUNCTION, "sum = " + std::to_string(sum) + ", sum_sq = " + std::to_string(sum_sq) +
                               ", n = " + std::to_string(n) +
                               "; inconsistent (integer data need sum^2 <= n * sum_sq)");
  }
  const long double denominator = static_cast<long double>(n) * static_cast<long double>(n - 1);
  const long double variance = detail::to_long_double(numerator) / denominator;
  return {static_cast<double>(mean), static_cast<double>(std::sqrt(variance))};
}

std::array<double, 3> quantiles_025_500_975(std::vector<double>& values) {
  constexpr const char* FUNCTION = "quantiles_025_500_975";
  if (values.empty()) detail::fail(FUNCTION, "no values; must have at least one");
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) {
      detail::fail(FUNCTION, "values[" + std::to_string(i) + "] = NaN; values must be numbers");
    }
  }
  return detail::summary_quantiles(values);
}

double quantile_sorted(const double* sorted, size_t n, double prob) {
  constexpr const char* FUNCTION = "quantile_sorted";
  if (sorted == nullptr) detail::fail(FUNCTION, "sorted = null; must point to n values");
  if (n == 0) detail::fail(FUNCTION, "n = 0; must be >= 1");
  if (!(prob >= 0.0 && prob <= 1.0)) {
    detail::fail(FUNCTION, "prob = " + detail::format_number(prob) + "; must be in [0, 1]");
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(sorted[i])) {
      detail::fail(FUNCTION, "sorted[" + std::to_string(i) + "] = NaN; values must be numbers");
    }
    if (i > 0 && sorted[i] < sorted[i - 1]) {
      detail::fail(FUNCTION,
                   "sorted[" + std::to_string(i) + "] = " + detail::format_number(sorted[i]) +
                       " < sorted[" + std::to_string(i - 1) + "] = " +
                       detail::format_number(sorted[i - 1]) + "; values must be sorted ascending");
    }
  }
  // Hyndman & Fan (1996) type 7: h = (n - 1) prob, interpolate between order statistics
  // floor(h) and floor(h) + 1 (0-based).
  const double h = static_cast<double>(n - 1) * prob;
  const double j = std::floor(h);
  const size_t lo = static_cast<size_t>(j);
  if (lo + 1 >= n) return sorted[n - 1];
  return detail::type7_interpolate(sorted[lo], sorted[lo + 1], h - j);
}

namespace detail {

// What both summaries take from every replicate in order: the share of estimates exactly 0,
// the coverage (NaN without a truth or without a single defined interval; a NaN end does not
// cover) and the mean width of the finite intervals (CoverageWidthSums).
struct IntervalSummarySums {
  size_t zeros = 0;
  CoverageWidthSums sums;
  void add(double estimate, double low, double high, double expected) {
    zeros += estimate == 0.0;
    sums.add(low, high, expected);
  }
  void finish(size_t replicates, double expected, ReplicateSummary& summary) const {
    summary.p_zero = static_cast<double>(zeros) / static_cast<double>(replicates);
    const CoverageWidth cw = sums.result(replicates, expected);
    summary.coverage = cw.coverage;
    summary.mean_ci_width = cw.mean_ci_width;
  }
};

void interval_summary(const double* estimate, const double* low, const double* high,
                      size_t replicates, double expected, ReplicateSummary& summary) {
  IntervalSummarySums sums;
  for (size_t r = 0; r < replicates; ++r) sums.add(estimate[r], low[r], high[r], expected);
  sums.finish(replicates, expected, summary);
}

// Mean and sample standard deviation of m >= 1 values, in two passes: the mean first, then
// squared deviations from it (no cancellation); sd is NaN for one value.
void mean_and_sd(const double* values, size_t m, ReplicateSummary& summary) {
  double sum = 0.0;
  for (size_t i = 0; i < m; ++i) sum += values[i];
  summary.mean = sum / static_cast<double>(m);
  if (m < 2) {
    summary.sd = NaN;
    return;
  }
  double squares = 0.0;
  for (size_t i = 0; i < m; ++i) squares += (values[i] - summary.mean) * (values[i] - summary.mean);
  summary.sd = std::sqrt(squares / static_cast<double>(m - 1));
}

}  // namespace detail

ReplicateSummary summarize_replicates(const double* estimate, const double* low, const double* high,
                                      size_t replicates, double expected) {
  constexpr const char* FUNCTION = "summarize_replicates";
  if (replicates == 0) detail::fail(FUNCTION, "replicates = 0; must be >= 1");
  if (estimate == nullptr || low == nullptr || high == nullptr) {
    detail::fail(FUNCTION, std::string(estimate == nullptr ? "estimate"
                                       : low == nullptr    ? "low"
                                                           : "high") +
                               " = null; must point to `replicates` values");
  }
  // Reused between calls on the same thread (the reduction calls this per cell).
  thread_local std::vector<double> values;
  values.clear();
  values.reserve(replicates);
  for (size_t r = 0; r < replicates; ++r) {
    if (!std::isnan(estimate[r])) values.push_back(estimate[r]);
  }
  ReplicateSummary summary{};
  detail::interval_summary(estimate, low, high, replicates, expected, summary);
  const size_t m = values.size();
  if (m == 0) {
    summary.mean = summary.sd = summary.q025 = summary.q500 = summary.q975 = detail::NaN;
    return summary;
  }
  detail::mean_and_sd(values.data(), m, summary);
  // The three order statistics by selection (linear time; the same values a sort gives).
  const std::array<double, 3> q = detail::summary_quantiles(values);
  summary.q025 = q[0];
  summary.q500 = q[1];
  summary.q975 = q[2];
  return summary;
}

ReplicateSummary summarize_replicates_keyed(const double* estimate, const double* low,
                                            const double* high, size_t replicates,
                                            double expected, const int64_t* key, bool descending) {
  if (replicates == 0 || estimate == nullptr || low == nullptr || high == nullptr ||
      key == nullptr) {
    return summarize_replicates(estimate, low, high, replicates, expected);
  }
  // One pass for what needs every replicate in order and nothing before it: the keys' range,
  // interval_summary's sums and the mean's sum (the chains of dependent additions overlap).
  int64_t key_min = key[0], key_max = key[0];
  bool any_nan = false;
  detail::IntervalSummarySums interval_sums;
  double sum = 0.0;
  for (size_t r = 0; r < replicates; ++r) {
    key_min = std::min(key_min, key[r]);
    key_max = std::max(key_max, key[r]);
    any_nan = any_nan || std::isnan(estimate[r]);
    interval_sums.add(estimate[r], low[r], high[r], expected);
    sum += estimate[r];
  }
  // Histogram bins, kept per thread; beyond this many the selections are cheaper.
  const uint64_t span = static_cast<uint64_t>(key_max) - static_cast<uint64_t>(key_min);
  if (any_nan || span >= 4 * replicates + 4096) {
    return summarize_replicates(estimate, low, high, replicates, expected);
  }
  // The sums of summarize_replicates (every estimate is a number here, so its `values` are the
  // estimates themselves): interval_summary's, and mean_and_sd's in its order.
  ReplicateSummary summary{};
  interval_sums.finish(replicates, expected, summary);
  const size_t m = replicates;
  summary.mean = sum / static_cast<double>(m);
  // Histogram of the keys; each bin's estimate (equal keys have equal estimates). In the same
  // pass, mean_and_sd's squared deviations.
  const size_t bins = static_cast<size_t>(span) + 1;
  thread_local std::vector<uint32_t> counts;
  thread_local std::vector<double> value;
  counts.assign(bins, 0);
  value.resize(bins);
  double squares = 0.0;
  for (size_t r = 0; r < m; ++r) {
    const size_t b = static_cast<size_t>(key[r] - key_min);
    if (counts[b]++ == 0) value[b] = estimate[r];
    squares += (estimate[r] - summary.mean) * (estimate[r] - summary.mean);
  }
  summary.sd = m < 2 ? detail::NaN : std::sqrt(squares / static_cast<double>(m - 1));
  // The type-7 positions of quantile_sorted: order statistics lo and lo + 1 (0-based, by
  // ascending estimate), or the largest when lo + 1 >= m.
  const double probs[3] = {0.025, 0.5, 0.975};
  size_t rank[6];
  double weight[3];
  bool largest[3];
  for (int i = 0; i < 3; ++i) {
    const double h = static_cast<double>(m - 1) * probs[i];
    const double j = std::floor(h);
    const size_t lo = static_cast<size_t>(j);
    largest[i] = lo + 1 >= m;
    weight[i] = h - j;
    rank[2 * i] = largest[i] ? m - 1 : lo;
    rank[2 * i + 1] = largest[i] ? m - 1 : lo + 1;
  }
  // The order statistics at those ranks: the bins by ascending estimate (ascending keys, or
  // descending ones), with the number of replicates up to and including each.
  thread_local std::vector<size_t> through;
  thread_local std::vector<double> sorted_value;
  through.clear();
  sorted_value.clear();
  size_t below = 0;
  for (size_t i = 0; i < bins; ++i) {
    const size_t b = descending ? bins - 1 - i : i;
    if (counts[b] == 0) continue;
    below += counts[b];
    through.push_back(below);
    sorted_value.push_back(value[b]);
  }
  double stat[6];
  for (int i = 0; i < 6; ++i) {
    // The first bin holding more than rank replicates up to and including it.
    const size_t at = static_cast<size_t>(
        std::upper_bound(through.begin(), through.end(), rank[i]) - through.begin());
    stat[i] = sorted_value[at];
  }
  double q[3];
  for (int i = 0; i < 3; ++i) {
    q[i] = largest[i] ? stat[2 * i] : detail::type7_interpolate(stat[2 * i], stat[2 * i + 1], weight[i]);
  }
  summary.q025 = q[0];
  summary.q500 = q[1];
  summary.q975 = q[2];
  return summary;
}

CoverageWidth coverage_and_width(const double* low, const double* high, size_t replicates,
                                 double expected) {
  CoverageWidthSums sums;
  for (size_t r = 0; r < replicates; ++r) sums.add(low[r], high[r], expected);
  return sums.result(replicates, expected);
}

namespace {

#if MIRAGE_HAVE_AVX512_PATH
#if defined(__GNUC__) && !defined(__clang__)
// GCC bug 105593, as in mirage/philox_avx512.h: some avx512fintrin.h intrinsics start from a
// deliberately uninitialized register that -W(maybe-)uninitialized reports where inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

//! The order statistics m / 2 - 1 and m / 2 (counting from 0) of m <= 32 values v without
//! NaN, 2 <= m: the k-th smallest value is the largest v_i with fewer than k + 1 values below
//! it (every v_i above it has at least k + 1 below; it has at most k itself), so one 8-lane
//! comparison and one masked add per value and 8 lanes count, for all v_i at once, the values
//! below each; two masked maxima pick the two. The same values as any sort's, ties or not.
__attribute__((target("avx512f"))) void middle_order_statistics_avx512(const double* v, size_t m,
                                                                       double* lower,
                                                                       double* upper) {
  alignas(64) double padded[32];
  for (size_t j = 0; j < 32; ++j) padded[j] = j < m ? v[j] : detail::INF;  // m below each
  const size_t vectors = (m + 7) / 8;
  __m512d values[4];
  __m512i below[4];
  for (size_t q = 0; q < 4; ++q) {
    values[q] = _mm512_load_pd(padded + 8 * q);
    below[q] = _mm512_setzero_si512();
  }
  const __m512i one = _mm512_set1_epi64(1);
  for (size_t j = 0; j < m; ++j) {
    const __m512d x = _mm512_set1_pd(padded[j]);
    for (size_t q = 0; q < vectors; ++q) {
      const __mmask8 less = _mm512_cmp_pd_mask(x, values[q], _CMP_LT_OQ);  // v_j < v_i
      below[q] = _mm512_mask_add_epi64(below[q], less, below[q], one);
    }
  }
  const size_t mid = m / 2;
  const __m512d lowest = _mm512_set1_pd(-detail::INF);
  __m512d at_mid = lowest, at_before = lowest;
  for (size_t q = 0; q < vectors; ++q) {
    const __mmask8 to_mid =
        _mm512_cmp_epi64_mask(below[q], _mm512_set1_epi64(int64_t(mid)), _MM_CMPINT_LE);
    const __mmask8 to_before =
        _mm512_cmp_epi64_mask(below[q], _mm512_set1_epi64(int64_t(mid) - 1), _MM_CMPINT_LE);
    at_mid = _mm512_mask_max_pd(at_mid, to_mid, at_mid, values[q]);
    at_before = _mm512_mask_max_pd(at_before, to_before, at_before, values[q]);
  }
  *upper = _mm512_reduce_max_pd(at_mid);
  *lower = _mm512_reduce_max_pd(at_before);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

}  // namespace

double emergence_score(const double* y, size_t count) {
  if (count > 0 && y == nullptr) {
    detail::fail("emergence_score",
                 "y = null with count = " + std::to_string(count) + "; must point to count values");
  }
  if (count < 2) return detail::NaN;
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(y[i])) return detail::NaN;
  }
  size_t argmax = 0;
  size_t argmin = 0;
  for (size_t i = 1; i < count; ++i) {
    if (y[i] > y[argmax]) argmax = i;  // strict: the first index attaining the max is kept
    if (y[i] < y[argmin]) argmin = i;
  }
  const double range = y[argmax] - y[argmin];
  if (range == 0.0) return 0.0;
  const double sign = argmax > argmin ? 1.0 : -1.0;  // argmax != argmin when range > 0
  // The squared steps order like the absolute steps, so take the median of |y_i - y_{i-1}|
  // and square-root the median of squares without forming squares that could underflow
  // or overflow: sqrt(d^2) = d for an odd count, sqrt((a^2 + b^2) / 2) = hypot(a, b) /
  // sqrt(2) for the two middle steps a, b of an even count.
  // Reused between calls on the same thread (the emergence analysis calls this per replicate).
  thread_local std::vector<double> steps;
  steps.resize(count - 1);
  for (size_t i = 1; i < count; ++i) steps[i - 1] = std::fabs(y[i] - y[i - 1]);
  const size_t m = steps.size();
  const size_t mid = m / 2;
  // The middle order statistics: steps[mid] and, for an even count, the largest below it.
  double upper, lower;
#if MIRAGE_HAVE_AVX512_PATH
  if (m >= 2 && m <= 32 && cpu_has_avx512()) {
    middle_order_statistics_avx512(steps.data(), m, &lower, &upper);
  } else
#endif
  {
    std::nth_element(steps.begin(), steps.begin() + mid, steps.end());
    upper = steps[mid];
    lower = m % 2 == 0 ? *std::max_element(steps.begin(), steps.begin() + mid) : upper;
  }
  const double root_median = m % 2 == 1 ? upper : std::hypot(lower, upper) / std::sqrt(2.0);
  // A zero median step with a nonzero range is a pure jump: +/- infinity.
  if (root_median == 0.0) return sign * detail::INF;
  return sign * range / root_median;
}

double exact_binomial_coverage(IntervalMethod method, int64_t n, double p, double confidence) {
  constexpr const char* FUNCTION = "exact_binomial_coverage";
  detail::check_proportion_arguments(FUNCTION, method, n, confidence);
  if (!(p >= 0.0 && p <= 1.0)) {
    detail::fail(FUNCTION, "p = " + detail::format_number(p) + "; must be in [0, 1]");
  }
  const double z = detail::normal_critical_value(confidence);
  const auto covers = [&](int64_t x) {
    const Interval ci = detail::proportion_interval_unchecked(method, x, n, confidence, z);
    return ci.low <= p && p <= ci.high;
  };
  if (p == 0.0) return covers(0) ? 1.0 : 0.0;
  if (p == 1.0) return covers(n) ? 1.0 : 0.0;

  const boost::math::binomial_distribution<double> binomial(static_cast<double>(n), p);
  const double nd = static_cast<double>(n);
  const double odds = p / (1.0 - p);
  const auto pmf = [&](int64_t x) { return boost::math::pdf(binomial, static_cast<double>(x)); };
  // Sum outward from the mode. The binomial pmf is log-concave, so the ratio of successive
  // terms only shrinks moving away from the mode: once a term f has ratio r < 1 to its
  // outer neighbour, everything further out is below f r / (1 - r) (a geometric series).
  const int64_t mode =
      std::min<int64_t>(n, std::max<int64_t>(0, static_cast<int64_t>(std::floor((nd + 1.0) * p))));
  double upper_sum = 0.0;
  for (int64_t x = mode; x <= n; ++x) {
    const double f = pmf(x);
    if (covers(x)) upper_sum += f;
    const double r = (nd - static_cast<double>(x)) / (static_cast<double>(x) + 1.0) * odds;
    if (r < 1.0 && f * r / (1.0 - r) < detail::COVERAGE_TAIL_BOUND) break;
  }
  double lower_sum = 0.0;
  for (int64_t x = mode - 1; x >= 0; --x) {
    const double f = pmf(x);
    if (covers(x)) lower_sum += f;
    const double r = static_cast<double>(x) / (nd - static_cast<double>(x) + 1.0) / odds;
    if (r < 1.0 && f * r / (1.0 - r) < detail::COVERAGE_TAIL_BOUND) break;
  }
  return std::min(1.0, upper_sum + lower_sum);
}

double visible_probability(double accuracy, int64_t test_size) {
  constexpr const char* FUNCTION = "visible_probability";
  if (!(accuracy >= 0.0 && accuracy <= 1.0)) {
    detail::fail(FUNCTION, "accuracy = " + detail::format_number(accuracy) + "; must be in [0, 1]");
  }
  if (test_size < 0) {
    detail::fail(FUNCTION, "test_size = " + std::to_string(test_size) + "; must be >= 0");
  }
  if (test_size == 0) return 0.0;
  // (1 - a)^n = exp(n log1p(-a)); expm1 keeps the relative accuracy of 1 - that for tiny a.
  return -std::expm1(static_cast<double>(test_size) * std::log1p(-accuracy));
}

double test_size_for_visibility(double accuracy) {
  constexpr const char* FUNCTION = "test_size_for_visibility";
  if (!(accuracy >= 0.0 && accuracy <= 1.0)) {
    detail::fail(FUNCTION, "accuracy = " + detail::format_number(accuracy) + "; must be in [0, 1]");
  }
  if (accuracy == 0.0) return detail::INF;
  if (accuracy >= 0.5) return 1.0;
  double n = std::ceil(std::log(0.5) / std::log1p(-accuracy));
  // The quotient can round across an integer; settle on the exact definition wherever n
  // is an exactly representable test size.
  constexpr double EXACT_LIMIT = 9007199254740992.0;  // 2^53
  if (n < EXACT_LIMIT) {
    while (n > 1.0 && visible_probability(accuracy, static_cast<int64_t>(n) - 1) >= 0.5) n -= 1.0;
    while (visible_probability(accuracy, static_cast<int64_t>(n)) < 0.5) n += 1.0;
  }
  return n;
}

double pass_at_k_estimator(int32_t attempts, int32_t correct, int32_t k) {
  if (attempts < 1 || correct < 0 || correct > attempts || k < 1 || k > attempts) {
    throw std::invalid_argument("pass_at_k_estimator: needs 0 <= c <= A and 1 <= k <= A, got A = " +
                                std::to_string(attempts) + ", c = " + std::to_string(correct) +
                                ", k = " + std::to_string(k));
  }
  if (attempts - correct < k) return 1.0;  // every k-subset holds a correct attempt
  // C(A - c, k) / C(A, k) = prod_{i = A-c+1}^{A} (1 - k / i): c factors in (0, 1), no
  // factorials, no cancellation (Chen et al. 2021, figure 3).
  double miss = 1.0;
  for (int32_t i = attempts - correct + 1; i <= attempts; ++i) miss *= 1.0 - double(k) / double(i);
  return 1.0 - miss;
}

UntilSuccess until_success(int64_t n, int64_t solved, int64_t attempts, int64_t attempts_sq,
                           int64_t solved_attempts, double confidence) {
  if (n <= 0 || attempts <= 0) {
    return UntilSuccess{detail::NaN, Interval{detail::NaN, detail::NaN}, detail::NaN};
  }
  const long double T = static_cast<long double>(attempts);
  const long double q = static_cast<long double>(solved) / T;
  long double w = T;
  if (q > 0 && q < 1 && n > 1) {
    // sum (y - q t)^2 = s - 2 q sum y t + q^2 sum t^2 (y^2 = y).
    const long double squares =
        std::max(0.0L, static_cast<long double>(solved) -
                           2 * q * static_cast<long double>(solved_attempts) +
                           q * q * static_cast<long double>(attempts_sq));
    const long double variance =
        static_cast<long double>(n) / static_cast<long double>(n - 1) * squares / (T * T);
    if (variance > 0) w = std::max(1.0L, q * (1 - q) / variance);
  }
  const long double spread = q * (1 - q);
  const long double z = detail::normal_critical_value(confidence);
  const long double z2 = z * z;
  const long double centre = (q + z2 / (2 * w)) / (1 + z2 / w);
  const long double half = z / (1 + z2 / w) * std::sqrt(spread / w + z2 / (4 * w * w));
  Interval ci{static_cast<double>(std::max(0.0L, centre - half)),
              static_cast<double>(std::min(1.0L, centre + half))};
  if (solved == 0) ci.low = 0.0;
  if (q == 1) ci.high = 1.0;
  return UntilSuccess{static_cast<double>(q), ci, static_cast<double>(w)};
}

PassAtK pass_at_k(const int64_t* histogram, int32_t bins, int32_t k, double confidence) {
  const int32_t attempts = bins - 1;
  int64_t n = 0;
  long double sum = 0, sum_sq = 0;
  for (int32_t c = 0; c < bins; ++c) {
    if (histogram[c] == 0) continue;
    const long double v = pass_at_k_estimator(attempts, c, k);
    n += histogram[c];
    sum += histogram[c] * v;
    sum_sq += histogram[c] * v * v;
  }
  if (n == 0) return PassAtK{detail::NaN, Interval{detail::NaN, detail::NaN}};
  const long double q = sum / n;
  const long double variance = std::max(0.0L, sum_sq / n - q * q);
  const long double spread = q * (1 - q);
  // Kish's effective sample size: per-item values in [0, 1] have variance at most Q (1 - Q),
  // so n_eff >= n; n A bounds it where the items are all alike (V = 0).
  long double w = n;
  if (q > 0 && q < 1) {
    const long double most = static_cast<long double>(n) * attempts;
    w = variance > 0 ? std::min(most, std::max<long double>(n, spread / (variance / n))) : most;
  }
  const long double z = detail::normal_critical_value(confidence);
  const long double z2 = z * z;
  const long double centre = (q + z2 / (2 * w)) / (1 + z2 / w);
  const long double half = z / (1 + z2 / w) * std::sqrt(spread / w + z2 / (4 * w * w));
  Interval ci{static_cast<double>(std::max(0.0L, centre - half)),
              static_cast<double>(std::min(1.0L, centre + half))};
  if (sum == 0) ci.low = 0.0;
  if (q == 1) ci.high = 1.0;
  return PassAtK{static_cast<double>(q), ci};
}

}  // namespace mirage

