// Copyright (c) Mirage developers.
#include "stats/analysis.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <utility>
#include <unordered_map>

#include "config/presets.h"
#include "mirage/model.h"
#include "model/loss_table.h"
#include "model/truth.h"
#include "stats/metric_cells.h"
#include "stats/parallel_arrays.h"
#include "stats/reduction.h"
#include "stats/statistics.h"
#include "stats/token_intervals.h"

#include <boost/math/distributions/binomial.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

namespace {

// The intervals of one proportion method at one test size, computed on demand and kept:
// an interval depends only on (x, n) and replicates and scales repeat x. Indexed by x directly
// up to DIRECT_LIMIT + 1 values of x, hashed beyond.
class ProportionIntervals {
 public:
  ProportionIntervals(IntervalMethod method, int64_t n, double confidence)
      : method_(method), n_(n), confidence_(confidence) {
    if (n_ <= DIRECT_LIMIT) direct_.resize(size_t(n_) + 1, Interval{NaN, NaN});
  }
  const Interval& at(int64_t x) {
    if (n_ <= DIRECT_LIMIT) {
      Interval& i = direct_[size_t(x)];
      // Every interval of these methods has a finite lower end: NaN marks "not yet computed".
      if (std::isnan(i.low)) i = proportion_interval(method_, x, n_, confidence_);
      return i;
    }
    auto it = cache_.find(x);
    if (it == cache_.end())
      it = cache_.emplace(x, proportion_interval(method_, x, n_, confidence_)).first;
    return it->second;
  }
  int64_t n() const { return n_; }

