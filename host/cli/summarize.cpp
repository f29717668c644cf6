// Copyright (c) Mirage developers.
#include "cli/summarize.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/output.h"

namespace mirage {
namespace {

template <class T>
std::string list(const std::vector<T>& values) {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  return out.str();
}

template <class T>
size_t index_of(const std::vector<T>& values, int64_t wanted, const std::string& option) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (int64_t(values[i]) == wanted) return i;
  }
  throw std::invalid_argument(option + ": value " + std::to_string(wanted) +
                              " is not in the file; available: " + list(values));
}

}  // namespace

std::string summarize(const SummarizeOptions& options) {
  const h5::File f = open_result_file("summarize", options.path);
  const std::vector<double> scale = f.read_double("/model/scale");
  const std::vector<double> p = f.read_double("/model/p_token");
  const std::vector<int32_t> lengths = f.read_int32("/task/length");
  const std::vector<int64_t> sizes = f.read_int64("/task/test_size");
  const int64_t R = f.attr_int64("/task/test_size", "replicates");
  const std::string metric_group = "/summary/" + options.metric;
  if (!f.exists(metric_group)) {
    std::vector<std::string> available;
    for (const char* m : {"exact_match", "token_edit_distance", "token_accuracy",
                          "multiple_choice_grade", "brier_score"}) {
      if (f.exists(std::string("/summary/") + m)) available.push_back(m);
    }
    throw std::invalid_argument("--metric: '" + options.metric +
                                "' is not in the file; available: " + list(available));
  }
  const size_t S = scale.size(), K = lengths.size(), T = sizes.size();
  // The file's own axes say how long every array must be: check before indexing, so that a
  // damaged or hand-edited file is refused (exit 2, naming the file and the dataset) instead of
  // read out of bounds.
  auto refuse = [&](const std::string& what) {
    throw std::invalid_argument("summarize: '" + options.path + "': " + what +
                                "; the file is damaged or not written by mirage");
  };
  if (S == 0 || K == 0 || T == 0) {
    refuse("an empty axis (/model/scale has " + std::to_string(S) + ", /task/length " +
           std::to_string(K) + ", /task/test_size " + std::to_string(T) + " values)");
  }
  if (R < 1) refuse("/task/test_size@replicates = " + std::to_string(R) + " (must be >= 1)");
  auto expect = [&](const std::string& path, size_t got, size_t want, const char* shape) {
    if (got != want) {
      refuse("dataset " + path + " has " + std::to_string(got) + " values, but " + shape +
             " = " + std::to_string(want));
    }
  };
  expect("/model/p_token", p.size(), S, "S");
  for (size_t i = 0; i < K; ++i) {
    if (lengths[i] < 1) refuse("/task/length holds " + std::to_string(lengths[i]));
  }
  for (size_t i = 0; i < T; ++i) {
    if (sizes[i] < 1) refuse("/task/test_size holds " + std::to_string(sizes[i]));
  }
  const size_t k = options.length ? index_of(lengths, options.length, "--length") : K - 1;
  const size_t t = options.test_size ? index_of(sizes, options.test_size, "--test-size") : T - 1;

  auto read = [&](const std::string& name) { return f.read_double(metric_group + "/" + name); };
  const std::vector<double> mean = read("mean"), q025 = read("q025"), q975 = read("q975"),
                            p_zero = read("p_zero"), coverage = read("coverage"),
                            width = read("mean_ci_width");
  const std::vector<double> expected = f.read_double("/metrics/" + options.metric + "/expected");
  for (const auto& [name, values] :
       std::vector<std::pair<std::string, const std::vector<double>*>>{
           {"mean", &mean}, {"q025", &q025}, {"q975", &q975}, {"p_zero", &p_zero},
           {"coverage", &coverage}, {"mean_ci_width", &width}}) {
    expect(metric_group + "/" + name, values->size(), S * K * T, "S x K x T");
  }
  expect("/metrics/" + options.metric + "/expected", expected.size(), S * K, "S x K");
  const std::string interval = f.attr_string(metric_group, "interval");
  const double confidence = f.attr_double(metric_group, "confidence");

  // The exact coverage of this metric's interval method and the jumps into each scale, in
  // files that have them (format 1.1).
  const std::string exact_path =
      "/interval_comparison/" + options.metric + "/" + interval + "/exact_coverage";
  const std::vector<double> exact_coverage =
      f.exists(exact_path) ? f.read_double(exact_path) : std::vector<double>();
  const std::string jump_path = "/jumps/" + options.metric + "/fraction_significant";
  const std::vector<double> jumps =
      f.exists(jump_path) ? f.read_double(jump_path) : std::vector<double>();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!exact_coverage.empty()) expect(exact_path, exact_coverage.size(), S * K * T, "S x K x T");
  if (!jumps.empty()) expect(jump_path, jumps.size(), (S - 1) * K * T, "(S - 1) x K x T");

  std::ostringstream out;
  char line[256];
  out << options.path << ": " << options.metric << " at length L = " << lengths[k]
      << ", test size n = " << sizes[t] << ", " << R << " replicates\n"
      << "(" << interval << " intervals at confidence " << confidence
      << "; coverage = fraction of replicate intervals containing the analytic value, exact = its "
         "exact probability where computed; jump = fraction of replicates whose interval for the "
         "change from the scale above excludes 0)\n\n";
  out << "       scale   p_token        mean     q025     q975    analytic   p_zero  coverage  "
         "   exact  mean width    jump\n";
  for (size_t s = 0; s < S; ++s) {
    const size_t g = (s * K + k) * T + t;
    const double exact = g < exact_coverage.size() ? exact_coverage[g] : nan;
    const size_t pair = s > 0 ? ((s - 1) * K + k) * T + t : 0;
    const double jump = s > 0 && pair < jumps.size() ? jumps[pair] : nan;
    std::snprintf(line, sizeof(line),
                  "  %10.3e  %8.4f  %10.4g %8.4g %8.4g  %10.4g  %7.3f  %8.3f  %6.3f  %10.4g  %6.3f\n",
                  scale[s], p[s], mean[g], q025[g], q975[g], expected[s * K + k], p_zero[g],
                  coverage[g], exact, width[g], jump);
    out << line;
  }
  if (f.exists("/frontier/simulated_scale")) {
    const std::vector<double> sim = f.read_double("/frontier/simulated_scale"),
                              grid = f.read_double("/frontier/analytic_scale"),
                              exact = f.read_double("/frontier/analytic_scale_exact");
    expect("/frontier/simulated_scale", sim.size(), K * T, "K x T");
    expect("/frontier/analytic_scale", grid.size(), K * T, "K x T");
    expect("/frontier/analytic_scale_exact", exact.size(), K * T, "K x T");
    out << "\nResolution frontier at L = " << lengths[k]
        << " (smallest scale where >= half the replicates see a nonzero exact match):\n"
        << "  test size   simulated   analytic (grid)   analytic (exact)\n";
    for (size_t tt = 0; tt < T; ++tt) {
      std::snprintf(line, sizeof(line), "  %9lld  %10.3g  %16.3g  %17.3g\n",
                    static_cast<long long>(sizes[tt]), sim[k * T + tt], grid[k * T + tt],
                    exact[k * T + tt]);
      out << line;
    }
  }
  const std::string emergence = "/emergence/" + options.metric;
  if (f.exists(emergence + "/median")) {
    const std::vector<double> med = f.read_double(emergence + "/median"),
                              lo = f.read_double(emergence + "/q025"),
                              hi = f.read_double(emergence + "/q975"),
                              analytic = f.read_double(emergence + "/expected");
    for (const auto* values : {&med, &lo, &hi}) {
      expect(emergence + "/median, q025 or q975", values->size(), K * T, "K x T");
    }
    expect(emergence + "/expected", analytic.size(), K, "K");
    out << "\nEmergence score of " << options.metric << " at L = " << lengths[k] << " over " << S
        << " scales (analytic curve: " << analytic[k] << "):\n"
        << "  test size   median     q025     q975\n";
    for (size_t tt = 0; tt < T; ++tt) {
      std::snprintf(line, sizeof(line), "  %9lld  %7.3g  %7.3g  %7.3g\n",
                    static_cast<long long>(sizes[tt]), med[k * T + tt], lo[k * T + tt],
                    hi[k * T + tt]);
      out << line;
    }
  }
  return out.str();
}

}  // namespace mirage
