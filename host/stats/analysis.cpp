// Copyright (c) Mirage developers.
#include "stats/analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "model/loss_table.h"
#include "model/truth.h"
#include "stats/reduction.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

std::vector<IntervalComparison> compare_intervals(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const MetricResult* exact = results.metric("exact_match");
  const std::vector<IntervalMethod>& methods = all_interval_methods();
  std::vector<IntervalComparison> out(methods.size());
  for (size_t m = 0; m < methods.size(); ++m) {
    out[m].method = to_string(methods[m]);
    out[m].coverage.assign(size_t(S) * K * T, NaN);
    out[m].mean_ci_width.assign(size_t(S) * K * T, NaN);
  }
  // Intervals depend only on (x, n), and replicates repeat x often (always 0 at small
  // accuracies), so each (method, test size) keeps a cache; beta quantiles are not cheap.
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int64_t m = 0; m < int64_t(methods.size()); ++m) {
    for (int32_t t = 0; t < T; ++t) {
      const int64_t n = results.config.test_sizes[t];
      std::unordered_map<int64_t, Interval> cache;
      std::vector<double> estimate(R), low(R), high(R);
      for (int32_t s = 0; s < S; ++s) {
        for (int32_t k = 0; k < K; ++k) {
          for (int32_t r = 0; r < R; ++r) {
            const int64_t x = results.counts.exact_match[((size_t(s) * K + k) * T + t) * R + r];
            auto it = cache.find(x);
            if (it == cache.end()) {
              it =
                  cache.emplace(x, proportion_interval(methods[m], x, n, results.config.confidence))
                      .first;
            }
            estimate[r] = double(x) / double(n);
            low[r] = it->second.low;
            high[r] = it->second.high;
          }
          const size_t g = (size_t(s) * K + k) * T + t;
          const ReplicateSummary summary =
              summarize_replicates(estimate.data(), low.data(), high.data(), size_t(R),
                                   exact->expected[size_t(s) * K + k]);
          out[m].coverage[g] = summary.coverage;
          out[m].mean_ci_width[g] = summary.mean_ci_width;
        }
      }
    }
  }
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
  return f;
}

std::vector<Emergence> emergence_scores(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  std::vector<Emergence> out;
  for (const MetricResult& m : results.metrics) {
    // Lower edit distance and Brier score are better: score their negatives so that
    // improvement is positive.
    const double sign = m.name == "token_edit_distance" || m.name == "brier_score" ? -1.0 : 1.0;
    Emergence e;
    e.metric = m.name;
    e.score.assign(size_t(K) * T * R, NaN);
    e.median.assign(size_t(K) * T, NaN);
    e.q025.assign(size_t(K) * T, NaN);
    e.q975.assign(size_t(K) * T, NaN);
    e.expected.assign(size_t(K), NaN);
    std::vector<double> curve(S);
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t s = 0; s < S; ++s) curve[s] = sign * m.expected[size_t(s) * K + k];
      e.expected[k] = emergence_score(curve.data(), size_t(S));
      for (int32_t t = 0; t < T; ++t) {
        std::vector<double> scores;
        for (int32_t r = 0; r < R; ++r) {
          for (int32_t s = 0; s < S; ++s) {
            curve[s] = sign * m.estimate[((size_t(s) * K + k) * T + t) * R + r];
          }
          const double score = emergence_score(curve.data(), size_t(S));
          e.score[(size_t(k) * T + t) * R + r] = score;
          if (!std::isnan(score)) scores.push_back(score);
        }
        if (scores.empty()) continue;
        std::sort(scores.begin(), scores.end());
        const size_t kt = size_t(k) * T + t;
        e.median[kt] = quantile_sorted(scores.data(), scores.size(), 0.5);
        e.q025[kt] = quantile_sorted(scores.data(), scores.size(), 0.025);
        e.q975[kt] = quantile_sorted(scores.data(), scores.size(), 0.975);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

void analyze(Results& results) {
  results.interval_comparison = compare_intervals(results);
  results.frontier = resolution_frontier(results);
  results.emergence = emergence_scores(results);
}

}  // namespace mirage
