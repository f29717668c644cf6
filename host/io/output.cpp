// Copyright (c) Mirage developers.
#include "io/output.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "io/format.h"
#include "io/hdf5_file.h"
#include "io/shape_check.h"
#include "stats/reduction.h"
#include "mirage/build_info.h"
#include "mirage/item_model.h"
#include "model/difficulty.h"

namespace mirage {

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

h5::File open_result_file(const std::string& option, const std::string& path) {
  h5::File file = [&] {
    try {
      return h5::File::open_read(path);
    } catch (const std::runtime_error& e) {
      throw std::invalid_argument(option + ": " + e.what());
    }
  }();
  const std::string filetype =
      file.has_attr("/", "filetype") ? file.attr_string("/", "filetype") : "(none)";
  if (filetype != RESULT_FILETYPE) {
    throw std::invalid_argument(option + ": '" + path + "' is not a Mirage result file (filetype " +
                                filetype + ", expected " + RESULT_FILETYPE + ")");
  }
  const std::vector<int32_t> version = file.attr_int32s("/", "format_version");
  if (version.size() != 2 || version[0] != FORMAT_VERSION_MAJOR) {
    std::string found = version.empty() ? "?" : std::to_string(version[0]);
    if (version.size() > 1) found += "." + std::to_string(version[1]);
    throw std::invalid_argument(option + ": '" + path + "' has format version " + found +
                                ", which this mirage cannot read (it reads " +
                                std::to_string(FORMAT_VERSION_MAJOR) + ".x)");
  }
  // Before any command reads it: the file agrees with the shapes it declares (io/shape_check.h).
  const std::string context = option + ": '" + path + "'";
  try {
    check_run_axes(file, context);
    check_declared_shapes(file, context);
  } catch (const std::runtime_error& e) {  // an HDF5 read that failed on the way
    throw std::invalid_argument(context + ": " + e.what() + "; the file is damaged or was edited");
  } catch (const std::invalid_argument& e) {  // a typed read of the wrong type names the path
    const std::string what = e.what(), named = "'" + path + "': ";
    if (what.rfind(named, 0) == 0) throw std::invalid_argument(context + ": " + what.substr(named.size()));
    throw;
  }
  return file;
}

namespace {

// Probabilities at which /model/difficulty tabulates the law of the items.
const std::vector<double>& difficulty_probabilities() {
  static const std::vector<double> p = {1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,  0.75, 0.9,  0.95, 0.975, 0.99, 0.999, 0.9999,
                                        0.99999, 0.999999};
  return p;
}

// /model/difficulty: the family, its parameters and definition (attributes), and the law of
// the items: quantiles of the logit shift d and of each scale's per-token probability
// sigmoid(logit p_s + d) (monotone in d, so its quantiles are the images of d's).
void write_difficulty(h5::File& f, h5::Dimensions& dims, const Results& results) {
  const DifficultyModel& model = results.model.difficulty;
  f.create_group("/model/difficulty");
  f.attr("/model/difficulty", "family", family_name(model));
  f.attr("/model/difficulty", "spec", to_string(model));
  f.attr("/model/difficulty", "definition", difficulty_definition(model));
  if (model.none()) return;
  f.attr("/model/difficulty", "a", model.a);
  if (model.family == DIFFICULTY_KUMARASWAMY) f.attr("/model/difficulty", "b", model.b);
  const std::vector<double>& prob = difficulty_probabilities();
  const hsize_t Q = prob.size(), S = results.model.scale.size();
  std::vector<double> shift(Q), p_token(S * Q);
  for (hsize_t q = 0; q < Q; ++q) shift[q] = difficulty_quantile(model, prob[q], 1.0 - prob[q]);
  for (hsize_t s = 0; s < S; ++s) {
    for (hsize_t q = 0; q < Q; ++q) {
      const double x = results.model.logit[s] + shift[q];
      p_token[s * Q + q] = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    }
  }
  dims.write("/model/difficulty/probability", prob, {"quantile_probability"});
  dims.write("/model/difficulty/shift_quantile", shift, {"quantile_probability"});
  dims.write("/model/difficulty/p_token_quantile", p_token, {"scale", "quantile_probability"});
}

// The dimensions of a result file and their coordinates (docs/FORMAT.md §1): every dataset's
// axes are named, so that netCDF-4 readers (xarray, ncdump) label them without user code.
void define_dimensions(h5::Dimensions& dims, const Results& results) {
  const std::vector<double>& scale = results.model.scale;
  dims.define("scale", scale, "parameters", "model size",
              "model size N_s in parameters, strictly increasing (the values of /model/scale)");
  dims.define("length", results.config.lengths, "tokens", "target length",
              "answer length L in tokens, strictly increasing (the values of /task/length)");
  dims.define("test_size", results.config.test_sizes, "items", "test-set size",
              "nested test set of items 0..n-1, n strictly increasing (the values of "
              "/task/test_size)");
  // The replicates whose per-replicate arrays the file stores: all R, or the first N.
  std::vector<int64_t> replicate(size_t(results.num_stored_replicates()));
  std::iota(replicate.begin(), replicate.end(), int64_t{0});
  dims.define("replicate", replicate, "1", "replicate",
              results.num_stored_replicates() == results.num_replicates()
                  ? "index r of the independent replicate test set, 0..R-1"
                  : "index r of the independent replicate test set, 0..N-1: the first N "
                    "(/task/test_size@replicates_stored) of the R replicates "
                    "(/task/test_size@replicates) that the summaries use");
  // A pair of adjacent scales sits between them; on the log axis that is the geometric mean.
  std::vector<double> midpoint;
  for (size_t s = 0; s + 1 < scale.size(); ++s) {
    midpoint.push_back(std::sqrt(scale[s] * scale[s + 1]));
  }
  dims.define("scale_pair", midpoint, "parameters", "adjacent-scale pair (geometric midpoint)",
              "pair s = (scale s, scale s + 1), located at the geometric midpoint "
              "sqrt(N_s N_{s+1}) of its two model sizes, in parameters");
  if (results.config.attempts > 1) {
    std::vector<int64_t> correct(size_t(results.config.attempts) + 1);
    std::iota(correct.begin(), correct.end(), int64_t{0});
    dims.define("correct_attempts", correct, "attempts", "correct attempts",
                "c, the number of an item's A attempts whose first L tokens are all correct, "
                "0..A (the bins of /counts/attempt_histogram)");
  }
  dims.define("quantile_probability", difficulty_probabilities(), "1", "quantile probability",
              "probability at which the law of the items is tabulated (the values of "
              "/model/difficulty/probability)");
}

}  // namespace

namespace {

using Axes = std::vector<std::string>;

// Writes a per-replicate array as the file stores it: of its R replicates, the first
// N = num_stored_replicates() (all of them unless --keep-replicates). The replicate axis is
// followed by `inner` values (the attempt histogram's bins; 1 for the others).
template <class T>
void write_replicates(h5::Dimensions& dims, const Results& results, const std::string& path,
                      const std::vector<T>& data, const Axes& axes, size_t inner = 1) {
  const size_t R = size_t(results.num_replicates()), N = size_t(results.num_stored_replicates());
  if (N == R) {
    dims.write(path, data, axes);
    return;
  }
  const size_t outer = data.size() / (R * inner);
  std::vector<T> kept(outer * N * inner);
  for (size_t o = 0; o < outer; ++o) {
    std::copy_n(data.begin() + std::ptrdiff_t(o * R * inner), N * inner,
                kept.begin() + std::ptrdiff_t(o * N * inner));
  }
  dims.write(path, kept, axes);
}

// The first part of a result file: provenance (all but elapsed_s), configuration, model, task,
// counts, metrics and their summaries - what exists once compute_metrics has run.
void write_result_head(h5::File& f, h5::Dimensions& dims, const Results& results) {
  const Axes per_replicate = {"scale", "length", "test_size", "replicate"},
             per_cell = {"scale", "length", "test_size"}, analytic = {"scale", "length"};
  define_dimensions(dims, results);
  f.attr("/", "filetype", std::string(RESULT_FILETYPE));
  f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR});
  f.attr("/", "mirage_version", std::string(MIRAGE_VERSION_STRING));
  f.attr("/", "git_sha", std::string(MIRAGE_GIT_SHA));
  f.attr("/", "created_utc", results.info.created_utc);
  f.attr("/", "command_line", results.info.command_line);
  f.attr("/", "seed", results.config.seed);
  f.attr("/", "backend", results.info.backend);
  f.attr("/", "devices", results.info.devices);
  f.attr("/", "token_draws", results.info.draws);

