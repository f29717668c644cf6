// Copyright (c) Mirage developers.
//! \file token_intervals.cpp
//! Range-respecting intervals for the linear metrics, their exact coverage, and MOVER
//! intervals for differences. See token_intervals.h for the contract of each function.
#include "stats/token_intervals.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include "stats/int128.h"

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

using detail::Int128;

//! Boost.Math evaluates double functions in long double by default (x87 on x86-64); without
//! that promotion the incomplete beta and its inverse are 5 to 14 times faster and still
//! accurate to a few hundred ulps at worst, far below what the intervals need.
typedef boost::math::policies::policy<boost::math::policies::promote_double<false>> Fast;

//! Total probability exact_mean_coverage may leave out (outcomes too improbable to matter).
constexpr double EXACT_MEAN_COVERAGE_SKIPPED = 1e-14;

//! nL must stay below 2^53 so that every tally and E / (nL) is exact in double.
constexpr Int128 MAX_TOKENS = Int128{1} << 53;

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

void check_mean_method(const char* function, MeanIntervalMethod method) {
  switch (method) {
    case MeanIntervalMethod::STUDENT_T:
    case MeanIntervalMethod::NORMAL:
    case MeanIntervalMethod::WILSON_DEFF:
    case MeanIntervalMethod::CLOPPER_PEARSON_DEFF:
      return;
  }
  fail(function,
       "method = " + std::to_string(static_cast<int>(method)) + "; not a valid MeanIntervalMethod");
}

void check_items(const char* function, int64_t n, int32_t length) {
  if (n < 1) fail(function, "n = " + std::to_string(n) + "; must be >= 1");
  if (length < 1) fail(function, "length = " + std::to_string(length) + "; must be >= 1");
  if (static_cast<Int128>(n) * length > MAX_TOKENS) {
    fail(function, "n = " + std::to_string(n) + ", length = " + std::to_string(length) +
                       "; n * length must be <= 2^53");
  }
}

//! The least sum of squares of m >= 1 integers >= 0 with sum e: as equal as possible.
Int128 least_sum_sq(int64_t e, int64_t m) {
  const Int128 q = e / m;
  const Int128 r = e % m;
  return static_cast<Int128>(m) * q * q + r * (2 * q + 1);
}

//! The largest sum of squares of integers in 0..L with sum e (as many L's as possible),
//! whatever their number as long as it is >= ceil(e / L).
Int128 largest_sum_sq(int64_t e, int32_t length) {
  const Int128 a = e / length;
  const Int128 r = e % length;
  return a * length * length + r * r;
}

void check_tallies(const char* function, int64_t errors, int64_t errors_sq, int64_t n,
                   int32_t length) {
  check_items(function, n, length);
  const int64_t tokens = n * length;
  if (errors < 0 || errors > tokens) {
    fail(function, "errors = " + std::to_string(errors) +
                       "; must satisfy 0 <= errors <= n * length = " + std::to_string(tokens));
  }
  if (errors_sq < least_sum_sq(errors, n) || errors_sq > largest_sum_sq(errors, length) ||
      (errors_sq - errors) % 2 != 0) {
    fail(function, "errors_sq = " + std::to_string(errors_sq) +
                       " with errors = " + std::to_string(errors) + ", n = " + std::to_string(n) +
                       ", length = " + std::to_string(length) +
                       "; no n values in 0..length have these sums (errors_sq must have the parity "
                       "of errors and lie between the least and the largest sum of squares)");
  }
}

double normal_upper_quantile(double tail) {
  const boost::math::normal_distribution<double> normal;
  return boost::math::quantile(boost::math::complement(normal, tail));
}

double student_t_upper_quantile(double dof, double tail) {
  const boost::math::students_t_distribution<double> t(dof);
  return boost::math::quantile(boost::math::complement(t, tail));
}

//! alpha / 2, as in statistics.cpp.
double tail_probability(double confidence) {
  return 0.5 * (1.0 - confidence);
}

