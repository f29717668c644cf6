// Copyright (c) Mirage developers.
#include "stats/reduction.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "model/truth.h"
#include "stats/parallel_arrays.h"
#include "stats/statistics.h"
#include "stats/token_intervals.h"

namespace mirage {

std::vector<std::string> metric_names(const Config& config) {
  std::vector<std::string> names = {"exact_match", "token_edit_distance", "token_accuracy"};
  if (config.task == "multiple-choice") {
    names.push_back("multiple_choice_grade");
    names.push_back("brier_score");
  }
  return names;
}

double expected_value(const ModelTable& model, const std::string& metric, int32_t scale,
                      int32_t length) {
  const MetricTruth truth =
      metric_truth(model.p_token[size_t(scale)], length, model.difficulty, model.choices);
  if (metric == "exact_match") return truth.exact_match;
  if (metric == "token_edit_distance") return truth.token_edit_distance;
  if (metric == "token_accuracy") return truth.token_accuracy;
  if (metric == "multiple_choice_grade") return truth.multiple_choice_grade;
  if (metric == "brier_score") return truth.brier_score;
  throw std::invalid_argument("unknown metric '" + metric + "'");
}

namespace {

enum class Kind { EXACT_MATCH, EDIT_DISTANCE, ACCURACY, GRADE, BRIER };

Kind kind_of(const std::string& name) {
  if (name == "exact_match") return Kind::EXACT_MATCH;
  if (name == "token_edit_distance") return Kind::EDIT_DISTANCE;
  if (name == "token_accuracy") return Kind::ACCURACY;
  if (name == "multiple_choice_grade") return Kind::GRADE;
  return Kind::BRIER;
}

// The analytic values of every metric per (scale, length), computed once (with difficulty
// each is a quadrature).
struct TruthTable {
  int32_t num_lengths = 0;
  std::vector<MetricTruth> cells;  // [S][K]
  double value(Kind kind, int32_t s, int32_t k) const {
    const MetricTruth& t = cells[size_t(s) * num_lengths + k];
    switch (kind) {
      case Kind::EXACT_MATCH:
        return t.exact_match;
      case Kind::EDIT_DISTANCE:
        return t.token_edit_distance;
      case Kind::ACCURACY:
        return t.token_accuracy;
      case Kind::GRADE:
        return t.multiple_choice_grade;
      default:
        return t.brier_score;
    }
  }
};

TruthTable truth_table(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths();
  TruthTable table;
  table.num_lengths = K;
  table.cells.resize(size_t(S) * K);
  // A quadrature that fails throws; nothing may escape the parallel loop, so the first error is
  // kept and rethrown after it.
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      try {
        table.cells[size_t(s) * K + k] =
            metric_truth(results.model.p_token[size_t(s)], results.config.lengths[size_t(k)],
                         results.model.difficulty, results.model.choices);
      } catch (...) {
#pragma omp critical(mirage_truth_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  return table;
}

// Summaries across replicates per (s, k, t) of m's estimates and intervals. With `keys` (one
// integer per cell, of which the cell's estimate is a monotone function within a group:
// summarize_replicates_keyed) the quantiles come from a histogram of the keys.
void summarize_metric(MetricResult& m, int32_t T, int32_t R, const int64_t* keys = nullptr,
                      bool descending = false) {
  const size_t groups = m.estimate.size() / size_t(R);
  SummaryArrays& sum = m.summary;
  for (auto* v : {&sum.mean, &sum.sd, &sum.q025, &sum.q500, &sum.q975, &sum.p_zero, &sum.coverage,
                  &sum.mean_ci_width}) {
    v->resize(groups);
  }
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < int64_t(groups); ++g) {
    const size_t base = size_t(g) * R;
    const ReplicateSummary r =
        keys != nullptr
            ? summarize_replicates_keyed(&m.estimate[base], &m.ci_low[base], &m.ci_high[base],
                                         size_t(R), m.expected[size_t(g) / T], &keys[base],
                                         descending)
            : summarize_replicates(&m.estimate[base], &m.ci_low[base], &m.ci_high[base],
                                   size_t(R), m.expected[size_t(g) / T]);
    sum.mean[g] = r.mean;
    sum.sd[g] = r.sd;
    sum.q025[g] = r.q025;
    sum.q500[g] = r.q500;
    sum.q975[g] = r.q975;
    sum.p_zero[g] = r.p_zero;
    sum.coverage[g] = r.coverage;
    sum.mean_ci_width[g] = r.mean_ci_width;
  }
}

// The intervals of one proportion method at one test size by x, computed on first use (an
// interval depends only on (x, n), and replicates and scales repeat x); one per thread.
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

// `edit`: the token_edit_distance metric already made, whose estimates and intervals
// token_accuracy maps (the same arithmetic as computing them again). `m`: its per-replicate
// arrays may come already sized (compute_metrics sizes them in parallel).
MetricResult make_metric(const Results& results, const std::string& name, const TruthTable& truth,
                         const MetricResult* edit, MetricResult m) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const size_t cells = size_t(S) * K * T * R;
  const Kind kind = kind_of(name);
  const bool proportion = kind == Kind::EXACT_MATCH || kind == Kind::GRADE;
  m.name = name;
  // The Brier score is a mean of per-item scores, but quadratic in q = p^L, not linear in p.
  m.kind = proportion ? "nonlinear" : kind == Kind::BRIER ? "quadratic" : "linear";
  // The Brier score is a mean of real-valued scores: the token-count ("-deff") methods do not
  // apply to it, and it takes the Student-t interval then.
  const MeanIntervalMethod mean_method = parse_mean_interval_method(config.mean_interval);
  const MeanIntervalMethod brier_method =
      mean_method == MeanIntervalMethod::NORMAL ? MeanIntervalMethod::NORMAL
                                                : MeanIntervalMethod::STUDENT_T;
  m.interval = proportion          ? config.interval
               : kind == Kind::BRIER ? to_string(brier_method)
                                     : config.mean_interval;
  m.confidence = config.confidence;
  m.estimate.resize(cells);
  m.ci_low.resize(cells);
  m.ci_high.resize(cells);
  m.expected.resize(size_t(S) * K);
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) m.expected[size_t(s) * K + k] = truth.value(kind, s, k);
  }
  const IntervalMethod proportion_method = parse_interval_method(config.interval);
  const Counts& c = results.counts;
  // The token metrics' interval per (length, test size), arguments checked once.
  std::vector<TokenMeanIntervals> token_intervals;
  if (kind == Kind::EDIT_DISTANCE || kind == Kind::ACCURACY) {
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t t = 0; t < T; ++t) {
        token_intervals.emplace_back(mean_method, config.test_sizes[size_t(t)],
                                     config.lengths[size_t(k)], config.confidence);
      }
    }
  }
  const bool from_edit = kind == Kind::ACCURACY && edit != nullptr &&
                         edit->estimate.size() == cells && edit->ci_low.size() == cells &&
                         edit->ci_high.size() == cells;
  const int64_t groups = int64_t(S) * K * T;
  // The interval functions throw only for impossible tallies (x > n, sums no integers can
  // have), which sampling cannot produce; nothing may escape the parallel loop.
