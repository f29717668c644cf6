// Copyright (c) Mirage developers.
// The analyses of DESIGN.md section 5 on simulated data: interval coverage against the exact
// binomial coverage sum, the resolution frontier against its formula, emergence scores, and
// `mirage summarize`.
#include <gtest/gtest.h>
#include <unistd.h>

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
#include "cli/summarize.h"

namespace mirage {
namespace {

Config quiet_cpu(Config c) {
  c.backend = "cpu";
  c.quiet = true;
  return c;
}

// Simulated coverage of Wilson, Clopper-Pearson and Wald equals the exact binomial coverage
// sum_x P(X = x) [p in CI(x)] within 4 Monte Carlo standard errors, at small and moderate
// accuracies where the methods differ most (Brown, Cai & DasGupta 2001).
TEST(Coverage, SimulatedEqualsExactBinomialCoverage) {
  Config c = default_config();
  const double targets[] = {0.03, 0.2};
  c.scales.clear();
  for (double p : targets) c.scales.push_back(scale_for_loss(c, -std::log(p)));
  c.lengths = {1};
  c.test_sizes = {20, 100};
  c.replicates = 4000;
  c.seed = 77;
  const Results results = simulate(quiet_cpu(c), "test", nullptr);
  ASSERT_EQ(results.interval_comparison.size(), 5u);
  int checked = 0;
  for (const IntervalComparison& ic : results.interval_comparison) {
    const IntervalMethod method = parse_interval_method(ic.method);
    if (method != IntervalMethod::WILSON && method != IntervalMethod::CLOPPER_PEARSON &&
        method != IntervalMethod::WALD) {
      continue;
    }
    for (int32_t s = 0; s < 2; ++s) {
      const double p = results.model.p_token[s];
      EXPECT_NEAR(p, targets[s], 1e-12);
      for (int32_t t = 0; t < 2; ++t) {
        const double exact = exact_binomial_coverage(method, c.test_sizes[t], p, c.confidence);
        const double simulated = ic.coverage[size_t(s) * 2 + t];
        const double se = std::sqrt(exact * (1 - exact) / c.replicates);
        EXPECT_LT(std::fabs(simulated - exact), 4 * se + 1e-12)
            << ic.method << " n " << c.test_sizes[t] << " p " << p << ": simulated " << simulated
            << " exact " << exact;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 12);
  // And the contrast the comparison exists to show: Wald collapses at n = 20, p = 0.03.
  EXPECT_LT(exact_binomial_coverage(IntervalMethod::WALD, 20, 0.03, 0.95), 0.6);
  EXPECT_GT(exact_binomial_coverage(IntervalMethod::WILSON, 20, 0.03, 0.95), 0.9);
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