//! A per-thread memo of the last few critical values: consecutive cells of a reduction
//! share the confidence and n, so the Boost quantile (about a microsecond) runs once.
//! dof < 0 denotes the normal quantile.
double critical_value(double dof, double confidence) {
  struct Entry {
    double dof;
    double confidence;
    double value;
  };
  constexpr int SLOTS = 4;
  thread_local Entry entries[SLOTS] = {
      {NaN, NaN, NaN}, {NaN, NaN, NaN}, {NaN, NaN, NaN}, {NaN, NaN, NaN}};
  thread_local int next = 0;
  for (const Entry& e : entries) {
    if (e.dof == dof && e.confidence == confidence) return e.value;
  }
  const double tail = tail_probability(confidence);
  const double value =
      dof < 0.0 ? normal_upper_quantile(tail) : student_t_upper_quantile(dof, tail);
  entries[next] = {dof, confidence, value};
  next = (next + 1) % SLOTS;
  return value;
}

//! Everything token_interval needs that depends only on (method, n, L, confidence).
struct Critical {
  double z = NaN;         //!< normal quantile (normal, wilson-deff)
  double t_items = NaN;   //!< t_{n-1} (student-t, clopper-pearson-deff), n >= 2
  double t_tokens = NaN;  //!< t_{nL-1} (clopper-pearson-deff), n >= 2
};

Critical critical_values(MeanIntervalMethod method, int64_t n, int32_t length, double confidence) {
  Critical c;
  switch (method) {
    case MeanIntervalMethod::NORMAL:
    case MeanIntervalMethod::WILSON_DEFF:
      c.z = critical_value(-1.0, confidence);
      break;
    case MeanIntervalMethod::STUDENT_T:
      if (n >= 2) c.t_items = critical_value(static_cast<double>(n - 1), confidence);
      break;
    case MeanIntervalMethod::CLOPPER_PEARSON_DEFF:
      if (n >= 2) {
        c.t_items = critical_value(static_cast<double>(n - 1), confidence);
        c.t_tokens = critical_value(static_cast<double>(n * length - 1), confidence);
      }
      break;
  }
  return c;
}

//! token_effective_trials for valid tallies.
double effective_trials(int64_t errors, int64_t errors_sq, int64_t n, int32_t length) {
  const int64_t tokens = n * length;
  if (n == 1 || errors == 0 || errors == tokens) return static_cast<double>(tokens);
  // n_eff = (nL - E) E (n - 1) / (n E2 - E^2); the denominator is exact (< 2^106).
  const Int128 denominator =
      static_cast<Int128>(n) * errors_sq - static_cast<Int128>(errors) * errors;
  if (denominator <= 0) return static_cast<double>(tokens);
  const long double numerator = static_cast<long double>(tokens - errors) *
                                static_cast<long double>(errors) * static_cast<long double>(n - 1);
  const long double trials = numerator / detail::to_long_double(denominator);
  return static_cast<double>(std::min(trials, static_cast<long double>(tokens)));
}

//! The CLOPPER_PEARSON_DEFF effective trials n* and successes x* = n* Q, Q = E / (nL)
//! (errors are the "successes" here; Clopper-Pearson is equivariant under Q -> 1 - Q).
struct EffectiveCounts {
  double trials;
  double successes;
};

EffectiveCounts korn_graubard_counts(int64_t errors, int64_t errors_sq, int64_t n, int32_t length,
                                     const Critical& c) {
  double trials = effective_trials(errors, errors_sq, n, length);
  if (n >= 2) {
    const double ratio = c.t_tokens / c.t_items;
    trials *= ratio * ratio;
  }
  const double q = static_cast<double>(errors) / static_cast<double>(n * length);
  return {trials, trials * q};
}

double clip(double v, double high) {
  return std::min(high, std::max(0.0, v));
}