  f.create_group("/config");
  f.attr("/config", "config_toml", to_toml(results.config));

  dims.write("/model/scale", results.model.scale, {"scale"});
  dims.write("/model/loss", results.model.loss, {"scale"});
  dims.write("/model/p_token", results.model.p_token, {"scale"});
  dims.write("/task/length", results.config.lengths, {"length"});
  dims.write("/task/test_size", results.config.test_sizes, {"test_size"});
  f.attr("/task/test_size", "replicates", int64_t{results.config.replicates});
  f.attr("/task/test_size", "replicates_stored", int64_t{results.num_stored_replicates()});

  write_difficulty(f, dims, results);
  f.attr("/task", "kind", results.config.task);
  if (results.config.task == "multiple-choice") {
    f.attr("/task", "choices", int64_t{results.config.choices});
  }
  write_replicates(dims, results, "/counts/exact_match", results.counts.exact_match,
                   per_replicate);
  write_replicates(dims, results, "/counts/token_errors", results.counts.token_errors,
                   per_replicate);
  write_replicates(dims, results, "/counts/token_errors_sq", results.counts.token_errors_sq,
                   per_replicate);
  if (!results.counts.choice_grade.empty()) {
    write_replicates(dims, results, "/counts/multiple_choice_grade", results.counts.choice_grade,
                     per_replicate);
    write_replicates(dims, results, "/counts/brier_score", results.counts.brier, per_replicate);
    write_replicates(dims, results, "/counts/brier_score_sq", results.counts.brier_sq,
                     per_replicate);
    for (const char* name : {"/counts/brier_score", "/counts/brier_score_sq"}) {
      f.attr(name, "unit", BRIER_UNIT);
      f.attr(name, "definition",
             std::string("sum over items of round(score / unit) (resp. round(score^2 / unit)): "
                         "exact integers, so sums do not depend on the order of addition"));
    }
  }