 private:
  static constexpr int64_t DIRECT_LIMIT = int64_t{1} << 22;
  IntervalMethod method_;
  int64_t n_;
  double confidence_;
  std::vector<Interval> direct_;
  std::unordered_map<int64_t, Interval> cache_;
};

// The slots of the caches of the cheap intervals of one (method, test size, length) in the
// mean comparison (TallyCache: 1 MB of intervals, 1.5 MB of STUDENT_T and NORMAL pairs).
constexpr size_t COMPARISON_CACHE_SLOTS = size_t{1} << 15;

// sum_x P(X = x) [low(x) <= p <= high(x)] for X ~ Binomial(n, p), as exact_binomial_coverage
// (statistics.h) computes it (outward from the mode, stopping once the rest of a tail is below
// 1e-14), with the intervals cached and the pmf by the ratio of successive terms.
double exact_proportion_coverage(ProportionIntervals& ci, double p) {
  const int64_t n = ci.n();
  auto covers = [&](int64_t x) {
    const Interval& i = ci.at(x);
    return i.low <= p && p <= i.high;
  };
  if (!(p > 0.0)) return covers(0) ? 1.0 : 0.0;
  if (!(p < 1.0)) return covers(n) ? 1.0 : 0.0;
  const double nd = double(n), odds = p / (1.0 - p);
  const int64_t mode = std::min<int64_t>(n, std::max<int64_t>(0, int64_t(std::floor((nd + 1.0) * p))));
  const double f_mode =
      boost::math::pdf(boost::math::binomial_distribution<double>(nd, p), double(mode));
  constexpr double TAIL = 1e-14;
  double sum = 0.0, f = f_mode;
  for (int64_t x = mode; x <= n; ++x) {
    if (covers(x)) sum += f;
    const double r = (nd - double(x)) / (double(x) + 1.0) * odds;
    if (r < 1.0 && f * r / (1.0 - r) < TAIL) break;
    f *= r;
  }
  f = f_mode;
  for (int64_t x = mode - 1; x >= 0; --x) {
    const double r = (double(x) + 1.0) / (nd - double(x)) / odds;  // f(x) / f(x + 1)
    f *= r;
    if (covers(x)) sum += f;
    const double next = double(x) / (nd - double(x) + 1.0) / odds;
    if (next < 1.0 && f * next / (1.0 - next) < TAIL) break;
  }
  return std::min(1.0, sum);
}

size_t cell_index(int32_t s, int32_t k, int32_t t, int32_t K, int32_t T) {
  return (size_t(s) * K + k) * T + t;
}

// Exact match: simulated coverage and width of every proportion method from the replicate
// counts, and the exact binomial coverage for test sizes up to EXACT_COVERAGE_MAX_N. The
// comparisons with their arrays sized and NaN; run_proportion_comparisons fills them.
std::vector<IntervalComparison> proportion_comparisons(const Results& results) {
  const size_t groups =
      size_t(results.num_scales()) * results.num_lengths() * results.num_test_sizes();
  const std::vector<IntervalMethod>& methods = all_interval_methods();
  std::vector<IntervalComparison> out(methods.size());
  for (size_t m = 0; m < methods.size(); ++m) {
    out[m].metric = "exact_match";
    out[m].method = to_string(methods[m]);
    out[m].coverage.assign(groups, NaN);
    out[m].mean_ci_width.assign(groups, NaN);
    out[m].exact_coverage.assign(groups, NaN);
  }
  return out;
}

// The tasks of the proportion comparison, one per (method, test size). Called by every thread
// of a parallel region, which share them out (no barrier at the end).
void run_proportion_comparisons(const Results& results, std::vector<IntervalComparison>& out) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const MetricResult* exact = results.metric("exact_match");
  const std::vector<IntervalMethod>& methods = all_interval_methods();
  // The costliest tasks first (the exact and iterative methods, the largest test sizes: they
  // come last in each list), so that no long task starts when the others are done.
#pragma omp for schedule(dynamic, 1) collapse(2) nowait
  for (int64_t mi = 0; mi < int64_t(methods.size()); ++mi) {
    for (int32_t ti = 0; ti < T; ++ti) {
      const int64_t m = int64_t(methods.size()) - 1 - mi;
      const int32_t t = T - 1 - ti;
      const int64_t n = results.config.test_sizes[t];
      ProportionIntervals intervals(methods[size_t(m)], n, results.config.confidence);
      // The metric's own method: the coverage and width of its intervals across the R
      // replicates are its summaries' (the same intervals, by proportion_interval, added in the
      // same order: the same bits).
      const bool own = exact->interval == results.config.interval &&
                       exact->confidence == results.config.confidence &&
                       parse_interval_method(exact->interval) == methods[size_t(m)];
      // A cell's counts by a histogram of its x where the n + 1 values of x are not many more
      // than its replicates (sweeping the histogram costs n + 1 steps per cell), GROUP cells at
      // a time: a cell's histogram increments and its width sum are each a chain of dependent
      // steps, and the chains of GROUP cells overlap.
      constexpr int32_t GROUP = 4;
      const bool tabulate = n + 1 <= 2 * int64_t(R);
      const size_t bins = tabulate ? size_t(n) + 1 : 0;
      std::vector<int32_t> histogram(bins * GROUP);
      std::vector<double> width(bins);  // by x, where some cell of the group has it
      const int32_t cells = S * K;      // (s, k) = (c / K, c % K)
      for (int32_t first = 0; first < cells; first += GROUP) {
        const int32_t count = std::min(GROUP, cells - first);
        const int64_t* x[GROUP];
        double truth[GROUP];
        size_t g[GROUP];
        for (int32_t i = 0; i < GROUP; ++i) {
          // Past the last cell, the last cell again (its results unused).
          const int32_t c = first + std::min(i, count - 1);
          x[i] = &results.counts.exact_match[(size_t(c) * T + t) * R];
          truth[i] = exact->expected[size_t(c)];
          g[i] = cell_index(c / K, c % K, t, K, T);
        }
        if (own) {
          for (int32_t i = 0; i < count; ++i) {
            out[size_t(m)].coverage[g[i]] = exact->summary.coverage[g[i]];
            out[size_t(m)].mean_ci_width[g[i]] = exact->summary.mean_ci_width[g[i]];
          }
        } else {
          CoverageWidthSums sums[GROUP];
          if (tabulate) {
            // The counts by x from a histogram of the replicates; the widths still added one
            // replicate at a time, in order (their sum's bits depend on it).
            std::fill(histogram.begin(), histogram.end(), 0);
            int32_t* h[GROUP];
            for (int32_t i = 0; i < GROUP; ++i) h[i] = &histogram[bins * size_t(i)];
            for (int32_t r = 0; r < R; ++r) {
              for (int32_t i = 0; i < GROUP; ++i) ++h[i][x[i][r]];
            }
            for (int32_t i = 0; i < count; ++i) {
              for (size_t v = 0; v < bins; ++v) {
                if (h[i][v] == 0) continue;
                const Interval& ci = intervals.at(int64_t(v));
                sums[i].add_counts(ci.low, ci.high, truth[i], size_t(h[i][v]));
                width[v] = CoverageWidthSums::width_of(ci.low, ci.high);
              }
            }
            for (int32_t r = 0; r < R; ++r) {
              for (int32_t i = 0; i < GROUP; ++i) sums[i].add_width(width[size_t(x[i][r])]);
            }
          } else {
            for (int32_t i = 0; i < count; ++i) {
              for (int32_t r = 0; r < R; ++r) {
                const Interval& ci = intervals.at(x[i][r]);
                sums[i].add(ci.low, ci.high, truth[i]);
              }
            }
          }
          for (int32_t i = 0; i < count; ++i) {
            const CoverageWidth summary = sums[i].result(size_t(R), truth[i]);
            out[size_t(m)].coverage[g[i]] = summary.coverage;
            out[size_t(m)].mean_ci_width[g[i]] = summary.mean_ci_width;
          }
        }
        if (n <= EXACT_COVERAGE_MAX_N) {
          for (int32_t i = 0; i < count; ++i) {
            out[size_t(m)].exact_coverage[g[i]] = exact_proportion_coverage(intervals, truth[i]);
          }
        }
      }
    }
  }
}

// Token edit distance and token accuracy: simulated coverage and width of every mean method
// from the (E, E2) tallies, and the exact coverage where the distribution of the tallies is
// small enough to enumerate (exact_mean_coverage_feasible, and n L <= EXACT_MEAN_COVERAGE_MAX_NL
// to keep the reduction fast). The comparisons (edit distance for each method, then accuracy
// for each), sized and NaN, and what their tasks share; run_mean_comparisons fills them.
struct MeanComparisons {
  std::vector<IntervalComparison> out;
  std::vector<std::vector<double>> pmf;  //!< [S][K] per-item pmf of correct tokens, where needed
};