//! token_mean_interval for valid arguments, with the critical values precomputed.
Interval token_interval(MeanIntervalMethod method, int64_t errors, int64_t errors_sq, int64_t n,
                        int32_t length, double confidence, const Critical& c) {
  const double L = static_cast<double>(length);
  const int64_t tokens = n * length;
  switch (method) {
    case MeanIntervalMethod::STUDENT_T:
    case MeanIntervalMethod::NORMAL: {
      // mean_interval's arithmetic, then clipped to [0, L].
      if (n < 2) return {NaN, NaN};
      const Moments m = moments_from_sums(errors, errors_sq, n);
      if (m.sd == 0.0) return {m.mean, m.mean};
      const double critical = method == MeanIntervalMethod::STUDENT_T ? c.t_items : c.z;
      const double half = critical * m.sd / std::sqrt(static_cast<double>(n));
      return {clip(m.mean - half, L), clip(m.mean + half, L)};
    }
    case MeanIntervalMethod::WILSON_DEFF: {
      const double w = effective_trials(errors, errors_sq, n, length);
      const double q = static_cast<double>(errors) / static_cast<double>(tokens);
      const double z2 = c.z * c.z;
      const double denominator = 1.0 + z2 / w;
      const double center = (q + z2 / (2.0 * w)) / denominator;
      const double half = c.z / denominator * std::sqrt(q * (1.0 - q) / w + z2 / (4.0 * w * w));
      const double low = errors == 0 ? 0.0 : std::max(0.0, center - half);
      const double high = errors == tokens ? 1.0 : std::min(1.0, center + half);
      return {clip(L * low, L), clip(L * high, L)};
    }
    case MeanIntervalMethod::CLOPPER_PEARSON_DEFF: {
      const EffectiveCounts k = korn_graubard_counts(errors, errors_sq, n, length, c);
      const double tail = tail_probability(confidence);
      double low = 0.0;
      double high = 1.0;
      if (errors > 0) {
        low = boost::math::quantile(
            boost::math::beta_distribution<double, Fast>(k.successes, k.trials - k.successes + 1.0),
            tail);
      }
      if (errors < tokens) {
        high = boost::math::quantile(boost::math::complement(
            boost::math::beta_distribution<double, Fast>(k.successes + 1.0, k.trials - k.successes),
            tail));
      }
      return {clip(L * low, L), clip(L * high, L)};
    }
  }
  return {NaN, NaN};  // unreachable: the method was checked
}

//! Whether the CLOPPER_PEARSON_DEFF interval of a state covers truth, decided from the Beta
//! CDFs at q = truth / L instead of the quantiles (low <= q iff F_low(q) >= alpha/2, high >= q
//! iff 1 - F_high(q) >= alpha/2): one incomplete beta per end instead of an inversion. It
//! agrees with token_interval except where truth is within rounding of an end.
bool korn_graubard_covers(int64_t errors, int64_t errors_sq, int64_t n, int32_t length,
                          double confidence, const Critical& c, double truth) {
  const int64_t tokens = n * length;
  const EffectiveCounts k = korn_graubard_counts(errors, errors_sq, n, length, c);
  const double tail = tail_probability(confidence);
  const double q = std::min(1.0, std::max(0.0, truth / static_cast<double>(length)));
  if (errors > 0) {
    if (q <= 0.0) return false;
    if (q < 1.0 && boost::math::ibeta(k.successes, k.trials - k.successes + 1.0, q, Fast()) < tail)
      return false;
  }
  if (errors < tokens) {
    if (q >= 1.0) return false;
    if (q > 0.0 && boost::math::ibetac(k.successes + 1.0, k.trials - k.successes, q, Fast()) < tail)
      return false;
  }
  return true;
}

//! The number of dense (E, E2) cells for m items: sum over E = 0..mL of the E2 of E's
//! parity between least_sum_sq(E, m) and largest_sum_sq(E, L); stops counting above `cap`.
int64_t dense_cells(int64_t m, int32_t length, int64_t cap) {
  int64_t cells = 0;
  const int64_t top = m * length;
  for (int64_t e = 0; e <= top; ++e) {
    cells += static_cast<int64_t>((largest_sum_sq(e, length) - least_sum_sq(e, m)) / 2 + 1);
    if (cells > cap) return cells;
  }
  return cells;
}

