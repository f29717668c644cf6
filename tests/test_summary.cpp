// Copyright (c) Mirage developers.
// The analyses of docs/DESIGN.md §5 on simulated data: interval coverage against the exact
// binomial coverage sum, the resolution frontier against its formula, emergence scores, and
// `mirage summarize`.
#include <gtest/gtest.h>
#include <unistd.h>
#include <hdf5.h>

#include <boost/math/distributions/binomial.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "stats/analysis.h"
#include "cli/commands.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "mirage/model.h"
#include "io/output.h"
#include "stats/statistics.h"
#include "stats/token_intervals.h"
#include "cli/summarize.h"

namespace mirage {
namespace {

Config quiet_cpu(Config c) {
  c.backend = "cpu";
  c.quiet = true;
  return c;
}

// Simulated coverage equals the exact coverage within 4 Monte Carlo standard errors, for
// every metric and every interval method (the eight proportion methods of exact match, the
// four mean methods of edit distance and accuracy), at small and moderate accuracies where
// the methods differ most (Brown, Cai & DasGupta 2001). The exact sums are checked against
// brute-force enumeration in tests/test_intervals.cpp; the stored exact-match ones equal
// exact_binomial_coverage here. Where a method gives no interval at all (student-t and normal
// at n = 1) both coverages are NaN, like the width.
TEST(Coverage, SimulatedEqualsExactCoverageForEveryMetricAndMethod) {
  Config c = default_config();
  const double targets[] = {0.03, 0.2};
  c.scales.clear();
  for (double p : targets) c.scales.push_back(scale_for_loss(c, -std::log(p)));
  c.lengths = {1, 3};
  c.test_sizes = {1, 10, 20};
  c.replicates = 4000;
  c.seed = 77;
  const Results results = simulate(quiet_cpu(c), "test", nullptr);
  ASSERT_EQ(results.interval_comparison.size(),
            all_interval_methods().size() + 2 * all_mean_interval_methods().size());
  const int32_t K = 2, T = 3;
  int checked = 0, undefined = 0;
  for (const IntervalComparison& ic : results.interval_comparison) {
    const MetricResult* metric = results.metric(ic.metric);
    ASSERT_NE(metric, nullptr) << ic.metric;
    for (int32_t s = 0; s < 2; ++s) {
      EXPECT_NEAR(results.model.p_token[s], targets[s], 1e-12);
      for (int32_t k = 0; k < K; ++k) {
        for (int32_t t = 0; t < T; ++t) {
          const size_t g = (size_t(s) * K + k) * T + t;
          const double exact = ic.exact_coverage[g];
          const double simulated = ic.coverage[g];
          const std::string where = ic.metric + " " + ic.method + " n " +
                                    std::to_string(c.test_sizes[t]) + " L " +
                                    std::to_string(c.lengths[k]) + " p " +
                                    std::to_string(results.model.p_token[s]);
          if (std::isnan(exact)) {
            // Only the t and normal intervals at n = 1 are undefined here.
            EXPECT_EQ(c.test_sizes[t], 1) << where;
            EXPECT_TRUE(std::isnan(simulated)) << where;
            EXPECT_TRUE(std::isnan(ic.mean_ci_width[g])) << where;
            ++undefined;
            continue;
          }
          if (ic.metric == "exact_match") {
            const double a = metric->expected[size_t(s) * K + k];
            EXPECT_NEAR(exact, exact_binomial_coverage(parse_interval_method(ic.method),
                                                       c.test_sizes[t], a, c.confidence),
                        1e-12)
                << where;
          }
          const double se = std::sqrt(exact * (1 - exact) / c.replicates);
          EXPECT_LT(std::fabs(simulated - exact), 4 * se + 1e-12)
              << where << ": simulated " << simulated << " exact " << exact;
          ++checked;
        }
      }
    }
  }
  // 8 proportion methods x 12 cells, 2 metrics x 4 mean methods x 12 cells, less the
  // undefined t and normal cells at n = 1 (2 metrics x 2 methods x 4 cells).
  EXPECT_EQ(undefined, 16);
  EXPECT_EQ(checked, 8 * 12 + 8 * 12 - 16);
  // And the contrast the comparison exists to show: Wald collapses at n = 20, p = 0.03.
  EXPECT_LT(exact_binomial_coverage(IntervalMethod::WALD, 20, 0.03, 0.95), 0.6);
  EXPECT_GT(exact_binomial_coverage(IntervalMethod::WILSON, 20, 0.03, 0.95), 0.9);
}

// Jumps between adjacent scales: the stored intervals are Newcombe's for exact match (from the
// replicate counts) and MOVER with the metric's own intervals for the linear metrics; the
// fraction significant is the count over replicates; and the simulated coverage of the true
// difference equals the exact coverage of Newcombe's interval, computed here as the double
// sum over two independent binomials, within 4 standard errors.
TEST(Jumps, NewcombeAndMoverIntervalsBetweenAdjacentScales) {
  Config c = default_config();
  c.scales.clear();
  for (double p : {0.1, 0.25, 0.3}) c.scales.push_back(scale_for_loss(c, -std::log(p)));
  c.lengths = {1, 2};
  c.test_sizes = {1, 20};
  c.replicates = 3000;
  c.seed = 99;
  c.mean_interval = "student-t";  // undefined at n = 1: pins the NaN convention of the jumps
  const Results r = simulate(quiet_cpu(c), "test", nullptr);
  const int32_t S = 3, K = 2, T = 2, R = c.replicates;
  const Jumps* em = r.jumps_of("exact_match");
  const Jumps* edit = r.jumps_of("token_edit_distance");
  ASSERT_NE(em, nullptr);
  ASSERT_NE(edit, nullptr);
  EXPECT_EQ(em->method, "newcombe");
  EXPECT_EQ(edit->method, "mover-" + c.mean_interval);
  const MetricResult* e = r.metric("token_edit_distance");
  for (int32_t s = 0; s + 1 < S; ++s) {
    for (int32_t k = 0; k < K; ++k) {
      for (int32_t t = 0; t < T; ++t) {
        const size_t g = (size_t(s) * K + k) * T + t;
        const int64_t n = c.test_sizes[t];
        int64_t significant = 0;
        for (int32_t rep = 0; rep < R; ++rep) {
          const size_t lo = ((size_t(s) * K + k) * T + t) * R + rep;
          const size_t hi = ((size_t(s + 1) * K + k) * T + t) * R + rep;
          const Interval d = newcombe_difference(r.counts.exact_match[hi], n,
                                                 r.counts.exact_match[lo], n, c.confidence);
          ASSERT_EQ(em->low[g * R + rep], d.low);
          ASSERT_EQ(em->high[g * R + rep], d.high);
          ASSERT_EQ(em->significant[g * R + rep], d.low > 0 || d.high < 0 ? 1 : 0);
          significant += em->significant[g * R + rep];
          const Interval m = mover_difference(e->estimate[hi], {e->ci_low[hi], e->ci_high[hi]},
                                              e->estimate[lo], {e->ci_low[lo], e->ci_high[lo]});
          if (std::isnan(m.low)) {
            ASSERT_TRUE(std::isnan(edit->low[g * R + rep]));
          } else {
            ASSERT_EQ(edit->low[g * R + rep], m.low);
            ASSERT_EQ(edit->high[g * R + rep], m.high);
          }
        }
        EXPECT_EQ(em->fraction_significant[g], double(significant) / R);
        const double a0 = r.metric("exact_match")->expected[size_t(s) * K + k];
        const double a1 = r.metric("exact_match")->expected[size_t(s + 1) * K + k];
        EXPECT_EQ(em->expected[size_t(s) * K + k], a1 - a0);
        // Exact coverage of Newcombe's interval for a1 - a0 by the double binomial sum.
        const boost::math::binomial_distribution<double> b0(double(n), a0), b1(double(n), a1);
        double exact = 0.0;
        for (int64_t x1 = 0; x1 <= n; ++x1) {
          for (int64_t x0 = 0; x0 <= n; ++x0) {
            const Interval d = newcombe_difference(x1, n, x0, n, c.confidence);
            if (d.low <= a1 - a0 && a1 - a0 <= d.high) {
              exact += boost::math::pdf(b1, double(x1)) * boost::math::pdf(b0, double(x0));
            }
          }
        }
        const double se = std::sqrt(exact * (1 - exact) / R);
        EXPECT_LT(std::fabs(em->coverage[g] - exact), 4 * se + 1e-12)
            << "pair " << s << " L " << c.lengths[k] << " n " << n << ": simulated "
            << em->coverage[g] << " exact " << exact;
        // The t interval is undefined at n = 1: no replicate has a jump interval.
        if (n == 1) {
          EXPECT_TRUE(std::isnan(edit->fraction_significant[g]));
        }
      }
    }
  }
}

// The simulated frontier agrees with the analytic one within the grid spacing (one step of
// the 41-point grid) at every length and test size of the default sweep.
TEST(Frontier, SimulatedAgreesWithAnalyticOnDefaultSweep) {
  Config c = default_config();
  c.replicates = 40;
  c.seed = 4242;
  const Results results = simulate(quiet_cpu(c), "test", nullptr);
  const Frontier& f = results.frontier;
  const int32_t K = results.num_lengths(), T = results.num_test_sizes();
  auto grid_index = [&](double scale) {
    for (int32_t s = 0; s < results.num_scales(); ++s) {
      if (results.model.scale[s] == scale) return s;
    }
    return -1;
  };
  for (int32_t k = 0; k < K; ++k) {
    for (int32_t t = 0; t < T; ++t) {
      const size_t kt = size_t(k) * T + t;
      ASSERT_FALSE(std::isnan(f.analytic_scale[kt]))
          << "L " << c.lengths[k] << " n " << c.test_sizes[t];
      ASSERT_FALSE(std::isnan(f.simulated_scale[kt]));
      EXPECT_LE(std::abs(grid_index(f.simulated_scale[kt]) - grid_index(f.analytic_scale[kt])), 1)
          << "L " << c.lengths[k] << " n " << c.test_sizes[t];
      // The exact crossing lies at or below the analytic grid point, and within one grid step
      // of it unless the grid point is the first scale.
      EXPECT_LE(f.analytic_scale_exact[kt], f.analytic_scale[kt] * (1 + 1e-12));
      if (f.analytic_scale[kt] > results.model.scale[0])
        EXPECT_GT(f.analytic_scale_exact[kt],
                  f.analytic_scale[kt] / std::pow(10.0, 5.0 / 40) * (1 - 1e-12));
    }
  }
  // Bigger test sets see the ability at smaller scales.
  for (int32_t t = 1; t < T; ++t) {
    EXPECT_LE(f.analytic_scale[size_t(K - 1) * T + t], f.analytic_scale[size_t(K - 1) * T + t - 1]);
  }
  // The formula's required test size at p^L = 1/2 is 1.
  EXPECT_EQ(test_size_for_visibility(0.5), 1.0);
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

TEST(Emergence, InvariantToThreadCount) {
  Config c = default_config();
  c.scales = parse_scales("--scales", {"1e8:1e13:11"});
  c.test_sizes = {10, 100, 1000};
  c.replicates = 20;
  c.threads = 1;
  const Results one = simulate(quiet_cpu(c), "test", nullptr);
  c.threads = 2;
  const Results two = simulate(quiet_cpu(c), "test", nullptr);
  ASSERT_EQ(one.emergence.size(), 3u);
  for (size_t m = 0; m < one.emergence.size(); ++m) {
    EXPECT_TRUE(same_bits(one.emergence[m].score, two.emergence[m].score))
        << one.emergence[m].metric;
    EXPECT_TRUE(same_bits(one.emergence[m].median, two.emergence[m].median));
  }
}

// With the paper's four GPT-3-family sizes, exact match at L = 5 looks emergent and edit
// distance does not. Analytic curve by hand: p^5 at the four sizes has steps whose median
// square is the middle one.
TEST(Emergence, PaperFamilyNonlinearScoresHigh) {
  Config c = default_config();
  c.scales = gpt3_scales();
  c.test_sizes = {100, 10000};
  c.replicates = 30;
  const Results results = simulate(quiet_cpu(c), "test", nullptr);
  const Emergence* exact = results.emergence_of("exact_match");
  const Emergence* edit = results.emergence_of("token_edit_distance");
  ASSERT_NE(exact, nullptr);
  ASSERT_NE(edit, nullptr);
  const int32_t k = 4;  // L = 5
  double y[4];
  for (int s = 0; s < 4; ++s) y[s] = std::pow(results.model.p_token[s], 5);
  double steps[3] = {std::fabs(y[1] - y[0]), std::fabs(y[2] - y[1]), std::fabs(y[3] - y[2])};
  std::sort(steps, steps + 3);
  EXPECT_NEAR(exact->expected[k], (y[3] - y[0]) / steps[1], 1e-12);
  for (int32_t t = 0; t < 2; ++t) {
    EXPECT_GT(exact->median[size_t(k) * 2 + t], 2.5 * edit->median[size_t(k) * 2 + t]);
  }
}

class SummarizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mirage_summary_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "r.h5").string();
    Config c = default_config();
    c.scales = gpt3_scales();
    c.test_sizes = {10, 1000};
    c.replicates = 10;
    write_hdf5(simulate(quiet_cpu(c), "test", nullptr), path_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SummarizeTest, PrintsTableFrontierAndEmergence) {
  SummarizeOptions o;
  o.path = path_;
  o.length = 3;
  o.test_size = 10;
  const std::string text = summarize(o);
  EXPECT_NE(text.find("exact_match at length L = 3, test size n = 10, 10 replicates"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("3.500e+08"), std::string::npos);
  EXPECT_NE(text.find("2.000e+11"), std::string::npos);
  EXPECT_NE(text.find("Resolution frontier"), std::string::npos);
  EXPECT_NE(text.find("Emergence score of exact_match"), std::string::npos);
  o.metric = "token_edit_distance";
  EXPECT_NE(summarize(o).find("token_edit_distance at length L = 3"), std::string::npos);
}

TEST_F(SummarizeTest, RefusesWhatTheFileLacks) {
  SummarizeOptions o;
  o.path = path_;
  o.length = 7;
  EXPECT_THROW(summarize(o), std::invalid_argument);
  o.length = 0;
  o.test_size = 11;
  EXPECT_THROW(summarize(o), std::invalid_argument);
  o.test_size = 0;
  o.metric = "bleu";
  EXPECT_THROW(summarize(o), std::invalid_argument);
}

// A damaged file (arrays whose lengths disagree with the file's own axes, an empty axis, a
// type that is not the format's) is refused with a message naming the file and the dataset,
// never read out of bounds (io/shape_check.h; tests/python/test_damaged_files.py runs more
// damage through summarize, forecast, plot.py and mirage.open alike).
TEST_F(SummarizeTest, RefusesArraysThatDisagreeWithTheAxes) {
  // Replace one dataset of a copy of the file by a shorter or longer one, with the HDF5 C API.
  auto damaged = [&](const std::string& name, const std::string& dataset, hid_t type,
                     const void* data, hsize_t count) {
    const std::string copy = (dir_ / (name + ".h5")).string();
    std::filesystem::copy_file(path_, copy, std::filesystem::copy_options::overwrite_existing);
    const hid_t file = H5Fopen(copy.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT_GE(file, 0);
    EXPECT_GE(H5Ldelete(file, dataset.c_str(), H5P_DEFAULT), 0);
    const hid_t space = H5Screate_simple(1, &count, nullptr);
    const hid_t set = H5Dcreate2(file, dataset.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT);
    if (count > 0) H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(set);
    H5Sclose(space);
    H5Fclose(file);
    return copy;
  };
  const std::vector<double> five = {1, 2, 3, 4, 5};
  const std::vector<int32_t> none;
  struct Case {
    std::string name, dataset;
    hid_t type;
    const void* data;
    hsize_t count;
    std::string says;
  };
  const Case cases[] = {
      {"short_mean", "/summary/exact_match/mean", H5T_NATIVE_DOUBLE, five.data(), 5,
       "dataset /summary/exact_match/mean of shape (5,) has no dimension scale on axis 0"},
      {"long_scale", "/model/scale", H5T_NATIVE_DOUBLE, five.data(), 5,
       "dimension scale /model/scale has 5"},
      {"empty_length", "/task/length", H5T_NATIVE_INT32, none.data(), 0,
       "axis /task/length has shape (0,)"},
      {"short_expected", "/metrics/exact_match/expected", H5T_NATIVE_DOUBLE, five.data(), 5,
       "dataset /metrics/exact_match/expected of shape (5,) has no dimension scale"},
      {"float_lengths", "/task/length", H5T_NATIVE_DOUBLE, five.data(), 3,
       "dataset /task/length holds floating-point numbers, not integers"},
  };
  for (const Case& c : cases) {
    SummarizeOptions o;
    o.path = damaged(c.name, c.dataset, c.type, c.data, c.count);
    try {
      summarize(o);
      ADD_FAILURE() << c.name << ": a damaged file was summarized";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.says), std::string::npos) << c.name << ": " << what;
      EXPECT_NE(what.find(o.path), std::string::npos) << c.name << ": " << what;
    }
  }
}

TEST_F(SummarizeTest, RefusesForeignFilesAndUnknownVersions) {
  const std::string other = (dir_ / "other.h5").string();
  h5::write_atomically(
      other, [](h5::File& f) { f.attr("/", "filetype", std::string("openmc-statepoint")); });
  SummarizeOptions o;
  o.path = other;
  try {
    summarize(o);
    ADD_FAILURE() << "accepted a foreign file";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not a Mirage result file"), std::string::npos)
        << e.what();
  }
  h5::write_atomically(other, [](h5::File& f) {
    f.attr("/", "filetype", std::string(RESULT_FILETYPE));
    f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR + 1, 0});
  });
  try {
    summarize(o);
    ADD_FAILURE() << "accepted an unknown major version";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2.0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mirage