#pragma omp parallel
  {
    // Proportion intervals by x per test size, where x repeats enough to be worth a table.
    std::vector<LazyProportionIntervals> by_x;
    if (kind == Kind::EXACT_MATCH || kind == Kind::GRADE) {
      for (int32_t t = 0; t < T; ++t) {
        const int64_t n = config.test_sizes[size_t(t)];
        by_x.emplace_back(proportion_method, n, config.confidence,
                          n <= (int64_t{1} << 22) && n + 1 <= 8 * int64_t(S) * K * R);
      }
    }
    // The token metrics' intervals by (E, E2) per (length, test size), at most 2^12 of each
    // (a table of 256 KB) per thread: a thread keeps all of its memos until the loop ends.
    std::vector<TallyMemo<Interval>> token_memo(token_intervals.size(),
                                                TallyMemo<Interval>(size_t{1} << 12));
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
      const int32_t t = int32_t(g % T);
      const int32_t k = int32_t((g / T) % K);
      const int64_t n = config.test_sizes[t];
      const double length = config.lengths[k];
      for (int64_t cell = g * R; cell < (g + 1) * R; ++cell) {
        Interval ci{};
        double estimate = 0.0;
        switch (kind) {
          case Kind::EXACT_MATCH:
          case Kind::GRADE: {
            const int64_t x =
                kind == Kind::EXACT_MATCH ? c.exact_match[cell] : c.choice_grade[cell];
            estimate = double(x) / double(n);
            ci = by_x[size_t(t)].at(x);
            break;
          }
          case Kind::EDIT_DISTANCE:
          case Kind::ACCURACY: {
            // The interval of the per-item mean of L - k from the integer tallies, inside
            // [0, L] (stats/token_intervals.h).
            const int64_t errors = c.token_errors[cell];
            const int64_t errors_sq = c.token_errors_sq[cell];
            const size_t kt = size_t(k) * T + t;
            const Interval d =
                from_edit ? Interval{edit->ci_low[cell], edit->ci_high[cell]}
                          : token_memo[kt].get(errors, errors_sq, [&] {
                              return token_intervals[kt].at(errors, errors_sq);
                            });
            const double mean = from_edit ? edit->estimate[cell] : double(errors) / double(n);
            if (kind == Kind::EDIT_DISTANCE) {
              estimate = mean;
              ci = d;
            } else {
              // Per-item accuracy k/L = 1 - errors/L: an affine map of the edit distance.
              estimate = 1.0 - mean / length;
              ci = Interval{1.0 - d.high / length, 1.0 - d.low / length};
            }
            break;
          }
          case Kind::BRIER: {
            // Sums of per-item scores and squared scores, each in BRIER_UNIT (sweep.h).
            const long double sum = static_cast<long double>(c.brier[cell]) * BRIER_UNIT;
            const long double sum_sq = static_cast<long double>(c.brier_sq[cell]) * BRIER_UNIT;
            estimate = static_cast<double>(sum / n);
            const long double var =
                n > 1 ? std::max(0.0L, (sum_sq - sum * sum / n) / (n - 1)) : 0.0L;
            const Interval b = mean_interval(brier_method, estimate,
                                             n > 1 ? std::sqrt(static_cast<double>(var)) : NAN,
                                             n, config.confidence);
            ci = Interval{b.low - BRIER_ROUNDING, b.high + BRIER_ROUNDING};
            break;
          }
        }
        m.estimate[cell] = estimate;
        m.ci_low[cell] = ci.low;
        m.ci_high[cell] = ci.high;
      }
    }
  }
  // The estimates are monotone in the integer tallies: x / n rises with x, errors / n with
  // errors, 1 - errors / (n L) falls with them (correctly rounded operations are monotone).
  const int64_t* keys = kind == Kind::EXACT_MATCH  ? c.exact_match.data()
                        : kind == Kind::GRADE      ? c.choice_grade.data()
                        : kind == Kind::BRIER      ? nullptr
                                                   : c.token_errors.data();
  summarize_metric(m, T, R, keys, kind == Kind::ACCURACY);
  return m;
}



