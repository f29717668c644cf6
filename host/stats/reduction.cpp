// Copyright (c) Mirage developers.
#include "stats/reduction.h"

#include <cmath>
#include <stdexcept>

#include "model/difficulty.h"
#include "stats/statistics.h"

namespace mirage {

std::vector<std::string> metric_names(const Config& config) {
  std::vector<std::string> names = {"exact_match", "token_edit_distance", "token_accuracy"};
  if (config.task == "multiple-choice") {
    names.push_back("multiple_choice_grade");
    names.push_back("brier_score");
  }
  return names;
}

double analytic_value(const std::string& metric, double p, int32_t length, int32_t choices) {
  if (metric == "exact_match") return std::pow(p, length);
  if (metric == "token_edit_distance") return length * (1.0 - p);
  if (metric == "token_accuracy") return p;
  if (metric == "multiple_choice_grade") return choice_grade(std::pow(p, length), choices);
  if (metric == "brier_score") return brier_score(std::pow(p, length), choices);
  throw std::invalid_argument("unknown metric '" + metric + "'");
}

double expected_value(const ModelTable& model, const std::string& metric, int32_t scale,
                      int32_t length, int32_t choices) {
  double sum = 0.0;
  model.for_each_component(scale, [&](double p, double weight) {
    sum += weight * analytic_value(metric, p, length, choices);
  });
  return sum;
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

// The multiple-choice metrics are functions of each item's correct-option mass q = p_i^L,
// which depends only on its difficulty bin: per (s, k) tabulate grade and Brier score per bin,
// then combine with the item counts per bin of each (t, r).
struct ChoiceTable {
  std::vector<double> grade, brier;  // [S][K][B'] with B' = max(B, 1)
};

ChoiceTable choice_table(const Results& results) {
  const int32_t S = results.num_scales(), K = results.num_lengths();
  const int32_t B = std::max(1, results.model.num_bins());
  ChoiceTable table;
  table.grade.resize(size_t(S) * K * B);
  table.brier.resize(size_t(S) * K * B);
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t b = 0; b < B; ++b) {
        const double p = results.model.num_bins() ? results.model.bin_p_token[size_t(s) * B + b]
                                                  : results.model.p_token[size_t(s)];
        const double q = std::pow(p, results.config.lengths[k]);
        table.grade[(size_t(s) * K + k) * B + b] = choice_grade(q, results.config.choices);
        table.brier[(size_t(s) * K + k) * B + b] = brier_score(q, results.config.choices);
      }
    }
  }
  return table;
}

MetricResult make_metric(const Results& results, const std::string& name) {
  const Config& config = results.config;
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                R = results.num_replicates();
  const int32_t B = std::max(1, results.model.num_bins());
  const size_t cells = size_t(S) * K * T * R;
  const Kind kind = kind_of(name);
  const bool proportion = kind == Kind::EXACT_MATCH || kind == Kind::GRADE;
  MetricResult m;
  m.name = name;
  m.kind = proportion ? "nonlinear" : "linear";
  m.interval = proportion ? config.interval : config.mean_interval;
  m.confidence = config.confidence;
  m.estimate.resize(cells);
  m.ci_low.resize(cells);
  m.ci_high.resize(cells);
  m.expected.resize(size_t(S) * K);
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      m.expected[size_t(s) * K + k] =
          expected_value(results.model, name, s, config.lengths[k], config.choices);
    }
  }
  const IntervalMethod proportion_method = parse_interval_method(config.interval);
  const MeanIntervalMethod mean_method = parse_mean_interval_method(config.mean_interval);
  const Counts& c = results.counts;
  const ChoiceTable choices =
      kind == Kind::GRADE || kind == Kind::BRIER ? choice_table(results) : ChoiceTable{};
  // The interval functions throw only for impossible tallies (x > n, sums no integers can
  // have), which sampling cannot produce; nothing may escape the parallel loop.
#pragma omp parallel for schedule(static)
  for (int64_t cell = 0; cell < int64_t(cells); ++cell) {
    const int32_t r = int32_t(cell % R);
    const int32_t t = int32_t((cell / R) % T);
    const int32_t k = int32_t((cell / (int64_t(R) * T)) % K);
    const int32_t s = int32_t(cell / (int64_t(R) * T * K));
    const int64_t n = config.test_sizes[t];
    const double length = config.lengths[k];
    Interval ci{};
    double estimate = 0.0;
    switch (kind) {
      case Kind::EXACT_MATCH: {
        const int64_t x = c.exact_match[cell];
        estimate = double(x) / double(n);
        ci = proportion_interval(proportion_method, x, n, config.confidence);
        break;
      }
      case Kind::EDIT_DISTANCE:
      case Kind::ACCURACY: {
        const Moments moments = moments_from_sums(c.token_errors[cell], c.token_errors_sq[cell], n);
        const Interval d =
            mean_interval(mean_method, moments.mean, moments.sd, n, config.confidence);
        if (kind == Kind::EDIT_DISTANCE) {
          estimate = moments.mean;
          ci = d;
        } else {
          // Per-item accuracy k/L = 1 - errors/L: an affine map of the edit distance.
          estimate = 1.0 - moments.mean / length;
          ci = Interval{1.0 - d.high / length, 1.0 - d.low / length};
        }
        break;
      }
      case Kind::GRADE:
      case Kind::BRIER: {
        // Items per bin of this (t, r); without difficulty all n items share one bin.
        const double* grade = &choices.grade[(size_t(s) * K + k) * B];
        const double* brier = &choices.brier[(size_t(s) * K + k) * B];
        int64_t graded = 0;
        double sum = 0.0, sum_sq = 0.0;
        for (int32_t b = 0; b < B; ++b) {
          const int64_t items =
              c.difficulty_bin.empty() ? n : c.difficulty_bin[(size_t(t) * R + r) * B + b];
          graded += grade[b] > 0.5 ? items : 0;
          sum += double(items) * brier[b];
          sum_sq += double(items) * brier[b] * brier[b];
        }
        if (kind == Kind::GRADE) {
          estimate = double(graded) / double(n);
          ci = proportion_interval(proportion_method, graded, n, config.confidence);
        } else {
          estimate = sum / double(n);
          const double var =
              n > 1 ? std::max(0.0, (sum_sq - sum * sum / double(n)) / double(n - 1)) : NAN;
          ci = mean_interval(mean_method, estimate, std::sqrt(var), n, config.confidence);
        }
        break;
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
  for (const std::string& name : metric_names(results.config)) {
    results.metrics.push_back(make_metric(results, name));
  }
}

}  // namespace mirage
