// Copyright (c) Mirage developers.
#include "stats/metric_cells.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mirage/sweep.h"
#include "stats/reduction.h"
#include "stats/token_intervals.h"

namespace mirage {
namespace {

using Kind = MetricKind;

// The intervals of one proportion method at one test size by x, computed on first use (an
// interval depends only on (x, n), and replicates and scales repeat x).
class LazyProportionIntervals {
 public:
  LazyProportionIntervals(IntervalMethod method, int64_t n, double confidence, bool table)
      : method_(method), n_(n), confidence_(confidence) {
    if (table) {
      intervals_.resize(size_t(n) + 1);
      known_.assign(size_t(n) + 1, 0);
    }
  }
  Interval at(int64_t x) {
    if (known_.empty()) return proportion_interval(method_, x, n_, confidence_);
    if (!known_[size_t(x)]) {
      intervals_[size_t(x)] = proportion_interval(method_, x, n_, confidence_);
      known_[size_t(x)] = 1;
    }
    return intervals_[size_t(x)];
  }

 private:
  IntervalMethod method_;
  int64_t n_;
  double confidence_;
  std::vector<Interval> intervals_;
  std::vector<uint8_t> known_;
};

}  // namespace

MetricKind metric_kind(const std::string& name, int32_t pass_k) {
  if (name == "exact_match") return Kind::EXACT_MATCH;
  if (name == "token_edit_distance") return Kind::EDIT_DISTANCE;
  if (name == "token_accuracy") return Kind::ACCURACY;
  if (name == "multiple_choice_grade") return Kind::GRADE;
  if (name == "brier_score") return Kind::BRIER;
  if (name == "until_success") return Kind::UNTIL;
  if (pass_k > 0 && name == pass_at_name(pass_k)) return Kind::PASS_AT;
  throw std::invalid_argument("no per-cell values for the metric '" + name + "'");
}

struct MetricCells::State {
  const Results& results;
  Kind kind;
  int32_t pass_k;
  int32_t S, K, T, R;
  IntervalMethod proportion_method = IntervalMethod::WILSON;
  MeanIntervalMethod mean_method = MeanIntervalMethod::WILSON_DEFF;
  MeanIntervalMethod brier_method = MeanIntervalMethod::STUDENT_T;
  // Built on first use, per test size (proportions) or per (length, test size) (token metrics).
  std::vector<std::optional<LazyProportionIntervals>> by_x;
  std::vector<std::optional<TokenMeanIntervals>> token_intervals;
  // The token intervals by (E, E2), a cache of 2^13 slots per (length, test size) (256 KB).
  std::vector<TallyCache<Interval>> token_cache;
  // fill_estimates' estimates by tally, built on first use (empty where a tally does not
  // repeat enough: estimate_table): x / n by x <= n (n L_max for the edit distance) per test
  // size, and the accuracy's accuracy_estimate by E <= n L per (length, test size). The same
  // divisions, each done once instead of once per replicate.
  std::vector<std::optional<std::vector<double>>> quotients;
  std::vector<std::optional<std::vector<double>>> accuracy_estimates;

  State(const Results& r, Kind k, int32_t pk) : results(r), kind(k), pass_k(pk) {
    S = r.num_scales();
    K = r.num_lengths();
    T = r.num_test_sizes();
    R = r.num_replicates();
    const Config& config = r.config;
    if (kind == Kind::EXACT_MATCH || kind == Kind::GRADE) {
      proportion_method = parse_interval_method(config.interval);
      by_x.resize(size_t(T));
    }
    mean_method = parse_mean_interval_method(config.mean_interval);
    // The Brier score is a mean of real-valued scores: the token-count ("-deff") methods do
    // not apply to it, and it takes the Student-t interval then.
    brier_method = mean_method == MeanIntervalMethod::NORMAL ? MeanIntervalMethod::NORMAL
                                                             : MeanIntervalMethod::STUDENT_T;
    if (kind == Kind::EDIT_DISTANCE || kind == Kind::ACCURACY) {
      token_intervals.resize(size_t(K) * T);
      token_cache.assign(size_t(K) * T, TallyCache<Interval>(size_t{1} << 13));
    }
    quotients.resize(size_t(T));
    accuracy_estimates.resize(size_t(K) * T);
  }

  // Whether a table of `entries` estimates by tally is worth building: at most 2^20 entries
  // (8 MB), and no more than the replicates of a length and test size (each entry costs one
  // division, as each replicate would).
  bool estimate_table(int64_t entries) const {
    return entries <= (int64_t{1} << 20) && entries <= int64_t(S) * R;
  }

  // The table of x / n by x = 0..n (0..n L_max for the edit distance) at test size t, or null
  // where none is worth it.
  const double* quotient_table(int32_t t) {
    std::optional<std::vector<double>>& q = quotients[size_t(t)];
    if (!q) {
      q.emplace();
      const int64_t n = results.config.test_sizes[size_t(t)];
      const int64_t top = kind == Kind::EDIT_DISTANCE
                              ? n * int64_t(*std::max_element(results.config.lengths.begin(),
                                                              results.config.lengths.end()))
                              : n;
      if (estimate_table(top + 1)) {
        q->resize(size_t(top) + 1);
        for (int64_t v = 0; v <= top; ++v) (*q)[size_t(v)] = double(v) / double(n);
      }
    }
    return q->empty() ? nullptr : q->data();
  }