  if (!results.counts.attempt_histogram.empty()) {
    write_replicates(dims, results, "/counts/attempt_histogram",
                     results.counts.attempt_histogram,
                     {"scale", "length", "test_size", "replicate", "correct_attempts"},
                     size_t(results.config.attempts) + 1);
    f.attr("/counts/attempt_histogram", "attempts", int64_t{results.config.attempts});
    f.attr("/counts/attempt_histogram", "definition",
           std::string("items of the test set with c of their A independent attempts exactly "
                       "right (all of the first L tokens), c = 0..A; the other counts and "
                       "metrics use attempt 0"));
  }
  if (results.config.attempts > 1) {
    f.attr("/task", "attempts", int64_t{results.config.attempts});
  }
  if (!results.counts.until_solved.empty()) {
    const std::pair<const char*, const std::vector<int64_t>*> until[] = {
        {"until_solved", &results.counts.until_solved},
        {"until_attempts", &results.counts.until_attempts},
        {"until_attempts_sq", &results.counts.until_attempts_sq},
        {"until_solved_attempts", &results.counts.until_solved_attempts}};
    const char* definitions[] = {
        "sum over the items of the test set of y_i: items with an exactly right attempt "
        "(all of the first L tokens) within the budget B",
        "sum over the items of t_i, the attempts item i used: the index + 1 of its first "
        "exactly right attempt, or B if none of its B attempts was",
        "sum over the items of t_i^2", "sum over the items of y_i t_i"};
    for (int i = 0; i < 4; ++i) {
      const std::string name = std::string("/counts/") + until[i].first;
      write_replicates(dims, results, name, *until[i].second, per_replicate);
      f.attr(name, "budget", int64_t{results.config.budget});
      f.attr(name, "definition", std::string(definitions[i]));
    }
    f.attr("/task", "budget", int64_t{results.config.budget});
  }