//! Layout of the dense states for m items: row E occupies [offset[E], offset[E + 1]) and
//! holds E2 = low[E] + 2 s for s = 0, 1, ...
struct Layout {
  std::vector<int64_t> offset;
  std::vector<int64_t> low;

  void build(int64_t m, int32_t length) {
    const int64_t top = m * length;
    offset.resize(static_cast<size_t>(top) + 2);
    low.resize(static_cast<size_t>(top) + 1);
    offset[0] = 0;
    for (int64_t e = 0; e <= top; ++e) {
      const Int128 lo = m == 0 ? 0 : least_sum_sq(e, m);
      low[static_cast<size_t>(e)] = static_cast<int64_t>(lo);
      offset[static_cast<size_t>(e) + 1] =
          offset[static_cast<size_t>(e)] +
          static_cast<int64_t>((largest_sum_sq(e, length) - lo) / 2 + 1);
    }
  }
};

}  // namespace

double token_effective_trials(int64_t errors, int64_t errors_sq, int64_t n, int32_t length) {
  check_tallies("token_effective_trials", errors, errors_sq, n, length);
  return effective_trials(errors, errors_sq, n, length);
}

Interval token_mean_interval(MeanIntervalMethod method, int64_t errors, int64_t errors_sq,
                             int64_t n, int32_t length, double confidence) {
  constexpr const char* FUNCTION = "token_mean_interval";
  check_mean_method(FUNCTION, method);
  check_tallies(FUNCTION, errors, errors_sq, n, length);
  check_confidence(FUNCTION, confidence);
  return token_interval(method, errors, errors_sq, n, length, confidence,
                        critical_values(method, n, length, confidence));
}

TokenMeanIntervals::TokenMeanIntervals(MeanIntervalMethod method, int64_t n, int32_t length,
                                       double confidence)
    : method_(method), n_(n), length_(length), confidence_(confidence) {
  constexpr const char* FUNCTION = "TokenMeanIntervals";
  check_mean_method(FUNCTION, method);
  check_items(FUNCTION, n, length);
  check_confidence(FUNCTION, confidence);
  const Critical c = critical_values(method, n, length, confidence);
  z_ = c.z;
  t_items_ = c.t_items;
  t_tokens_ = c.t_tokens;
}

Interval TokenMeanIntervals::at(int64_t errors, int64_t errors_sq) const {
  return token_interval(method_, errors, errors_sq, n_, length_, confidence_,
                        Critical{z_, t_items_, t_tokens_});
}

double TokenMeanIntervals::clopper_pearson_trials(int64_t errors, int64_t errors_sq) const {
  return korn_graubard_counts(errors, errors_sq, n_, length_, Critical{z_, t_items_, t_tokens_})
      .trials;
}

MemoTokenIntervals::MemoTokenIntervals(MeanIntervalMethod method, int64_t n, int32_t length,
                                       double confidence, size_t cache_slots)
    : intervals_(method, n, length, confidence), cache_(cache_slots) {}

Interval MemoTokenIntervals::at(int64_t errors, int64_t errors_sq) {
  return cache_.get(errors, errors_sq, [&] {
    if (intervals_.method() != MeanIntervalMethod::CLOPPER_PEARSON_DEFF) {
      return intervals_.at(errors, errors_sq);
    }
    // korn_graubard_counts makes the Beta parameters from E and n* alone: equal (E, n*), equal
    // interval. n* > 0 is finite, so its bits read as an int64_t are >= 0.
    const double trials = intervals_.clopper_pearson_trials(errors, errors_sq);
    int64_t key;
    static_assert(sizeof key == sizeof trials, "a double's bits as an int64_t");
    std::memcpy(&key, &trials, sizeof key);
    return by_trials_.get(errors, key, [&] { return intervals_.at(errors, errors_sq); });
  });
}