// pass@k (docs/DESIGN.md §4.1, §5.2) from the histogram of correct attempts of each cell.
MetricResult make_pass_at_metric(const Results& results, int32_t pass_k) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const size_t cells = size_t(S) * K * T * R;
  const int32_t bins = config.attempts + 1;
  MetricResult m;
  m.name = pass_at_name(pass_k);
  m.kind = "nonlinear";
  m.interval = "wilson-deff";
  m.confidence = config.confidence;
  m.k = pass_k;
  m.estimate.resize(cells);
  m.ci_low.resize(cells);
  m.ci_high.resize(cells);
  m.expected.resize(size_t(S) * K);
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      try {
        m.expected[size_t(s) * K + k] =
            pass_at_k_probability(results.model.p_token[size_t(s)], config.lengths[size_t(k)],
                                  pass_k, results.model.difficulty);
      } catch (...) {
#pragma omp critical(mirage_truth_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  const std::vector<int64_t>& histogram = results.counts.attempt_histogram;
  if (histogram.size() != cells * size_t(bins)) {
    throw std::runtime_error("pass@k: the histogram of correct attempts has " +
                             std::to_string(histogram.size()) + " counts, expected " +
                             std::to_string(cells * size_t(bins)));
  }
#pragma omp parallel for schedule(static)
  for (int64_t cell = 0; cell < int64_t(cells); ++cell) {
    const PassAtK v = pass_at_k(&histogram[size_t(cell) * bins], bins, pass_k, config.confidence);
    m.estimate[size_t(cell)] = v.estimate;
    m.ci_low[size_t(cell)] = v.interval.low;
    m.ci_high[size_t(cell)] = v.interval.high;
  }
  summarize_metric(m, T, R);
  return m;
}