MeanComparisons mean_comparisons(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes();
  const Config& config = results.config;
  const std::vector<MeanIntervalMethod>& methods = all_mean_interval_methods();
  const size_t M = methods.size();
  MeanComparisons plan;
  std::vector<IntervalComparison>& out = plan.out;
  out.resize(2 * M);
  for (size_t m = 0; m < M; ++m) {
    for (size_t which = 0; which < 2; ++which) {
      IntervalComparison& c = out[which * M + m];
      c.metric = which == 0 ? "token_edit_distance" : "token_accuracy";
      c.method = to_string(methods[m]);
      c.coverage.assign(size_t(S) * K * T, NaN);
      c.mean_ci_width.assign(size_t(S) * K * T, NaN);
      c.exact_coverage.assign(size_t(S) * K * T, NaN);
    }
  }
  // The per-item distribution of k where an exact coverage will be computed, once per (s, k).
  std::vector<std::vector<double>>& pmf = plan.pmf;
  pmf.resize(size_t(S) * K);
  for (int32_t k = 0; k < K; ++k) {
    const int32_t L = config.lengths[size_t(k)];
    bool wanted = false;
    for (int32_t t = 0; t < T; ++t) {
      const int64_t n = config.test_sizes[size_t(t)];
      wanted = wanted || (n * L <= EXACT_MEAN_COVERAGE_MAX_NL && exact_mean_coverage_feasible(n, L));
    }
    if (!wanted) continue;
    std::exception_ptr error;  // nothing may escape the parallel loop
#pragma omp parallel for schedule(dynamic, 1)
    for (int32_t s = 0; s < S; ++s) {
      try {
        pmf[size_t(s) * K + k] =
            correct_tokens_pmf(results.model.p_token[size_t(s)], L, results.model.difficulty);
      } catch (...) {
#pragma omp critical(mirage_pmf_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  }
  return plan;
}

// The tasks of the mean comparison, one per (method, test size, length). Called by every
// thread of a parallel region, which share them out (no barrier at the end).
void run_mean_comparisons(const Results& results, MeanComparisons& plan) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const Config& config = results.config;
  const MetricResult* edit = results.metric("token_edit_distance");
  const MetricResult* accuracy = results.metric("token_accuracy");
  const std::vector<MeanIntervalMethod>& methods = all_mean_interval_methods();
  const size_t M = methods.size();
  const MeanIntervalMethod configured = parse_mean_interval_method(config.mean_interval);
  const bool pair = configured != MeanIntervalMethod::STUDENT_T &&
                    configured != MeanIntervalMethod::NORMAL &&
                    std::count(methods.begin(), methods.end(), MeanIntervalMethod::STUDENT_T) == 1 &&
                    std::count(methods.begin(), methods.end(), MeanIntervalMethod::NORMAL) == 1;
  const size_t normal_index = size_t(
      std::find(methods.begin(), methods.end(), MeanIntervalMethod::NORMAL) - methods.begin());
  std::vector<IntervalComparison>& out = plan.out;
  const std::vector<std::vector<double>>& pmf = plan.pmf;
  // The costliest tasks first (clopper-pearson-deff, the largest test sizes and lengths: they
  // come last in each list), so that no long task starts when the others are done.
#pragma omp for schedule(dynamic, 1) collapse(3) nowait
  for (int64_t mi = 0; mi < int64_t(M); ++mi) {
    for (int32_t ti = 0; ti < T; ++ti) {
      for (int32_t ki = 0; ki < K; ++ki) {
        const int64_t m = int64_t(M) - 1 - mi;
        const int32_t t = T - 1 - ti;
        const int32_t k = K - 1 - ki;
        const MeanIntervalMethod method = methods[size_t(m)];
        const int64_t n = config.test_sizes[size_t(t)];
        const int32_t L = config.lengths[size_t(k)];
        const double Ld = L;
        const bool exact_here =
            n * L <= EXACT_MEAN_COVERAGE_MAX_NL && exact_mean_coverage_feasible(n, L);
        MemoTokenIntervals intervals(method, n, L, config.confidence, COMPARISON_CACHE_SLOTS);
        // STUDENT_T and NORMAL share their moments: the STUDENT_T task makes both (unless one
        // of them is the metrics' own, whose coverage and width are their summaries').
        const bool paired_first = pair && method == MeanIntervalMethod::STUDENT_T;
        const bool paired_second = pair && method == MeanIntervalMethod::NORMAL;
        const TokenMomentIntervals moment_intervals(n, L, config.confidence);
        TallyCache<std::pair<Interval, Interval>> moment_cache(COMPARISON_CACHE_SLOTS);
        // The metrics' own method: the coverage and width of their intervals across the R
        // replicates are their summaries' (interval_summary adds the same intervals - by the
        // same TokenMeanIntervals::at and accuracy_from_edit - in the same order as
        // CoverageWidthSums, so the same bits).
        const bool own = method == configured && edit->interval == config.mean_interval &&
                         accuracy->interval == config.mean_interval &&
                         edit->confidence == config.confidence &&
                         accuracy->confidence == config.confidence;
        for (int32_t s = 0; s < S; ++s) {
          const size_t first = ((size_t(s) * K + k) * T + t) * R;
          const int64_t* errors = &results.counts.token_errors[first];
          const int64_t* errors_sq = &results.counts.token_errors_sq[first];
          const size_t g = cell_index(s, k, t, K, T);
          const double truth_e = edit->expected[size_t(s) * K + k];
          const double truth_a = accuracy->expected[size_t(s) * K + k];
          if (paired_second) {
            // Its coverage and width come from the STUDENT_T task (the same moments).
          } else if (paired_first) {
            CoverageWidthSums edit_t, accuracy_t, edit_z, accuracy_z;
            for (int32_t r = 0; r < R; ++r) {
              if (r + TALLY_PREFETCH_AHEAD < R) {
                moment_cache.prefetch(errors[r + TALLY_PREFETCH_AHEAD],
                                      errors_sq[r + TALLY_PREFETCH_AHEAD]);
              }
              const auto [dt, dz] = moment_cache.get(errors[r], errors_sq[r], [&] {
                std::pair<Interval, Interval> both;
                moment_intervals.at(errors[r], errors_sq[r], &both.first, &both.second);
                return both;
              });
              edit_t.add(dt.low, dt.high, truth_e);
              accuracy_t.add(1.0 - dt.high / Ld, 1.0 - dt.low / Ld, truth_a);
              edit_z.add(dz.low, dz.high, truth_e);
              accuracy_z.add(1.0 - dz.high / Ld, 1.0 - dz.low / Ld, truth_a);
            }
            const std::pair<size_t, const CoverageWidthSums*> parts[4] = {
                {size_t(m), &edit_t},
                {M + size_t(m), &accuracy_t},
                {normal_index, &edit_z},
                {M + normal_index, &accuracy_z}};
            for (int i = 0; i < 4; ++i) {
              const CoverageWidth cw =
                  parts[i].second->result(size_t(R), i % 2 == 0 ? truth_e : truth_a);
              out[parts[i].first].coverage[g] = cw.coverage;
              out[parts[i].first].mean_ci_width[g] = cw.mean_ci_width;
            }
          } else {
            IntervalComparison& ce = out[size_t(m)];
            IntervalComparison& ca = out[M + size_t(m)];
            if (own) {
              ce.coverage[g] = edit->summary.coverage[g];
              ce.mean_ci_width[g] = edit->summary.mean_ci_width[g];
              ca.coverage[g] = accuracy->summary.coverage[g];
              ca.mean_ci_width[g] = accuracy->summary.mean_ci_width[g];
            } else {
              CoverageWidthSums edit_sums, accuracy_sums;
              for (int32_t r = 0; r < R; ++r) {
                if (r + TALLY_PREFETCH_AHEAD < R) {
                  intervals.prefetch(errors[r + TALLY_PREFETCH_AHEAD],
                                     errors_sq[r + TALLY_PREFETCH_AHEAD]);
                }
                const Interval d = intervals.at(errors[r], errors_sq[r]);
                edit_sums.add(d.low, d.high, truth_e);
                accuracy_sums.add(1.0 - d.high / Ld, 1.0 - d.low / Ld, truth_a);
              }
              const CoverageWidth se = edit_sums.result(size_t(R), truth_e);
              const CoverageWidth sa = accuracy_sums.result(size_t(R), truth_a);
              ce.coverage[g] = se.coverage;
              ce.mean_ci_width[g] = se.mean_ci_width;
              ca.coverage[g] = sa.coverage;
              ca.mean_ci_width[g] = sa.mean_ci_width;
            }
          }
          if (exact_here) {
            // The accuracy interval is the affine image of the edit-distance interval, and its
            // truth the image of the edit distance's: the same exact coverage.
            const double exact = exact_mean_coverage(method, pmf[size_t(s) * K + k].data(), L, n,
                                                     config.confidence, truth_e);
            out[size_t(m)].exact_coverage[g] = exact;
            out[M + size_t(m)].exact_coverage[g] = exact;
          }
        }
      }
    }
  }
}

}  // namespace

std::vector<IntervalComparison> compare_intervals(const Results& results) {
  std::vector<IntervalComparison> out = proportion_comparisons(results);
  const bool means = results.metric("token_edit_distance") && results.metric("token_accuracy");
  MeanComparisons mean = means ? mean_comparisons(results) : MeanComparisons{};
  // Both lists of tasks in one parallel region: a thread done with its share of the mean
  // comparison (whose clopper-pearson-deff tasks are the longest) goes on to the proportion
  // tasks, which fill the tail, instead of waiting for the others at a barrier.
#pragma omp parallel
  {
    if (means) run_mean_comparisons(results, mean);
    run_proportion_comparisons(results, out);
  }
  for (IntervalComparison& c : mean.out) out.push_back(std::move(c));
  return out;
}

namespace {

// The arguments of mover_difference for one replicate: the upper scale's estimate and
// interval, then the lower one's.
struct MoverInputs {
  double est1;
  Interval ci1;
  double est2;
  Interval ci2;
};

// mover_difference of two replicates at once: with SSE2 (every x86-64 CPU) in two lanes - the
// same correctly rounded operations in the same order, so the same bits - where both are
// plain (no NaN, each interval contains its estimate), else one at a time (NaN, or
// mover_difference's refusal). Always inlined: as a call its inputs and outputs went through
// the stack, and the caller's reads of the outputs waited on their stores (the jumps took
// 0.168 s instead of 0.137 s on the 20,000-replicate sweep, one thread).
[[gnu::always_inline]] inline void mover_differences(const MoverInputs& a, const MoverInputs& b,
                                                     Interval* out) {
#if defined(__SSE2__)
  auto plain = [](const MoverInputs& in) {  // false for any NaN, as a comparison with NaN is
    return in.ci1.low <= in.est1 && in.est1 <= in.ci1.high && in.ci2.low <= in.est2 &&
           in.est2 <= in.ci2.high;
  };
  if (plain(a) && plain(b)) {
    const __m128d est1 = _mm_set_pd(b.est1, a.est1), est2 = _mm_set_pd(b.est2, a.est2);
    const __m128d low1 = _mm_set_pd(b.ci1.low, a.ci1.low);
    const __m128d high1 = _mm_set_pd(b.ci1.high, a.ci1.high);
    const __m128d low2 = _mm_set_pd(b.ci2.low, a.ci2.low);
    const __m128d high2 = _mm_set_pd(b.ci2.high, a.ci2.high);
    const __m128d difference = _mm_sub_pd(est1, est2);
    const __m128d da = _mm_sub_pd(est1, low1), db = _mm_sub_pd(high2, est2);
    const __m128d dc = _mm_sub_pd(high1, est1), dd = _mm_sub_pd(est2, low2);
    const __m128d below = _mm_sqrt_pd(_mm_add_pd(_mm_mul_pd(da, da), _mm_mul_pd(db, db)));
    const __m128d above = _mm_sqrt_pd(_mm_add_pd(_mm_mul_pd(dc, dc), _mm_mul_pd(dd, dd)));
    double low[2], high[2];
    _mm_storeu_pd(low, _mm_sub_pd(difference, below));
    _mm_storeu_pd(high, _mm_add_pd(difference, above));
    out[0] = Interval{low[0], high[0]};
    out[1] = Interval{low[1], high[1]};
    return;
  }
#endif
  out[0] = mover_difference(a.est1, a.ci1, a.est2, a.ci2);
  out[1] = mover_difference(b.est1, b.ci1, b.est2, b.ci2);
}

// Fills pair g = (s, s + 1) at (k, t) of `j` from the MOVER difference interval of each
// replicate (inputs(r)): the first N replicates' intervals and significance, and across all R
// the fraction significant and the coverage of the true difference.
template <class Inputs>
void finish_pair(Jumps& j, int64_t g, int32_t K, int32_t T, int32_t R, int32_t N,
                 Inputs inputs) {
  const int32_t k = int32_t((g / T) % K);
  const int32_t s = int32_t(g / (int64_t(T) * K));
  const double truth = j.expected[size_t(s) * K + k];
  int64_t defined = 0, excluding = 0, covering = 0;
  auto record = [&](int32_t r, const Interval& d) {
    const size_t out_cell = size_t(g) * N + r;
    if (r < N) {
      j.low[out_cell] = d.low;
      j.high[out_cell] = d.high;
    }
    if (std::isnan(d.low) || std::isnan(d.high)) return;
    ++defined;
    // Without branches: whether a replicate's interval excludes 0 is as random as the
    // replicates (bitwise | and & evaluate both comparisons, which no NaN reaches here).
    const bool excludes = (d.low > 0.0) | (d.high < 0.0);
    if (r < N) j.significant[out_cell] = excludes ? 1 : 0;
    excluding += excludes;
    covering += (d.low <= truth) & (truth <= d.high);
  };
  int32_t r = 0;
  for (; r + 1 < R; r += 2) {
    Interval d[2];
    mover_differences(inputs(r), inputs(r + 1), d);
    record(r, d[0]);
    record(r + 1, d[1]);
  }
  if (r < R) {
    const MoverInputs in = inputs(r);
    record(r, mover_difference(in.est1, in.ci1, in.est2, in.ci2));
  }
  // Replicates with an undefined interval count as not significant (and not covering); NaN
  // only when no replicate has one.
  if (defined > 0) {
    j.fraction_significant[size_t(g)] = double(excluding) / double(R);
    if (!std::isnan(truth)) j.coverage[size_t(g)] = double(covering) / double(R);
  }
}

}  // namespace

std::vector<Jumps> jump_intervals(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const Config& config = results.config;
  std::vector<Jumps> out;
  if (S < 2) return out;
  const size_t pairs = size_t(S - 1) * K * T;
  // The per-replicate intervals are kept for the replicates the file stores (the first N).
  const int32_t N = results.num_stored_replicates();
  const size_t metrics = results.metrics.size();
  // Every metric's per-replicate arrays, sized on all threads at once (stats/parallel_arrays.h).
  std::vector<Jumps> made(metrics);
  ParallelArrays arrays;
  for (Jumps& j : made) {
    arrays.assign(&j.low, pairs * N, NaN);
    arrays.assign(&j.high, pairs * N, NaN);
    arrays.assign(&j.significant, pairs * N, uint8_t{0});
  }
  arrays.run();
  for (size_t index = 0; index < metrics; ++index) {
    const MetricResult& m = results.metrics[index];
    const bool proportion = m.name == "exact_match" || m.name == "multiple_choice_grade";
    Jumps& j = made[index];
    j.metric = m.name;
    j.method = proportion ? "newcombe" : "mover-" + m.interval;
    j.fraction_significant.assign(pairs, NaN);
    j.coverage.assign(pairs, NaN);
    j.expected.assign(size_t(S - 1) * K, NaN);
    for (int32_t s = 0; s + 1 < S; ++s) {
      for (int32_t k = 0; k < K; ++k) {
        j.expected[size_t(s) * K + k] =
            m.expected[size_t(s + 1) * K + k] - m.expected[size_t(s) * K + k];
      }
    }
  }
  // Where the arrays keep the first replicates only (--keep-replicates) the token accuracy's
  // values are the affine image of the edit distance's (MetricCells' arithmetic): its jumps are
  // made from the edit distance's values, computed once for both.
  size_t edit_index = metrics, accuracy_index = metrics;
  for (size_t index = 0; index < metrics; ++index) {
    const MetricResult& m = results.metrics[index];
    if (holds_every_replicate(results, m)) continue;
    if (m.name == "token_edit_distance") edit_index = index;
    if (m.name == "token_accuracy") accuracy_index = index;
  }
  const bool share = edit_index < metrics && accuracy_index < metrics;
  for (size_t index = 0; index < metrics; ++index) {
    const MetricResult& m = results.metrics[index];
    Jumps& j = made[index];
    const std::vector<int64_t>* counts =
        m.name == "exact_match" ? &results.counts.exact_match
        : m.name == "multiple_choice_grade" ? &results.counts.choice_grade
                                            : nullptr;
    if (counts != nullptr || holds_every_replicate(results, m)) {
      // Newcombe's interval is the MOVER difference of two Wilson intervals: those by x, per
      // test size, where x repeats enough to be worth a table (newcombe_difference otherwise).
      std::vector<std::vector<Interval>> wilson(static_cast<size_t>(T));
      std::vector<std::vector<double>> share(static_cast<size_t>(T));  // x / n by x
      if (counts != nullptr) {
        for (int32_t t = 0; t < T; ++t) {
          const int64_t n = config.test_sizes[size_t(t)];
          if (n + 1 > 2 * int64_t(pairs / size_t(T)) * R) continue;
          wilson[size_t(t)].resize(size_t(n) + 1);
          share[size_t(t)].resize(size_t(n) + 1);
          for (int64_t x = 0; x <= n; ++x) {
            wilson[size_t(t)][size_t(x)] =
                proportion_interval(IntervalMethod::WILSON, x, n, config.confidence);
            share[size_t(t)][size_t(x)] = double(x) / double(n);
          }
        }
      }
#pragma omp parallel for schedule(static)
      for (int64_t g = 0; g < int64_t(pairs); ++g) {
        const int32_t t = int32_t(g % T);
        const int64_t n = config.test_sizes[size_t(t)];
        const size_t lower = size_t(g) * R, upper = (size_t(g) + size_t(K) * T) * R;
        finish_pair(j, g, K, T, R, N, [&](int32_t r) {
          if (counts != nullptr) {
            // newcombe_difference's arithmetic (the MOVER difference of the Wilson intervals),
            // with the shares and intervals from the tables where there are.
            const int64_t x1 = (*counts)[upper + r], x2 = (*counts)[lower + r];
            if (!wilson[size_t(t)].empty()) {
              return MoverInputs{share[size_t(t)][size_t(x1)], wilson[size_t(t)][size_t(x1)],
                                 share[size_t(t)][size_t(x2)], wilson[size_t(t)][size_t(x2)]};
            }
            return MoverInputs{
                double(x1) / double(n),
                proportion_interval(IntervalMethod::WILSON, x1, n, config.confidence),
                double(x2) / double(n),
                proportion_interval(IntervalMethod::WILSON, x2, n, config.confidence)};
          }
          return MoverInputs{
              m.estimate[upper + r], Interval{m.ci_low[upper + r], m.ci_high[upper + r]},
              m.estimate[lower + r], Interval{m.ci_low[lower + r], m.ci_high[lower + r]}};
        });
      }
      continue;
    }
    // The arrays keep the first replicates only: the metric's values computed again, once per
    // cell, scale by scale per (length, test size), the scale below kept.
    if (share && index == accuracy_index) continue;  // made with the edit distance
    const bool with_accuracy = share && index == edit_index;
#pragma omp parallel
    {
      MetricCells cells(results, m.name, m.k);
      std::vector<CellValue> below(static_cast<size_t>(R)), above(static_cast<size_t>(R));
      // The accuracy's values of the same cells (each cell's once: it is in two pairs).
      std::vector<CellValue> below_accuracy(with_accuracy ? size_t(R) : 0),
          above_accuracy(with_accuracy ? size_t(R) : 0);
      auto to_accuracy = [&](const std::vector<CellValue>& edit, double length,
                             std::vector<CellValue>& accuracy) {
        for (int32_t r = 0; r < R; ++r) {
          accuracy[size_t(r)] = accuracy_from_edit(edit[size_t(r)], length);
        }
      };
#pragma omp for schedule(dynamic, 1)
      for (int64_t kt = 0; kt < int64_t(K) * T; ++kt) {
        const int32_t k = int32_t(kt / T), t = int32_t(kt % T);
        const double length = config.lengths[size_t(k)];
        cells.fill(size_t(kt) * R, R, k, t, below.data());
        if (with_accuracy) to_accuracy(below, length, below_accuracy);
        for (int32_t s = 0; s + 1 < S; ++s) {
          const int64_t g = int64_t(s) * K * T + kt;
          const size_t upper = (size_t(g) + size_t(K) * T) * R;
          cells.fill(upper, R, k, t, above.data());
          finish_pair(j, g, K, T, R, N, [&](int32_t r) {
            const CellValue &hi = above[size_t(r)], &lo = below[size_t(r)];
            return MoverInputs{hi.estimate, hi.interval, lo.estimate, lo.interval};
          });
          if (with_accuracy) {
            to_accuracy(above, length, above_accuracy);
            finish_pair(made[accuracy_index], g, K, T, R, N, [&](int32_t r) {
              const CellValue &hi = above_accuracy[size_t(r)], &lo = below_accuracy[size_t(r)];
              return MoverInputs{hi.estimate, hi.interval, lo.estimate, lo.interval};
            });
            std::swap(below_accuracy, above_accuracy);
          }
          std::swap(below, above);
        }
      }
    }
  }
  for (Jumps& j : made) out.push_back(std::move(j));
  return out;
}

double scale_for_loss(const Config& config, double loss) {
  if (!(loss > 0.0) || !std::isfinite(loss)) return NaN;
  if (!config.loss_table_scales.empty()) {
    return table_scale_for_loss(LossTable{config.loss_table_scales, config.loss_table_losses},
                                loss);
  }
  // L(N) = (N / c)^alpha  =>  N = c * L^(1 / alpha).
  const double scale = config.loss_scale * std::pow(loss, 1.0 / config.loss_exponent);
  return std::isfinite(scale) ? scale : NaN;
}

Frontier resolution_frontier(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  Frontier f;
  f.simulated_scale.assign(size_t(K) * T, NaN);
  f.analytic_scale.assign(size_t(K) * T, NaN);
  f.analytic_scale_exact.assign(size_t(K) * T, NaN);
  f.required_test_size.assign(size_t(S) * K, NaN);
  for (int32_t k = 0; k < K; ++k) {
    const int32_t L = results.config.lengths[k];
    // Per-item exact-match probability (with difficulty, the average over the items: items
    // are independent, so a test set of n sees X ~ Binomial(n, a)).
    const MetricResult* exact = results.metric("exact_match");
    std::vector<double> accuracy(S);
    for (int32_t s = 0; s < S; ++s) {
      accuracy[s] = exact->expected[size_t(s) * K + k];
      f.required_test_size[size_t(s) * K + k] = test_size_for_visibility(accuracy[s]);
    }
    for (int32_t t = 0; t < T; ++t) {
      const int64_t n = results.config.test_sizes[t];
      const size_t kt = size_t(k) * T + t;
      for (int32_t s = 0; s < S; ++s) {
        int32_t visible = 0;
        for (int32_t r = 0; r < R; ++r) {
          visible += results.counts.exact_match[((size_t(s) * K + k) * T + t) * R + r] > 0;
        }
        if (2 * int64_t(visible) >= R) {
          f.simulated_scale[kt] = results.model.scale[s];
          break;
        }
      }
      for (int32_t s = 0; s < S; ++s) {
        if (visible_probability(accuracy[s], n) >= 0.5) {
          f.analytic_scale[kt] = results.model.scale[s];
          break;
        }
      }
      // Accuracy a* with 1 - (1 - a*)^n = 1/2, the model's per-token p* with E[p_i^L] = a*
      // (p* = a*^(1/L) without difficulty, by bisection with it), loss* = -ln p*.
      const double needed = -std::expm1(-std::log(2.0) / double(n));
      const double p_star = token_probability_for_accuracy(needed, L, results.model.difficulty);
      if (p_star > 0.0 && p_star < 1.0) {
        f.analytic_scale_exact[kt] = scale_for_loss(results.config, -std::log(p_star));
      }
    }
  }
  // The other ways of buying resolution (docs/DESIGN.md §5.7): the same rule on their own
  // estimates, from the share of replicates that read exactly 0 (summary p_zero).
  auto frontier_of = [&](const MetricResult& m, double* out) {
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t t = 0; t < T; ++t) {
        out[size_t(k) * T + t] = NaN;
        for (int32_t s = 0; s < S; ++s) {
          if (m.summary.p_zero[(size_t(s) * K + k) * T + t] <= 0.5) {
            out[size_t(k) * T + t] = results.model.scale[s];
            break;
          }
        }
      }
    }
  };
  if (const MetricResult* until = results.metric("until_success")) {
    f.until_success_scale.assign(size_t(K) * T, NaN);
    frontier_of(*until, f.until_success_scale.data());
  }
  const std::vector<int32_t>& ks = results.config.pass_at;
  if (results.config.attempts > 1 && !ks.empty()) {
    f.pass_at_scale.assign(ks.size() * K * T, NaN);
    for (size_t j = 0; j < ks.size(); ++j) {
      if (const MetricResult* m = results.metric(pass_at_name(ks[j]))) {
        frontier_of(*m, f.pass_at_scale.data() + j * K * T);
      }
    }
  }
  return f;
}