TokenMomentIntervals::TokenMomentIntervals(int64_t n, int32_t length, double confidence)
    : n_(n), length_(length) {
  constexpr const char* FUNCTION = "TokenMomentIntervals";
  check_items(FUNCTION, n, length);
  check_confidence(FUNCTION, confidence);
  t_items_ = critical_values(MeanIntervalMethod::STUDENT_T, n, length, confidence).t_items;
  z_ = critical_values(MeanIntervalMethod::NORMAL, n, length, confidence).z;
}

void TokenMomentIntervals::at(int64_t errors, int64_t errors_sq, Interval* student_t,
                              Interval* normal) const {
  // token_interval's STUDENT_T / NORMAL branch, the moments shared.
  if (n_ < 2) {
    *student_t = *normal = Interval{NaN, NaN};
    return;
  }
  const double L = static_cast<double>(length_);
  const Moments m = moments_from_sums(errors, errors_sq, n_);
  if (m.sd == 0.0) {
    *student_t = *normal = Interval{m.mean, m.mean};
    return;
  }
  const double root_n = std::sqrt(static_cast<double>(n_));
  const double half_t = t_items_ * m.sd / root_n;
  const double half_z = z_ * m.sd / root_n;
  *student_t = Interval{clip(m.mean - half_t, L), clip(m.mean + half_t, L)};
  *normal = Interval{clip(m.mean - half_z, L), clip(m.mean + half_z, L)};
}

bool exact_mean_coverage_feasible(int64_t n, int32_t length) {
  check_items("exact_mean_coverage_feasible", n, length);
  // L = 1: E2 = E and E ~ Binomial(n, .), summed directly over its central terms.
  if (length == 1) return true;
  const int64_t states = dense_cells(n, length, EXACT_MEAN_COVERAGE_MAX_STATES);
  if (states > EXACT_MEAN_COVERAGE_MAX_STATES) return false;
  return static_cast<long double>(n) * (length + 1) * static_cast<long double>(states) <=
         static_cast<long double>(EXACT_MEAN_COVERAGE_MAX_WORK);
}