  for (const MetricResult& m : results.metrics) {
    const std::string group = "/metrics/" + m.name;
    dims.write(group + "/estimate", m.estimate, per_replicate);
    dims.write(group + "/ci_low", m.ci_low, per_replicate);
    dims.write(group + "/ci_high", m.ci_high, per_replicate);
    dims.write(group + "/expected", m.expected, analytic);
    for (const char* name : {"estimate", "ci_low", "ci_high"}) {
      f.attr(group + "/" + name, "interval", m.interval);
      f.attr(group + "/" + name, "confidence", m.confidence);
    }
    f.attr(group, "interval", m.interval);
    f.attr(group, "confidence", m.confidence);
    f.attr(group, "kind", m.kind);
    if (!m.pooled_limit.empty()) {
      dims.write(group + "/pooled_limit", m.pooled_limit, analytic);
      f.attr(group, "budget", int64_t{results.config.budget});
      f.attr(group, "definition",
             std::string("sampling until success (PassUntil, Hu et al. 2024): each item is "
                         "attempted until its first exactly right attempt, at most B; "
                         "estimate = until_solved / until_attempts, the censored-geometric "
                         "maximum likelihood estimate of a common success rate; interval: "
                         "Wilson on the effective attempts of the ratio-estimator variance; "
                         "expected = E[p_i^L]; pooled_limit = E[1 - (1 - q_i)^B] / E[t_i], "
                         "the estimate's large-n value (below expected with item difficulty)"));
    }
    if (m.k > 0) {
      f.attr(group, "k", int64_t{m.k});
      f.attr(group, "definition",
             std::string("pass@k: per item 1 - C(A - c, k) / C(A, k) (Chen et al. 2021, the "
                         "unbiased estimator from c correct of A attempts), averaged over the "
                         "test set; expected = E[1 - (1 - p_i^L)^k]"));
    }

    const std::string summary = "/summary/" + m.name;
    const SummaryArrays& s = m.summary;
    dims.write(summary + "/mean", s.mean, per_cell);
    dims.write(summary + "/sd", s.sd, per_cell);
    dims.write(summary + "/q025", s.q025, per_cell);
    dims.write(summary + "/q500", s.q500, per_cell);
    dims.write(summary + "/q975", s.q975, per_cell);
    dims.write(summary + "/p_zero", s.p_zero, per_cell);
    dims.write(summary + "/coverage", s.coverage, per_cell);
    dims.write(summary + "/mean_ci_width", s.mean_ci_width, per_cell);
    f.attr(summary, "interval", m.interval);
    f.attr(summary, "confidence", m.confidence);
  }
}