// Sampling until success (docs/DESIGN.md §4.1, §5.3) from the four until tallies of each cell.
MetricResult make_until_metric(const Results& results) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const size_t cells = size_t(S) * K * T * R;
  MetricResult m;
  m.name = "until_success";
  m.kind = "nonlinear";
  m.interval = "wilson-robust";
  m.confidence = config.confidence;
  m.estimate.resize(cells);
  m.ci_low.resize(cells);
  m.ci_high.resize(cells);
  m.expected.resize(size_t(S) * K);
  m.pooled_limit.resize(size_t(S) * K);
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      try {
        const double p = results.model.p_token[size_t(s)];
        const int32_t L = config.lengths[size_t(k)];
        m.expected[size_t(s) * K + k] = exact_match_probability(p, L, results.model.difficulty);
        m.pooled_limit[size_t(s) * K + k] =
            pass_at_k_probability(p, L, config.budget, results.model.difficulty) /
            until_success_attempts(p, L, config.budget, results.model.difficulty);
      } catch (...) {
#pragma omp critical(mirage_truth_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  const Counts& c = results.counts;
  if (c.until_solved.size() != cells || c.until_attempts.size() != cells ||
      c.until_attempts_sq.size() != cells || c.until_solved_attempts.size() != cells) {
    throw std::runtime_error("until_success: the tallies of sampling until success have " +
                             std::to_string(c.until_solved.size()) + " cells, expected " +
                             std::to_string(cells));
  }
#pragma omp parallel for schedule(static)
  for (int64_t cell = 0; cell < int64_t(cells); ++cell) {
    const int32_t t = int32_t((cell / R) % T);
    const UntilSuccess v = until_success(
        config.test_sizes[size_t(t)], c.until_solved[size_t(cell)], c.until_attempts[size_t(cell)],
        c.until_attempts_sq[size_t(cell)], c.until_solved_attempts[size_t(cell)],
        config.confidence);
    m.estimate[size_t(cell)] = v.estimate;
    m.ci_low[size_t(cell)] = v.interval.low;
    m.ci_high[size_t(cell)] = v.interval.high;
  }
  summarize_metric(m, T, R);
  return m;
}

// Adaptive test-set size (docs/DESIGN.md §5.11) from the exact-match estimates and intervals
// already computed at every step: the first step that meets the width, per (s, k, r).
Adaptive make_adaptive(const Results& results, const MetricResult& exact) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const double W = config.target_relative_width;
  const int64_t max_length = config.lengths.back();
  const size_t cells = size_t(S) * K * R;
  Adaptive a;
  a.items_used.resize(cells);
  a.draws_used.resize(cells);
  a.stopped.resize(cells);
  a.estimate.resize(cells);
  a.ci_low.resize(cells);
  a.ci_high.resize(cells);
  a.draws_sampled = config.test_sizes.back() * max_length;
  for (auto* v : {&a.median_items_used, &a.fraction_stopped, &a.coverage, &a.coverage_all,
                  &a.mean_relative_width}) {
    v->resize(size_t(S) * K);
  }