double exact_mean_coverage(MeanIntervalMethod method, const double* k_pmf, int32_t length,
                           int64_t n, double confidence, double truth) {
  constexpr const char* FUNCTION = "exact_mean_coverage";
  check_mean_method(FUNCTION, method);
  check_items(FUNCTION, n, length);
  check_confidence(FUNCTION, confidence);
  if (k_pmf == nullptr) fail(FUNCTION, "k_pmf = null; must point to length + 1 probabilities");
  double total = 0.0;
  for (int32_t j = 0; j <= length; ++j) {
    if (!(k_pmf[j] >= 0.0 && k_pmf[j] <= 1.0)) {
      fail(FUNCTION, "k_pmf[" + std::to_string(j) + "] = " + format_number(k_pmf[j]) +
                         "; must be a probability in [0, 1]");
    }
    total += k_pmf[j];
  }
  if (!(std::fabs(total - 1.0) <= 1e-9)) {
    fail(FUNCTION, "k_pmf sums to " + format_number(total) + "; must sum to 1 (within 1e-9)");
  }
  if (!(truth >= 0.0 && truth <= static_cast<double>(length))) {
    fail(FUNCTION, "truth = " + format_number(truth) +
                       "; must be in [0, length = " + std::to_string(length) + "]");
  }
  if (!exact_mean_coverage_feasible(n, length)) return NaN;
  if ((method == MeanIntervalMethod::STUDENT_T || method == MeanIntervalMethod::NORMAL) && n < 2) {
    return NaN;  // no interval for any outcome
  }
  const Critical critical = critical_values(method, n, length, confidence);

  // Probability of d = L - k errors on one item.
  std::vector<double> p_errors(static_cast<size_t>(length) + 1);
  for (int32_t d = 0; d <= length; ++d) p_errors[static_cast<size_t>(d)] = k_pmf[length - d];

  double coverage = 0.0;
  bool any_interval = false;
  // Outcomes below this probability are left out of the sum without computing their
  // interval; there are at most `states` of them, so together they hold < 1e-14.
  const int64_t states =
      length == 1 ? n + 1 : dense_cells(n, length, EXACT_MEAN_COVERAGE_MAX_STATES);
  const double negligible = EXACT_MEAN_COVERAGE_SKIPPED / static_cast<double>(states);
  const auto add_state = [&](int64_t e, int64_t e2, double p) {
    if (p <= negligible) return;
    bool covers;
    if (method == MeanIntervalMethod::CLOPPER_PEARSON_DEFF) {
      any_interval = true;
      covers = korn_graubard_covers(e, e2, n, length, confidence, critical, truth);
    } else {
      const Interval ci = token_interval(method, e, e2, n, length, confidence, critical);
      if (std::isnan(ci.low) || std::isnan(ci.high)) return;
      any_interval = true;
      covers = ci.low <= truth && truth <= ci.high;
    }
    if (covers) coverage += p;
  };

  if (length == 1) {
    // d is 0 or 1, so E2 = E and E ~ Binomial(n, P(d = 1)).
    const double q = std::min(1.0, p_errors[1] / (p_errors[0] + p_errors[1]));
    if (q == 0.0 || q == 1.0) {
      add_state(q == 0.0 ? 0 : n, q == 0.0 ? 0 : n, 1.0);
    } else {
      // Sum outward from the mode and stop where the rest of each tail is below 1e-16 (the
      // pmf is log-concave: past a term f whose ratio r < 1 to its outer neighbour, the
      // tail is below f r / (1 - r)), as exact_binomial_coverage does: O(sqrt(n)) terms.
      const boost::math::binomial_distribution<double> binomial(static_cast<double>(n), q);
      const double nd = static_cast<double>(n);
      const double odds = q / (1.0 - q);
      const int64_t mode = std::min<int64_t>(
          n, std::max<int64_t>(0, static_cast<int64_t>(std::floor((nd + 1.0) * q))));
      for (int64_t e = mode; e <= n; ++e) {
        const double f = boost::math::pdf(binomial, static_cast<double>(e));
        add_state(e, e, f);
        const double r = (nd - static_cast<double>(e)) / (static_cast<double>(e) + 1.0) * odds;
        if (r < 1.0 && f * r / (1.0 - r) < 1e-16) break;
      }
      for (int64_t e = mode - 1; e >= 0; --e) {
        const double f = boost::math::pdf(binomial, static_cast<double>(e));
        add_state(e, e, f);
        const double r = static_cast<double>(e) / (nd - static_cast<double>(e) + 1.0) / odds;
        if (r < 1.0 && f * r / (1.0 - r) < 1e-16) break;
      }
    }
    if (!any_interval) return NaN;
    return std::min(1.0, coverage);
  }

  // Dense dynamic programme over items.
  Layout old_layout;
  Layout new_layout;
  old_layout.build(0, length);
  const int64_t final_cells = dense_cells(n, length, std::numeric_limits<int64_t>::max());
  std::vector<double> old_p(static_cast<size_t>(final_cells), 0.0);
  std::vector<double> new_p(static_cast<size_t>(final_cells), 0.0);
  old_p[0] = 1.0;  // no items: E = E2 = 0
  for (int64_t m = 0; m < n; ++m) {
    new_layout.build(m + 1, length);
    const int64_t new_cells = new_layout.offset.back();
    std::fill(new_p.begin(), new_p.begin() + new_cells, 0.0);
    const int64_t top = m * length;
    for (int64_t e = 0; e <= top; ++e) {
      const int64_t begin = old_layout.offset[static_cast<size_t>(e)];
      const int64_t count = old_layout.offset[static_cast<size_t>(e) + 1] - begin;
      const double* src = old_p.data() + begin;
      // Skip rows that hold no probability (unreachable or underflowed).
      bool any = false;
      for (int64_t s = 0; s < count && !any; ++s) any = src[s] != 0.0;
      if (!any) continue;
      const int64_t e2_low = old_layout.low[static_cast<size_t>(e)];
      for (int32_t d = 0; d <= length; ++d) {
        const double w = p_errors[static_cast<size_t>(d)];
        if (w == 0.0) continue;
        const size_t target = static_cast<size_t>(e + d);
        // Row E holds E2 = e2_low + 2s; row E + d holds E2' = low' + 2s'; E2' = E2 + d^2.
        const int64_t shift = (e2_low + int64_t{d} * d - new_layout.low[target]) / 2;
        double* dst = new_p.data() + new_layout.offset[target] + shift;
        for (int64_t s = 0; s < count; ++s) dst[s] += w * src[s];
      }
    }
    std::swap(old_p, new_p);
    std::swap(old_layout, new_layout);
  }

  // Sum the probabilities of the outcomes whose interval covers.
  const int64_t top = n * length;
  for (int64_t e = 0; e <= top; ++e) {
    const int64_t begin = old_layout.offset[static_cast<size_t>(e)];
    const int64_t count = old_layout.offset[static_cast<size_t>(e) + 1] - begin;
    const int64_t e2_low = old_layout.low[static_cast<size_t>(e)];
    for (int64_t s = 0; s < count; ++s)
      add_state(e, e2_low + 2 * s, old_p[static_cast<size_t>(begin + s)]);
  }
  if (!any_interval) return NaN;
  return std::min(1.0, coverage);
}