// The rest: the analyses (interval comparison, jumps, adaptive, frontier, emergence) and
// elapsed_s, which exist once the reduction is complete.
void write_result_tail(h5::File& f, h5::Dimensions& dims, const Results& results) {
  const Axes per_cell = {"scale", "length", "test_size"}, analytic = {"scale", "length"};
  f.attr("/", "elapsed_s", results.info.elapsed_s);
  for (const IntervalComparison& c : results.interval_comparison) {
    const std::string group = "/interval_comparison/" + c.metric + "/" + c.method;
    dims.write(group + "/coverage", c.coverage, per_cell);
    dims.write(group + "/mean_ci_width", c.mean_ci_width, per_cell);
    dims.write(group + "/exact_coverage", c.exact_coverage, per_cell);
  }
  if (!results.interval_comparison.empty()) {
    f.attr("/interval_comparison", "confidence", results.config.confidence);
    f.attr("/interval_comparison", "definition",
           std::string("per metric and interval method, [S][K][T]: coverage = fraction of the "
                       "replicates' intervals containing the analytic value; mean_ci_width; "
                       "exact_coverage = the exact probability of coverage (binomial sum for "
                       "exact_match up to n = 10000, exact distribution of the token tallies "
                       "for the linear metrics where n L <= 100), NaN where not computed"));
  }

  if (!results.jumps.empty() && results.num_scales() > 1) {
    const Axes per_pair_replicate = {"scale_pair", "length", "test_size", "replicate"},
               per_pair = {"scale_pair", "length", "test_size"};
    for (const Jumps& j : results.jumps) {
      const std::string group = "/jumps/" + j.metric;
      dims.write(group + "/low", j.low, per_pair_replicate);
      dims.write(group + "/high", j.high, per_pair_replicate);
      dims.write(group + "/significant", j.significant, per_pair_replicate);
      dims.write(group + "/fraction_significant", j.fraction_significant, per_pair);
      dims.write(group + "/coverage", j.coverage, per_pair);
      dims.write(group + "/expected", j.expected, {"scale_pair", "length"});
      f.attr(group, "method", j.method);
    }
    f.attr("/jumps", "confidence", results.config.confidence);
    f.attr("/jumps", "definition",
           std::string("pair s = (scale s, scale s + 1): interval for estimate(s + 1) - "
                       "estimate(s) per length, test size and replicate (newcombe: Newcombe "
                       "1998 hybrid score interval for proportions; mover-<method>: Zou & "
                       "Donner 2008 MOVER with the metric's own intervals), significant = the "
                       "interval excludes 0, fraction_significant over replicates (replicates "
                       "without an interval count as not significant), coverage of the true "
                       "difference `expected`"));
  }

  const Adaptive& ad = results.adaptive;
  if (!ad.items_used.empty()) {
    const Axes per_skr = {"scale", "length", "replicate"};
    write_replicates(dims, results, "/adaptive/items_used", ad.items_used, per_skr);
    write_replicates(dims, results, "/adaptive/draws_used", ad.draws_used, per_skr);
    write_replicates(dims, results, "/adaptive/stopped", ad.stopped, per_skr);
    write_replicates(dims, results, "/adaptive/estimate", ad.estimate, per_skr);
    write_replicates(dims, results, "/adaptive/ci_low", ad.ci_low, per_skr);
    write_replicates(dims, results, "/adaptive/ci_high", ad.ci_high, per_skr);
    dims.write("/adaptive/median_items_used", ad.median_items_used, analytic);
    dims.write("/adaptive/fraction_stopped", ad.fraction_stopped, analytic);
    dims.write("/adaptive/coverage", ad.coverage, analytic);
    dims.write("/adaptive/coverage_all", ad.coverage_all, analytic);
    dims.write("/adaptive/mean_relative_width", ad.mean_relative_width, analytic);
    dims.write("/adaptive/steps", results.config.test_sizes, {"test_size"});
    f.attr("/adaptive", "target_relative_width", results.config.target_relative_width);
    f.attr("/adaptive", "max_items", int64_t{results.config.max_items});
    f.attr("/adaptive", "draws_sampled_per_cell", int64_t{ad.draws_sampled});
    f.attr("/adaptive", "interval", results.config.interval);
    f.attr("/adaptive", "confidence", results.config.confidence);
    f.attr("/adaptive", "definition",
           std::string("per (scale, length, replicate) the first step n_j of the nested test "
                       "sizes `steps` (10 x 2^j, then max_items M) whose exact-match interval "
                       "has x > 0 and half-width (ci_high - ci_low) / 2 <= W x estimate "
                       "(stopped = 1), else M (stopped = 0); estimate, ci_low, ci_high are "
                       "those of /metrics/exact_match at that step; draws_used = items_used x "
                       "the longest length, the draws the rule used (every cell sampled M "
                       "items: draws_sampled_per_cell); across replicates: median_items_used, "
                       "fraction_stopped, coverage of the stopped intervals (NaN if none "
                       "stopped; optional stopping can lower it), coverage_all over every "
                       "replicate, mean_relative_width = mean half-width / estimate over "
                       "replicates with estimate > 0"));
  }

  const Frontier& fr = results.frontier;
  if (!fr.simulated_scale.empty()) {
    const Axes per_kt = {"length", "test_size"};
    dims.write("/frontier/simulated_scale", fr.simulated_scale, per_kt);
    dims.write("/frontier/analytic_scale", fr.analytic_scale, per_kt);
    dims.write("/frontier/analytic_scale_exact", fr.analytic_scale_exact, per_kt);
    dims.write("/frontier/required_test_size", fr.required_test_size, analytic);
    f.attr("/frontier", "definition",
           std::string("smallest scale at which at least half the replicates observe a nonzero "
                       "exact match; analytic: 1 - (1 - p^L)^n >= 1/2"));
    // The other ways of buying resolution, by the same rule on their own estimates.
    if (!fr.until_success_scale.empty()) {
      dims.write("/frontier/until_success_scale", fr.until_success_scale, per_kt);
    }
    const size_t per = size_t(results.num_lengths()) * results.num_test_sizes();
    for (size_t j = 0; j < results.config.pass_at.size() && !fr.pass_at_scale.empty(); ++j) {
      const std::vector<double> row(fr.pass_at_scale.begin() + j * per,
                                    fr.pass_at_scale.begin() + (j + 1) * per);
      dims.write("/frontier/" + pass_at_name(results.config.pass_at[j]) + "_scale", row,
                 per_kt);
    }
  }

  for (const Emergence& e : results.emergence) {
    const std::string group = "/emergence/" + e.metric;
    write_replicates(dims, results, group + "/score", e.score,
                     {"length", "test_size", "replicate"});
    dims.write(group + "/median", e.median, {"length", "test_size"});
    dims.write(group + "/q025", e.q025, {"length", "test_size"});
    dims.write(group + "/q975", e.q975, {"length", "test_size"});
    dims.write(group + "/expected", e.expected, {"length"});
    const bool lower_is_better = e.metric == "token_edit_distance" || e.metric == "brier_score";
    f.attr(group, "curve", std::string(lower_is_better ? "-estimate" : "estimate"));
  }
  if (!results.emergence.empty()) {
    f.attr("/emergence", "definition",
           std::string("sign(argmax y - argmin y) * (max y - min y) / sqrt(median_i (y_i - "
                       "y_{i-1})^2) over increasing scale (Srivastava et al. 2022; Schaeffer et "
                       "al. 2023 section 4); +/-inf when the median step is 0 and the range is "
                       "not, 0 for a constant curve"));
  }
}

}  // namespace