std::vector<Emergence> emergence_scores(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const int32_t metrics = int32_t(results.metrics.size());
  std::vector<Emergence> out(results.metrics.size());
  // Lower edit distance and Brier score are better: score their negatives so that improvement
  // is positive.
  auto sign_of = [](const MetricResult& m) {
    return m.name == "token_edit_distance" || m.name == "brier_score" ? -1.0 : 1.0;
  };
  for (int32_t i = 0; i < metrics; ++i) {
    const MetricResult& m = results.metrics[size_t(i)];
    Emergence& e = out[size_t(i)];
    e.metric = m.name;
    e.score.assign(size_t(K) * T * R, NaN);
    e.median.assign(size_t(K) * T, NaN);
    e.q025.assign(size_t(K) * T, NaN);
    e.q975.assign(size_t(K) * T, NaN);
    e.expected.assign(size_t(K), NaN);
    const double sign = sign_of(m);
    std::vector<double> curve(S);
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t s = 0; s < S; ++s) curve[s] = sign * m.expected[size_t(s) * K + k];
      e.expected[k] = emergence_score(curve.data(), size_t(S));
    }
  }
  // Each (metric, length, test size) on its own, all in one loop (the tasks are alike, and
  // more of them share out more evenly): its replicates' scores and their quantiles.