Interval newcombe_difference(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double confidence) {
  constexpr const char* FUNCTION = "newcombe_difference";
  if (n1 < 1) fail(FUNCTION, "n1 = " + std::to_string(n1) + "; must be >= 1");
  if (n2 < 1) fail(FUNCTION, "n2 = " + std::to_string(n2) + "; must be >= 1");
  if (x1 < 0 || x1 > n1) {
    fail(FUNCTION,
         "x1 = " + std::to_string(x1) + "; must satisfy 0 <= x1 <= n1 = " + std::to_string(n1));
  }
  if (x2 < 0 || x2 > n2) {
    fail(FUNCTION,
         "x2 = " + std::to_string(x2) + "; must satisfy 0 <= x2 <= n2 = " + std::to_string(n2));
  }
  check_confidence(FUNCTION, confidence);
  const Interval ci1 = proportion_interval(IntervalMethod::WILSON, x1, n1, confidence);
  const Interval ci2 = proportion_interval(IntervalMethod::WILSON, x2, n2, confidence);
  return mover_difference(static_cast<double>(x1) / static_cast<double>(n1), ci1,
                          static_cast<double>(x2) / static_cast<double>(n2), ci2);
}

Interval mover_difference(double est1, Interval ci1, double est2, Interval ci2) {
  constexpr const char* FUNCTION = "mover_difference";
  if (std::isnan(est1) || std::isnan(est2) || std::isnan(ci1.low) || std::isnan(ci1.high) ||
      std::isnan(ci2.low) || std::isnan(ci2.high)) {
    return {NaN, NaN};
  }
  if (!(ci1.low <= est1 && est1 <= ci1.high)) {
    fail(FUNCTION, "est1 = " + format_number(est1) + " outside [" + format_number(ci1.low) + ", " +
                       format_number(ci1.high) + "]; each interval must contain its estimate");
  }
  if (!(ci2.low <= est2 && est2 <= ci2.high)) {
    fail(FUNCTION, "est2 = " + format_number(est2) + " outside [" + format_number(ci2.low) + ", " +
                       format_number(ci2.high) + "]; each interval must contain its estimate");
  }
  const double difference = est1 - est2;
  const double a = est1 - ci1.low, b = ci2.high - est2, c = ci1.high - est1, d = est2 - ci2.low;
  const double below = std::sqrt(a * a + b * b);
  const double above = std::sqrt(c * c + d * d);
  return {difference - below, difference + above};
}

}  // namespace mirage
