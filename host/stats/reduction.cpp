// Copyright (c) Mirage developers.
#include "stats/reduction.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "model/truth.h"
#include "stats/metric_cells.h"
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

using Kind = MetricKind;

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

// m's per-replicate arrays (the first N = num_stored_replicates() of each cell's R; m's arrays
// may come already sized, as compute_metrics sizes them in parallel) and its summaries across
// all R replicates per (s, k, t), from `cells` (one per thread). With `keys` (one integer per
// cell, of which the cell's estimate is a monotone function within a group:
// summarize_replicates_keyed) the quantiles come from a histogram of the keys. With `accuracy`
// (m being token_edit_distance), token_accuracy's arrays and summaries in the same pass: the
// affine image of each edit distance cell (accuracy_from_edit), keyed by the same tallies
// descending.
void fill_cells(const Results& results, MetricResult& m, int32_t pass_k, const int64_t* keys,
                bool descending, MetricResult* accuracy) {
  const int32_t K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates(), N = results.num_stored_replicates();
  const size_t groups = size_t(results.num_scales()) * K * T;
  std::vector<MetricResult*> filled = {&m};
  if (accuracy != nullptr) filled.push_back(accuracy);
  for (MetricResult* f : filled) {
    for (std::vector<double>* v : {&f->estimate, &f->ci_low, &f->ci_high}) {
      if (v->size() != groups * size_t(N)) v->assign(groups * size_t(N), 0.0);
    }
    SummaryArrays& sum = f->summary;
    for (auto* v : {&sum.mean, &sum.sd, &sum.q025, &sum.q500, &sum.q975, &sum.p_zero,
                    &sum.coverage, &sum.mean_ci_width}) {
      v->resize(groups);
    }
  }
  // A group's summaries across its R replicates, and its first N replicates' values kept.
  auto finish = [&](MetricResult& f, int64_t g, const double* estimate, const double* low,
                    const double* high, bool keyed_descending) {
    const size_t base = size_t(g) * R;
    const double expected = f.expected[size_t(g) / T];
    const ReplicateSummary r =
        keys != nullptr ? summarize_replicates_keyed(estimate, low, high, size_t(R), expected,
                                                     &keys[base], keyed_descending)
                        : summarize_replicates(estimate, low, high, size_t(R), expected);
    SummaryArrays& sum = f.summary;
    sum.mean[g] = r.mean;
    sum.sd[g] = r.sd;
    sum.q025[g] = r.q025;
    sum.q500[g] = r.q500;
    sum.q975[g] = r.q975;
    sum.p_zero[g] = r.p_zero;
    sum.coverage[g] = r.coverage;
    sum.mean_ci_width[g] = r.mean_ci_width;
    if (N < R) {
      const size_t kept = size_t(g) * N;
      std::copy_n(estimate, N, &f.estimate[kept]);
      std::copy_n(low, N, &f.ci_low[kept]);
      std::copy_n(high, N, &f.ci_high[kept]);
    }
  };
#pragma omp parallel
  {
    MetricCells cells(results, m.name, pass_k);
    // A cell's R replicates, where the arrays keep fewer of them (the second three for the
    // accuracy).
    std::vector<double> all[6];
    if (N < R) {
      for (std::vector<double>& v : all) v.resize(size_t(R));
    }
#pragma omp for schedule(static)
    for (int64_t g = 0; g < int64_t(groups); ++g) {
      const size_t base = size_t(g) * R;
      double* estimate = N < R ? all[0].data() : &m.estimate[base];
      double* low = N < R ? all[1].data() : &m.ci_low[base];
      double* high = N < R ? all[2].data() : &m.ci_high[base];
      cells.fill(base, R, int32_t((g / T) % K), int32_t(g % T), estimate, low, high);
      finish(m, g, estimate, low, high, descending);
      if (accuracy == nullptr) continue;
      double* a_estimate = N < R ? all[3].data() : &accuracy->estimate[base];
      double* a_low = N < R ? all[4].data() : &accuracy->ci_low[base];
      double* a_high = N < R ? all[5].data() : &accuracy->ci_high[base];
      const double length = results.config.lengths[size_t((g / T) % K)];
      for (int32_t r = 0; r < R; ++r) {
        const CellValue v =
            accuracy_from_edit({estimate[r], Interval{low[r], high[r]}}, length);
        a_estimate[r] = v.estimate;
        a_low[r] = v.interval.low;
        a_high[r] = v.interval.high;
      }
      finish(*accuracy, g, a_estimate, a_low, a_high, !descending);
    }
  }
}