#pragma omp parallel for schedule(static)
  for (int64_t sk = 0; sk < int64_t(S) * K; ++sk) {
    const double truth = exact.expected[size_t(sk)];
    std::vector<int64_t> used(static_cast<size_t>(R));
    int64_t stopped = 0, covered = 0, covered_stopped = 0, positive = 0;
    double relative = 0.0;
    for (int32_t r = 0; r < R; ++r) {
      int32_t t = T - 1;
      bool stop = false;
      for (int32_t j = 0; j < T; ++j) {
        const size_t cell = (size_t(sk) * T + j) * R + r;
        const double est = exact.estimate[cell];
        if (est > 0.0 && (exact.ci_high[cell] - exact.ci_low[cell]) / 2.0 <= W * est) {
          t = j;
          stop = true;
          break;
        }
      }
      const size_t from = (size_t(sk) * T + t) * R + r, to = size_t(sk) * R + r;
      const int64_t n = config.test_sizes[size_t(t)];
      a.items_used[to] = n;
      a.draws_used[to] = n * max_length;
      a.stopped[to] = stop ? 1 : 0;
      a.estimate[to] = exact.estimate[from];
      a.ci_low[to] = exact.ci_low[from];
      a.ci_high[to] = exact.ci_high[from];
      used[size_t(r)] = n;
      const bool in = a.ci_low[to] <= truth && truth <= a.ci_high[to];
      stopped += stop ? 1 : 0;
      covered += in ? 1 : 0;
      covered_stopped += (stop && in) ? 1 : 0;
      if (a.estimate[to] > 0.0) {
        ++positive;
        relative += (a.ci_high[to] - a.ci_low[to]) / 2.0 / a.estimate[to];
      }
    }
    std::sort(used.begin(), used.end());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    a.median_items_used[size_t(sk)] =
        R % 2 ? double(used[size_t(R / 2)])
              : (double(used[size_t(R / 2 - 1)]) + double(used[size_t(R / 2)])) / 2.0;
    a.fraction_stopped[size_t(sk)] = double(stopped) / R;
    a.coverage[size_t(sk)] = stopped > 0 ? double(covered_stopped) / double(stopped) : nan;
    a.coverage_all[size_t(sk)] = double(covered) / R;
    a.mean_relative_width[size_t(sk)] = positive > 0 ? relative / double(positive) : nan;
  }
  return a;
}

}  // namespace

std::string pass_at_name(int32_t k) {
  return "pass_at_" + std::to_string(k);
}

void compute_metrics(Results& results) {
  results.metrics.clear();
  const TruthTable truth = truth_table(results);
  const std::vector<std::string> names = metric_names(results.config);
  // Every metric's per-replicate arrays, sized on all threads at once (stats/parallel_arrays.h).
  const size_t cells = size_t(results.num_scales()) * results.num_lengths() *
                       results.num_test_sizes() * results.num_replicates();
  std::vector<MetricResult> made(names.size());
  ParallelArrays arrays;
  for (MetricResult& m : made) {
    for (std::vector<double>* v : {&m.estimate, &m.ci_low, &m.ci_high}) arrays.assign(v, cells, 0.0);
  }
  arrays.run();
  for (size_t i = 0; i < names.size(); ++i) {
    results.metrics.push_back(make_metric(results, names[i], truth,
                                          results.metric("token_edit_distance"), std::move(made[i])));
  }
  if (results.config.attempts > 1) {
    for (int32_t k : results.config.pass_at) {
      results.metrics.push_back(make_pass_at_metric(results, k));
    }
  }
  if (results.config.until_success) results.metrics.push_back(make_until_metric(results));
  results.adaptive = Adaptive{};
  if (results.config.target_relative_width > 0.0) {
    results.adaptive = make_adaptive(results, results.metrics.front());  // exact_match
  }
}

}  // namespace mirage