#pragma omp parallel for schedule(dynamic, 1) collapse(3)
  for (int32_t i = 0; i < metrics; ++i) {
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t t = 0; t < T; ++t) {
        const MetricResult& m = results.metrics[size_t(i)];
        Emergence& e = out[size_t(i)];
        const double sign = sign_of(m);
        // The estimates from the metric's arrays, or computed again for the replicates they do
        // not keep (--keep-replicates).
        std::optional<MetricCells> cells;
        if (!holds_every_replicate(results, m)) cells.emplace(results, m.name, m.k);
        // The curves of a block of replicates at once, scale by scale: each scale's estimates
        // of the block are consecutive (one replicate's curve is strided by K T R cells).
        constexpr int32_t BLOCK = 256;
        std::vector<double> tile(size_t(S) * BLOCK), curve(S);
        std::vector<double> scores;
        scores.reserve(size_t(R));
        for (int32_t first = 0; first < R; first += BLOCK) {
          const int32_t count = std::min(BLOCK, R - first);
          for (int32_t s = 0; s < S; ++s) {
            const size_t cell = ((size_t(s) * K + k) * T + t) * R + first;
            double* row = &tile[size_t(s) * BLOCK];
            if (cells) {
              cells->fill_estimates(cell, count, k, t, row);
            } else {
              std::copy_n(&m.estimate[cell], count, row);
            }
            for (int32_t b = 0; b < count; ++b) row[b] *= sign;
          }
          for (int32_t b = 0; b < count; ++b) {
            for (int32_t s = 0; s < S; ++s) curve[size_t(s)] = tile[size_t(s) * BLOCK + b];
            const double score = emergence_score(curve.data(), size_t(S));
            e.score[(size_t(k) * T + t) * R + first + b] = score;
            if (!std::isnan(score)) scores.push_back(score);
          }
        }
        if (scores.empty()) continue;
        const std::array<double, 3> q = quantiles_025_500_975(scores);
        const size_t kt = size_t(k) * T + t;
        e.q025[kt] = q[0];
        e.median[kt] = q[1];
        e.q975[kt] = q[2];
      }
    }
  }
  return out;
}