// The metric `name`'s description and analytic values; fill_metrics makes its cells. `m`: its
// per-replicate arrays may come already sized (compute_metrics sizes them in parallel).
MetricResult metric_header(const Results& results, const std::string& name,
                           const TruthTable& truth, MetricResult m) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths();
  const Kind kind = metric_kind(name);
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
  m.expected.resize(size_t(S) * K);
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) m.expected[size_t(s) * K + k] = truth.value(kind, s, k);
  }
  return m;
}

// The cells of the metrics of metric_names (headers made): token_accuracy with the edit
// distance, in its pass.
void fill_metrics(const Results& results, std::vector<MetricResult>& metrics) {
  MetricResult* accuracy = nullptr;
  bool edit = false;
  for (MetricResult& m : metrics) {
    if (metric_kind(m.name) == Kind::ACCURACY) accuracy = &m;
    edit = edit || metric_kind(m.name) == Kind::EDIT_DISTANCE;
  }
  if (!edit) accuracy = nullptr;  // then made on its own
  const Counts& c = results.counts;
  for (MetricResult& m : metrics) {
    const Kind kind = metric_kind(m.name);
    // The estimates are monotone in the integer tallies: x / n rises with x, errors / n with
    // errors, 1 - errors / (n L) falls with them (correctly rounded operations are monotone).
    const int64_t* keys = kind == Kind::EXACT_MATCH ? c.exact_match.data()
                          : kind == Kind::GRADE     ? c.choice_grade.data()
                          : kind == Kind::BRIER     ? nullptr
                                                    : c.token_errors.data();
    if (kind == Kind::ACCURACY && accuracy != nullptr) continue;  // with the edit distance
    fill_cells(results, m, 0, keys, kind == Kind::ACCURACY,
               kind == Kind::EDIT_DISTANCE ? accuracy : nullptr);
  }
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
  fill_cells(results, m, pass_k, nullptr, false, nullptr);
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
  fill_cells(results, m, 0, nullptr, false, nullptr);
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
  // Exact match at every step of every replicate: from its arrays, or computed again for the
  // replicates they do not keep (--keep-replicates).
  const bool every = holds_every_replicate(results, exact);
#pragma omp parallel
  {
    MetricCells cells(results, exact.name);
    auto value = [&](size_t cell) {
      if (!every) return cells.at(cell);
      return CellValue{exact.estimate[cell], Interval{exact.ci_low[cell], exact.ci_high[cell]}};
    };
#pragma omp for schedule(static)
    for (int64_t sk = 0; sk < int64_t(S) * K; ++sk) {
      const double truth = exact.expected[size_t(sk)];
      std::vector<int64_t> used(static_cast<size_t>(R));
      int64_t stopped = 0, covered = 0, covered_stopped = 0, positive = 0;
      double relative = 0.0;
      for (int32_t r = 0; r < R; ++r) {
        int32_t t = T - 1;
        bool stop = false;
        CellValue at_t{};  // at step t: the stopping step, else the last
        for (int32_t j = 0; j < T; ++j) {
          const CellValue v = value((size_t(sk) * T + j) * R + r);
          at_t = v;
          if (v.estimate > 0.0 && (v.interval.high - v.interval.low) / 2.0 <= W * v.estimate) {
            t = j;
            stop = true;
            break;
          }
        }
        const size_t to = size_t(sk) * R + r;
        const int64_t n = config.test_sizes[size_t(t)];
        a.items_used[to] = n;
        a.draws_used[to] = n * max_length;
        a.stopped[to] = stop ? 1 : 0;
        a.estimate[to] = at_t.estimate;
        a.ci_low[to] = at_t.interval.low;
        a.ci_high[to] = at_t.interval.high;
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
  // Every replicate's values are computed; the arrays keep those the file stores.
  const size_t kept = size_t(results.num_scales()) * results.num_lengths() *
                      results.num_test_sizes() * results.num_stored_replicates();
  std::vector<MetricResult> made(names.size());
  ParallelArrays arrays;
  for (MetricResult& m : made) {
    for (std::vector<double>* v : {&m.estimate, &m.ci_low, &m.ci_high}) arrays.assign(v, kept, 0.0);
  }
  arrays.run();
  for (size_t i = 0; i < names.size(); ++i) {
    results.metrics.push_back(metric_header(results, names[i], truth, std::move(made[i])));
  }
  fill_metrics(results, results.metrics);
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
