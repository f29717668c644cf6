// Copyright (c) Mirage developers.
// Statistical correctness of the whole pipeline on the default grid: the simulated means of
// exact match and token edit distance agree with the analytic values p^L and L(1-p) within
// 4 standard errors at every (scale, length). Fixed seed, so the outcome is deterministic.
#include <gtest/gtest.h>

#include <cmath>

#include "cli/commands.h"
#include "config/config.h"
#include "mirage/model.h"
#include "stats/reduction.h"

namespace mirage {
namespace {

TEST(Simulation, MeansWithinFourStandardErrorsAcrossDefaultGrid) {
  Config config = default_config();  // 41 scales 1e8..1e13, lengths 1..5
  config.test_sizes = {100000};
  config.replicates = 10;
  config.seed = 31337;
  config.backend = "cpu";
  config.quiet = true;
  const Results results = simulate(config, "test", nullptr);
  const MetricResult* exact = results.metric("exact_match");
  const MetricResult* edit = results.metric("token_edit_distance");
  const MetricResult* accuracy = results.metric("token_accuracy");
  ASSERT_NE(exact, nullptr);
  ASSERT_NE(edit, nullptr);
  ASSERT_NE(accuracy, nullptr);
  const int32_t K = results.num_lengths();
  const double items = double(config.test_sizes[0]) * config.replicates;
  int checked = 0;
  for (int32_t s = 0; s < results.num_scales(); ++s) {
    // The sampled probability is T/2^32, within 2^-32 of p.
    const double p = threshold_probability(results.model.threshold[s]);
    for (int32_t k = 0; k < K; ++k) {
      const int32_t L = config.lengths[k];
      const size_t g = size_t(s) * K + k;  // T = 1
      const double a = std::pow(p, L);
      const double se_exact = std::sqrt(a * (1 - a) / items);
      if (se_exact > 0) {
        EXPECT_LT(std::fabs(exact->summary.mean[g] - a) / se_exact, 4.0)
            << "exact match, scale " << results.model.scale[s] << " L " << L;
      }
      const double d = L * (1 - p);
      const double se_edit = std::sqrt(L * p * (1 - p) / items);
      if (se_edit > 0) {
        EXPECT_LT(std::fabs(edit->summary.mean[g] - d) / se_edit, 4.0)
            << "edit distance, scale " << results.model.scale[s] << " L " << L;
      }
      const double se_accuracy = std::sqrt(p * (1 - p) / (L * items));
      if (se_accuracy > 0) {
        EXPECT_LT(std::fabs(accuracy->summary.mean[g] - p) / se_accuracy, 4.0)
            << "token accuracy, scale " << results.model.scale[s] << " L " << L;
      }
      EXPECT_DOUBLE_EQ(exact->expected[g], std::pow(results.model.p_token[s], L));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 41 * 5);
}

// The estimates are exactly the tallies divided as docs/DESIGN.md §4 says.
TEST(Simulation, EstimatesFollowFromTallies) {
  Config config = default_config();
  config.scales = {1e9, 1e10};
  config.lengths = {1, 3};
  config.test_sizes = {10, 50};
  config.replicates = 4;
  config.backend = "cpu";
  config.quiet = true;
  const Results results = simulate(config, "test", nullptr);
  const MetricResult* exact = results.metric("exact_match");
  const MetricResult* edit = results.metric("token_edit_distance");
  const MetricResult* accuracy = results.metric("token_accuracy");
  const size_t cells = results.counts.exact_match.size();
  ASSERT_EQ(cells, size_t(2 * 2 * 2 * 4));
  for (size_t c = 0; c < cells; ++c) {
    const int32_t t = int32_t((c / 4) % 2);
    const int32_t k = int32_t((c / 8) % 2);
    const double n = double(config.test_sizes[t]);
    const double L = config.lengths[k];
    EXPECT_DOUBLE_EQ(exact->estimate[c], results.counts.exact_match[c] / n);
    EXPECT_DOUBLE_EQ(edit->estimate[c], results.counts.token_errors[c] / n);
    EXPECT_NEAR(accuracy->estimate[c], 1.0 - results.counts.token_errors[c] / (n * L), 1e-15);
    EXPECT_LE(exact->ci_low[c], exact->estimate[c]);
    EXPECT_GE(exact->ci_high[c], exact->estimate[c]);
  }
}

}  // namespace
}  // namespace mirage