std::vector<FamilyEmergence> family_emergence(const Config& config, int32_t length) {
  const DifficultyModel difficulty = parse_difficulty("--difficulty", config.difficulty);
  const int32_t choices = config.task == "multiple-choice" ? config.choices : 0;
  const std::vector<std::string> metrics = metric_names(config);
  const LossTable table{config.loss_table_scales, config.loss_table_losses};
  std::vector<FamilyEmergence> out;
  for (const ModelFamily& family : model_families()) {
    FamilyEmergence e;
    e.family = family.name;
    e.scales = int32_t(family.scales.size());
    e.score.assign(metrics.size(), NaN);
    bool inside = true;
    std::vector<MetricTruth> truth;
    for (double scale : family.scales) {
      if (!table.scale.empty() && !config.extrapolate &&
          (scale < table.scale.front() || scale > table.scale.back())) {
        inside = false;
        break;
      }
      const double loss = table.scale.empty()
                              ? power_law_loss(scale, config.loss_scale, config.loss_exponent)
                              : table_loss(table, scale);
      truth.push_back(metric_truth(token_probability(loss), length, difficulty, choices));
    }
    if (inside) {
      std::vector<double> curve(family.scales.size());
      for (size_t m = 0; m < metrics.size(); ++m) {
        const double sign = metrics[m] == "token_edit_distance" || metrics[m] == "brier_score"
                                ? -1.0
                                : 1.0;
        for (size_t s = 0; s < truth.size(); ++s) {
          const MetricTruth& t = truth[s];
          const double value = metrics[m] == "exact_match"           ? t.exact_match
                               : metrics[m] == "token_edit_distance" ? t.token_edit_distance
                               : metrics[m] == "token_accuracy"      ? t.token_accuracy
                               : metrics[m] == "multiple_choice_grade"
                                   ? t.multiple_choice_grade
                                   : t.brier_score;
          curve[s] = sign * value;
        }
        e.score[m] = emergence_score(curve.data(), curve.size());
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

// reduce_tallies (run/runner.cpp) runs these same steps one by one to time them: keep the two
// in step.
void analyze(Results& results) {
  results.interval_comparison = compare_intervals(results);
  results.jumps = jump_intervals(results);
  results.frontier = resolution_frontier(results);
  results.emergence = emergence_scores(results);
}

}  // namespace mirage