  // The accuracy's estimate of a cell with E = errors over n items of length L:
  // accuracy_from_edit of the edit distance's E / n.
  static double accuracy_estimate(int64_t errors, int64_t n, double length) {
    return accuracy_from_edit({double(errors) / double(n), Interval{0.0, 0.0}}, length).estimate;
  }

  // The table of accuracy_estimate by E = 0..n L at (k, t), or null.
  const double* accuracy_table(int32_t k, int32_t t) {
    std::optional<std::vector<double>>& a = accuracy_estimates[size_t(k) * T + t];
    if (!a) {
      a.emplace();
      const int64_t n = results.config.test_sizes[size_t(t)];
      const int32_t L = results.config.lengths[size_t(k)];
      if (estimate_table(n * L + 1)) {
        a->resize(size_t(n * L) + 1);
        for (int64_t e = 0; e <= n * L; ++e) (*a)[size_t(e)] = accuracy_estimate(e, n, L);
      }
    }
    return a->empty() ? nullptr : a->data();
  }

  int32_t test_size_index(size_t cell) const { return int32_t((cell / size_t(R)) % size_t(T)); }
  int32_t length_index(size_t cell) const {
    return int32_t((cell / (size_t(R) * size_t(T))) % size_t(K));
  }

  Interval proportion(int32_t t, int64_t x) {
    std::optional<LazyProportionIntervals>& table = by_x[size_t(t)];
    if (!table) {
      const int64_t n = results.config.test_sizes[size_t(t)];
      // A table by x where x repeats enough to be worth it.
      table.emplace(proportion_method, n, results.config.confidence,
                    n <= (int64_t{1} << 22) && n + 1 <= 8 * int64_t(S) * K * R);
    }
    return table->at(x);
  }

  // A proportion's cell from its count x of n items.
  CellValue proportion_cell(int32_t t, int64_t x, int64_t n) {
    return {double(x) / double(n), proportion(t, x)};
  }
  // The edit distance's cell from its tallies (E, E2) over n items.
  CellValue edit_cell(int32_t k, int32_t t, int64_t errors, int64_t errors_sq, int64_t n) {
    return {double(errors) / double(n), token(k, t, errors, errors_sq)};
  }