void write_hdf5(const Results& results, const std::string& path) {
  const int compression = parse_compression("--compression", results.config.compression);
  h5::write_atomically(path, [&](h5::File& f) {
    f.set_compression(compression);
    h5::Dimensions dims(f);
    write_result_head(f, dims, results);
    write_result_tail(f, dims, results);
  });
}

namespace {
// Thrown in the writing thread when the write is abandoned: the temporary file goes.
struct AbandonedWrite {};
}  // namespace

OverlappedResultWrite::OverlappedResultWrite(const Results& results, std::string path) {
  const int compression = parse_compression("--compression", results.config.compression);
  thread_ = std::thread([this, &results, path = std::move(path), compression] {
    try {
      h5::write_atomically(path, [&](h5::File& f) {
        f.set_compression(compression);
        h5::Dimensions dims(f);
        write_result_head(f, dims, results);
        wait_for_the_rest();
        write_result_tail(f, dims, results);
      });
    } catch (const AbandonedWrite&) {
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void OverlappedResultWrite::wait_for_the_rest() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_or_abandoned_.wait(lock, [this] { return ready_ || abandoned_; });
  if (!ready_) throw AbandonedWrite{};
}

void OverlappedResultWrite::finish() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    ready_ = true;
  }
  ready_or_abandoned_.notify_one();
  thread_.join();
  joined_ = true;
  if (error_) std::rethrow_exception(error_);
}

OverlappedResultWrite::~OverlappedResultWrite() {
  if (joined_) return;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    abandoned_ = true;
  }
  ready_or_abandoned_.notify_one();
  thread_.join();
}

