// Copyright (c) Mirage developers.
#include "reduction.h"

#include <cmath>
#include <stdexcept>

#include "statistics.h"

namespace mirage {

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"exact_match", "token_edit_distance",
                                                 "token_accuracy"};
  return names;
}

double analytic_value(const std::string& metric, double p, int32_t length) {
  if (metric == "exact_match") return std::pow(p, length);
  if (metric == "token_edit_distance") return length * (1.0 - p);
  if (metric == "token_accuracy") return p;
  throw std::invalid_argument("unknown metric '" + metric + "'");
}

namespace {

MetricResult make_metric(const Results& results, const std::string& name) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const size_t cells = size_t(S) * K * T * R;
  MetricResult m;
  m.name = name;
  m.kind = name == "exact_match" ? "nonlinear" : "linear";
  m.interval = name == "exact_match" ? config.interval : config.mean_interval;
  m.confidence = config.confidence;
  m.estimate.resize(cells);
  m.ci_low.resize(cells);
  m.ci_high.resize(cells);
  m.expected.resize(size_t(S) * K);
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      m.expected[size_t(s) * K + k] = analytic_value(name, results.model.p_token[s], config.lengths[k]);
    }
  }
  const IntervalMethod proportion = parse_interval_method(config.interval);
  const MeanIntervalMethod mean_method = parse_mean_interval_method(config.mean_interval);
  const Counts& c = results.counts;
  const bool exact_match = name == "exact_match", edit_distance = name == "token_edit_distance";
  // The interval functions throw only for impossible tallies (x > n, sums no integers can
  // have), which sampling cannot produce; nothing may escape the parallel loop.
#pragma omp parallel for schedule(static)
  for (int64_t cell = 0; cell < int64_t(cells); ++cell) {
    const int32_t t = int32_t((cell / R) % T);
    const int32_t k = int32_t((cell / (int64_t(R) * T)) % K);
    const int64_t n = config.test_sizes[t];
    const double length = config.lengths[k];
    Interval ci{};
    double estimate = 0.0;
    if (exact_match) {
      const int64_t x = c.exact_match[cell];
      estimate = double(x) / double(n);
      ci = proportion_interval(proportion, x, n, config.confidence);
    } else {
      const Moments moments = moments_from_sums(c.token_errors[cell], c.token_errors_sq[cell], n);
      if (edit_distance) {
        estimate = moments.mean;
        ci = mean_interval(mean_method, moments.mean, moments.sd, n, config.confidence);
      } else {
        // Per-item accuracy k/L = 1 - errors/L: an affine map of the edit distance.
        estimate = 1.0 - moments.mean / length;
        const Interval d = mean_interval(mean_method, moments.mean, moments.sd, n, config.confidence);
        ci = Interval{1.0 - d.high / length, 1.0 - d.low / length};
      }
    }
    m.estimate[cell] = estimate;
    m.ci_low[cell] = ci.low;
    m.ci_high[cell] = ci.high;
  }
  // Cross-replicate summaries per (s, k, t).
  const size_t groups = size_t(S) * K * T;
  SummaryArrays& sum = m.summary;
  for (auto* v : {&sum.mean, &sum.sd, &sum.q025, &sum.q500, &sum.q975, &sum.p_zero, &sum.coverage,
                  &sum.mean_ci_width}) {
    v->resize(groups);
  }
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < int64_t(groups); ++g) {
    const size_t base = size_t(g) * R;
    const double expected = m.expected[size_t(g) / T];
    const ReplicateSummary r = summarize_replicates(&m.estimate[base], &m.ci_low[base],
                                                    &m.ci_high[base], size_t(R), expected);
    sum.mean[g] = r.mean;
    sum.sd[g] = r.sd;
    sum.q025[g] = r.q025;
    sum.q500[g] = r.q500;
    sum.q975[g] = r.q975;
    sum.p_zero[g] = r.p_zero;
    sum.coverage[g] = r.coverage;
    sum.mean_ci_width[g] = r.mean_ci_width;
  }
  return m;
}

}  // namespace

void compute_metrics(Results& results) {
  results.metrics.clear();
  for (const std::string& name : metric_names()) results.metrics.push_back(make_metric(results, name));
}

}  // namespace mirage