  // The interval of the per-item mean of L - k from the integer tallies, inside [0, L]
  // (stats/token_intervals.h).
  Interval token(int32_t k, int32_t t, int64_t errors, int64_t errors_sq) {
    const size_t kt = size_t(k) * T + t;
    return token_cache[kt].get(errors, errors_sq, [&] {
      std::optional<TokenMeanIntervals>& intervals = token_intervals[kt];
      if (!intervals) {
        intervals.emplace(mean_method, results.config.test_sizes[size_t(t)],
                          results.config.lengths[size_t(k)], results.config.confidence);
      }
      return intervals->at(errors, errors_sq);
    });
  }
};

MetricCells::MetricCells(const Results& results, const std::string& name, int32_t pass_k)
    : state_(std::make_unique<State>(results, metric_kind(name, pass_k), pass_k)) {}
MetricCells::~MetricCells() = default;
MetricCells::MetricCells(MetricCells&&) noexcept = default;
MetricCells& MetricCells::operator=(MetricCells&&) noexcept = default;

// The interval functions throw only for impossible tallies (x > n, sums no integers can have),
// which sampling cannot produce.
CellValue MetricCells::at(size_t cell) {
  return at(cell, state_->length_index(cell), state_->test_size_index(cell));
}

CellValue MetricCells::at(size_t cell, int32_t k, int32_t t) {
  State& st = *state_;
  const Config& config = st.results.config;
  const Counts& c = st.results.counts;
  const int64_t n = config.test_sizes[size_t(t)];
  switch (st.kind) {
    case Kind::EXACT_MATCH:
    case Kind::GRADE: {
      const int64_t x = st.kind == Kind::EXACT_MATCH ? c.exact_match[cell] : c.choice_grade[cell];
      return st.proportion_cell(t, x, n);
    }
    case Kind::EDIT_DISTANCE:
    case Kind::ACCURACY: {
      const CellValue edit =
          st.edit_cell(k, t, c.token_errors[cell], c.token_errors_sq[cell], n);
      if (st.kind == Kind::EDIT_DISTANCE) return edit;
      return accuracy_from_edit(edit, config.lengths[size_t(k)]);
    }
    case Kind::BRIER: {
      // Sums of per-item scores and squared scores, each in BRIER_UNIT (sweep.h).
      const long double sum = static_cast<long double>(c.brier[cell]) * BRIER_UNIT;
      const long double sum_sq = static_cast<long double>(c.brier_sq[cell]) * BRIER_UNIT;
      const double estimate = static_cast<double>(sum / n);
      const long double var = n > 1 ? std::max(0.0L, (sum_sq - sum * sum / n) / (n - 1)) : 0.0L;
      const Interval b =
          mean_interval(st.brier_method, estimate,
                        n > 1 ? std::sqrt(static_cast<double>(var)) : NAN, n, config.confidence);
      return {estimate, Interval{b.low - BRIER_ROUNDING, b.high + BRIER_ROUNDING}};
    }
    case Kind::PASS_AT: {
      const int32_t bins = config.attempts + 1;
      const PassAtK v =
          pass_at_k(&c.attempt_histogram[cell * size_t(bins)], bins, st.pass_k, config.confidence);
      return {v.estimate, v.interval};
    }
    case Kind::UNTIL: {
      const UntilSuccess v =
          until_success(n, c.until_solved[cell], c.until_attempts[cell], c.until_attempts_sq[cell],
                        c.until_solved_attempts[cell], config.confidence);
      return {v.estimate, v.interval};
    }
  }
  return {NAN, Interval{NAN, NAN}};
}

template <class Store>
void MetricCells::fill_with(size_t first, int32_t count, int32_t k, int32_t t, Store store) {
  State& st = *state_;
  const Counts& c = st.results.counts;
  const int64_t n = st.results.config.test_sizes[size_t(t)];
  // The kind looked up once for the cells of the default metrics (0.1 s of the metrics phase
  // of the 20,000-replicate sweep against at() per cell); the same cells as at().
  if (st.kind == Kind::EXACT_MATCH || st.kind == Kind::GRADE) {
    const int64_t* x =
        (st.kind == Kind::EXACT_MATCH ? c.exact_match.data() : c.choice_grade.data()) + first;
    for (int32_t r = 0; r < count; ++r) store(r, st.proportion_cell(t, x[r], n));
  } else if (st.kind == Kind::EDIT_DISTANCE || st.kind == Kind::ACCURACY) {
    const int64_t* errors = c.token_errors.data() + first;
    const int64_t* errors_sq = c.token_errors_sq.data() + first;
    const TallyCache<Interval>& cache = st.token_cache[size_t(k) * st.T + t];
    const bool accuracy = st.kind == Kind::ACCURACY;
    const double length = st.results.config.lengths[size_t(k)];
    for (int32_t r = 0; r < count; ++r) {
      // The cache's slots are scattered: ask for the one a few replicates ahead now.
      if (r + TALLY_PREFETCH_AHEAD < count) {
        cache.prefetch(errors[r + TALLY_PREFETCH_AHEAD], errors_sq[r + TALLY_PREFETCH_AHEAD]);
      }
      const CellValue edit = st.edit_cell(k, t, errors[r], errors_sq[r], n);
      store(r, accuracy ? accuracy_from_edit(edit, length) : edit);
    }
  } else {
    for (int32_t r = 0; r < count; ++r) store(r, at(first + size_t(r), k, t));
  }
}

void MetricCells::fill(size_t first, int32_t count, int32_t k, int32_t t, double* estimate,
                       double* low, double* high) {
  fill_with(first, count, k, t, [&](int32_t r, const CellValue& v) {
    estimate[r] = v.estimate;
    low[r] = v.interval.low;
    high[r] = v.interval.high;
  });
}

void MetricCells::fill(size_t first, int32_t count, int32_t k, int32_t t, CellValue* values) {
  fill_with(first, count, k, t, [&](int32_t r, const CellValue& v) { values[r] = v; });
}

void MetricCells::fill_estimates(size_t first, int32_t count, int32_t k, int32_t t, double* out) {
  State& st = *state_;
  const Counts& c = st.results.counts;
  const int64_t n = st.results.config.test_sizes[size_t(t)];
  // The kind looked up once per call, not per cell.
  switch (st.kind) {
    case Kind::EXACT_MATCH:
    case Kind::GRADE:
    case Kind::EDIT_DISTANCE: {
      const int64_t* x = (st.kind == Kind::EXACT_MATCH ? c.exact_match.data()
                          : st.kind == Kind::GRADE     ? c.choice_grade.data()
                                                       : c.token_errors.data()) +
                         first;
      if (const double* q = st.quotient_table(t)) {
        for (int32_t r = 0; r < count; ++r) out[r] = q[x[r]];
      } else {
        for (int32_t r = 0; r < count; ++r) out[r] = double(x[r]) / double(n);
      }
      return;
    }
    case Kind::ACCURACY: {
      const int64_t* errors = c.token_errors.data() + first;
      const double length = st.results.config.lengths[size_t(k)];
      if (const double* a = st.accuracy_table(k, t)) {
        for (int32_t r = 0; r < count; ++r) out[r] = a[errors[r]];
        return;
      }
      for (int32_t r = 0; r < count; ++r) out[r] = State::accuracy_estimate(errors[r], n, length);
      return;
    }
    case Kind::BRIER:
      for (int32_t r = 0; r < count; ++r) {
        out[r] = static_cast<double>(static_cast<long double>(c.brier[first + size_t(r)]) *
                                     BRIER_UNIT / n);
      }
      return;
    default:
      for (int32_t r = 0; r < count; ++r) out[r] = at(first + size_t(r), k, t).estimate;
  }
}

}  // namespace mirage