void write_csv(const Results& results, const std::string& path) {
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes();
  std::ostringstream out;
  out << std::setprecision(10);
  out << "scale,length,test_size,metric,kind,expected,mean,sd,q025,q500,q975,p_zero,coverage,"
         "mean_ci_width,interval,confidence,replicates,frontier_scale,frontier_scale_analytic,"
         "emergence_median,emergence_q025,emergence_q975,exact_coverage,"
         "jump_fraction_significant,jump_coverage,jump_expected\n";
  const Frontier& fr = results.frontier;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto at = [nan](const std::vector<double>& v, size_t i) { return i < v.size() ? v[i] : nan; };
  for (const MetricResult& m : results.metrics) {
    // The exact coverage of the metric's own interval method, where the file has it.
    const IntervalComparison* own = nullptr;
    for (const IntervalComparison& c : results.interval_comparison) {
      if (c.metric == m.name && c.method == m.interval) own = &c;
    }
    const Jumps* jumps = results.jumps_of(m.name);
    for (int32_t s = 0; s < S; ++s) {
      for (int32_t k = 0; k < K; ++k) {
        for (int32_t t = 0; t < T; ++t) {
          const size_t g = (size_t(s) * K + k) * T + t;
          const SummaryArrays& a = m.summary;
          out << results.model.scale[s] << ',' << results.config.lengths[k] << ','
              << results.config.test_sizes[t] << ',' << m.name << ',' << m.kind << ','
              << m.expected[size_t(s) * K + k] << ',' << a.mean[g] << ',' << a.sd[g] << ','
              << a.q025[g] << ',' << a.q500[g] << ',' << a.q975[g] << ',' << a.p_zero[g] << ','
              << a.coverage[g] << ',' << a.mean_ci_width[g] << ',' << m.interval << ','
              << m.confidence << ',' << results.config.replicates << ',';
          // Per (length, test size): repeated on each scale's row so the table stays tidy.
          const size_t kt = size_t(k) * T + t;
          const Emergence* e = results.emergence_of(m.name);
          out << at(fr.simulated_scale, kt) << ',' << at(fr.analytic_scale, kt) << ','
              << (e ? e->median[kt] : nan) << ',' << (e ? e->q025[kt] : nan) << ','
              << (e ? e->q975[kt] : nan) << ',' << (own ? own->exact_coverage[g] : nan) << ',';
          // The jump into this scale from the one below (none at the first scale).
          if (jumps != nullptr && s > 0) {
            const size_t pair = (size_t(s - 1) * K + k) * T + t;
            out << jumps->fraction_significant[pair] << ',' << jumps->coverage[pair] << ','
                << jumps->expected[size_t(s - 1) * K + k] << '\n';
          } else {
            out << nan << ',' << nan << ',' << nan << '\n';
          }
        }
      }
    }
  }
  h5::write_text_atomically(path, out.str());
}

}  // namespace mirage
