// Copyright (c) Mirage developers.
// Measured loss curves: interpolation, extrapolation, and refusal of bad tables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <boost/math/distributions/normal.hpp>

#include "stats/analysis.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "model/difficulty.h"
#include "model/loss_table.h"
#include "mirage/model.h"
#include "mirage/sampler.h"
#include "run/simulation.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

const LossTable TABLE{{1e8, 1e9, 1e10, 1e11}, {3.0, 2.4, 2.1, 1.9}};

TEST(LossTable, HitsThePointsExactly) {
  for (size_t i = 0; i < TABLE.scale.size(); ++i) {
    EXPECT_EQ(table_loss(TABLE, TABLE.scale[i]), TABLE.loss[i]);
    EXPECT_EQ(table_scale_for_loss(TABLE, TABLE.loss[i]), TABLE.scale[i]);
  }
}

TEST(LossTable, IsLinearInLogLogAndMonotoneBetweenPoints) {
  // Midpoint in log N is the geometric mean of the neighbouring losses.
  EXPECT_NEAR(table_loss(TABLE, std::sqrt(1e8 * 1e9)), std::sqrt(3.0 * 2.4), 1e-12);
  double previous = table_loss(TABLE, 1e8);
  for (double x = 8.0; x <= 11.0; x += 0.01) {
    const double loss = table_loss(TABLE, std::pow(10.0, x));
    EXPECT_LE(loss, previous * (1 + 1e-14)) << "at 1e" << x;
    EXPECT_GE(loss, 1.9 * (1 - 1e-14));
    EXPECT_LE(loss, 3.0 * (1 + 1e-14));
    previous = loss;
  }
  // The inverse inverts.
  for (double loss : {2.95, 2.5, 2.0, 1.95}) {
    EXPECT_NEAR(table_loss(TABLE, table_scale_for_loss(TABLE, loss)), loss, 1e-12);
  }
}

TEST(LossTable, ExtrapolatesTheEndSegmentsPowerLaws) {
  // Beyond the last point the last segment's slope continues: one more decade multiplies
  // the loss by 1.9 / 2.1 again.
  EXPECT_NEAR(table_loss(TABLE, 1e12), 1.9 * 1.9 / 2.1, 1e-12);
  EXPECT_NEAR(table_loss(TABLE, 1e7), 3.0 * 3.0 / 2.4, 1e-12);
}

class TableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        (fs::path(::testing::TempDir()) / ("mirage_table_" + std::to_string(::getpid()) + ".csv"))
            .string();
  }
  void TearDown() override { fs::remove(path_); }
  void expect_refused(const std::string& text, std::initializer_list<const char*> fragments) {
    std::ofstream(path_) << text;
    try {
      read_loss_table(path_);
      ADD_FAILURE() << "accepted:\n" << text;
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("--loss-table: ", 0), 0u) << message;
      for (const char* f : fragments) {
        EXPECT_NE(message.find(f), std::string::npos) << "'" << message << "' lacks '" << f << "'";
      }
    }
  }
  std::string path_;
};

TEST_F(TableFile, ReadsHeaderCommentsAndExtraColumns) {
  std::ofstream(path_) << "# a comment\nname,loss,scale\na,3.0,1e8\n\nb,2.4,1e9\n";
  const LossTable t = read_loss_table(path_);
  EXPECT_EQ(t.scale, (std::vector<double>{1e8, 1e9}));
  EXPECT_EQ(t.loss, (std::vector<double>{3.0, 2.4}));
}

TEST_F(TableFile, RefusesEveryBadTable) {
  expect_refused("scale,loss\n1e8,3.0\n", {"1 row(s)", "at least 2"});
  expect_refused("scale,loss\n", {"0 row(s)"});
  expect_refused("", {"empty"});
  expect_refused("scale,entropy\n1e8,3\n1e9,2\n", {"header", "'scale' and 'loss'"});
  expect_refused("1e8,3.0\n1e9,2.0\n", {"header"});
  expect_refused("scale,loss\n-1e8,3.0\n1e9,2.0\n", {"row 1", "> 0"});
  expect_refused("scale,loss\n0,3.0\n1e9,2.0\n", {"row 1", "> 0"});
  expect_refused("scale,loss\n1e9,3.0\n1e8,2.0\n", {"row 2", "strictly increasing"});
  expect_refused("scale,loss\n1e8,3.0\n1e8,2.0\n", {"row 2", "strictly increasing"});
  expect_refused("scale,loss\n1e8,0\n1e9,2.0\n", {"row 1", "losses must be finite and > 0"});
  expect_refused("scale,loss\n1e8,-2\n1e9,2.0\n", {"losses must be"});
  expect_refused("scale,loss\n1e8,nan\n1e9,2.0\n", {"line 2", "nan"});
  expect_refused("scale,loss\n1e8,3.0x\n1e9,2.0\n", {"line 2", "3.0x", "not a number"});
  expect_refused("scale,loss\n1e8\n1e9,2.0\n", {"line 2", "missing a column"});
  EXPECT_THROW(read_loss_table(path_ + ".missing"), std::invalid_argument);
}

TEST(LossTableConfig, ScalesOutsideTheTableNeedExtrapolate) {
  Config c = default_config();
  c.output = ::testing::TempDir() + "/mirage_model_test.h5";
  c.loss_table_scales = TABLE.scale;
  c.loss_table_losses = TABLE.loss;
  c.scales = {1e8, 1e9, 1e12};
  try {
    validate(c);
    ADD_FAILURE() << "accepted a scale outside the table";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--extrapolate"), std::string::npos) << e.what();
  }
  c.extrapolate = true;
  EXPECT_NO_THROW(validate(c));
  const ModelTable model = make_model(c);
  EXPECT_EQ(model.loss[0], 3.0);
  EXPECT_EQ(model.loss[1], 2.4);
  EXPECT_NEAR(model.loss[2], 1.9 * 1.9 / 2.1, 1e-12);
  EXPECT_EQ(model.p_token[1], std::exp(-2.4));
  // The exact frontier inverts the table.
  EXPECT_NEAR(scale_for_loss(c, 2.4), 1e9, 1e-3);
}

TEST(LossTableConfig, StoredConfigurationCarriesTheTable) {
  Config c = default_config();
  c.loss_table_scales = TABLE.scale;
  c.loss_table_losses = TABLE.loss;
  c.scales = {1e8, 3e8, 1e11};
  const Config back = config_from_toml(to_toml(c), "test");
  EXPECT_EQ(back.loss_table_scales, c.loss_table_scales);
  EXPECT_EQ(back.loss_table_losses, c.loss_table_losses);
  EXPECT_EQ(back.scales, c.scales);
  EXPECT_EQ(sampling_identity(back), sampling_identity(c));
  EXPECT_NE(sampling_identity(back).find("loss-table-losses = [3, 2.4, 2.1, 1.9]"),
            std::string::npos);
}

// The example table ships with the project and is valid.
TEST(LossTableConfig, ExampleTableReads) {
  const LossTable t =
      read_loss_table(std::string(MIRAGE_SOURCE_DIR) + "/examples/chinchilla_loss.csv");
  EXPECT_EQ(t.scale.size(), 8u);
  EXPECT_EQ(t.scale.front(), 7e7);
  EXPECT_EQ(t.loss.back(), 1.9366);
}

}  // namespace
}  // namespace mirage

// ---------------------------------------------------------------------------------------
// Item difficulty and multiple choice.

namespace mirage {
namespace {

TEST(Difficulty, BinsHaveEqualMassAndConditionalMedians) {
  for (int32_t B : {1, 7, 256}) {
    const DifficultyBins bins = make_difficulty_bins(1.5, B);
    ASSERT_EQ(bins.probability.size(), size_t(B));
    double total = 0.0;
    for (int32_t b = 0; b < B; ++b) {
      // Exact sampler probabilities: within one word (2^-32) of 1/B.
      EXPECT_NEAR(bins.probability[b], 1.0 / B, 0x1p-32) << "B " << B << " bin " << b;
      total += bins.probability[b];
      // The representative splits the bin's mass in half: Phi(rep / sigma) = (b + 1/2) / B
      // (Boost.Math normal CDF, independent of the quantile used to build it).
      const boost::math::normal_distribution<double> normal(0.0, 1.5);
      EXPECT_NEAR(boost::math::cdf(normal, bins.representative[b]), (b + 0.5) / B, 1e-12);
      // Symmetric about 0.
      EXPECT_NEAR(bins.representative[b], -bins.representative[B - 1 - b], 1e-12);
    }
    EXPECT_NEAR(total, 1.0, 1e-15);
  }
  // 256 divides 2^32: exactly equal.
  const DifficultyBins bins = make_difficulty_bins(1.0, 256);
  for (double p : bins.probability) EXPECT_EQ(p, 1.0 / 256);
  // The sampler's bin of a word: floor(u B / 2^32).
  EXPECT_EQ(difficulty_bin(0u, 256), 0u);
  EXPECT_EQ(difficulty_bin(0xffffffffu, 256), 255u);
  EXPECT_EQ(difficulty_bin(0x80000000u, 3), 1u);
}

TEST(Difficulty, ShiftedProbability) {
  EXPECT_DOUBLE_EQ(shifted_probability(0.5, 0.0), 0.5);
  EXPECT_NEAR(shifted_probability(0.5, std::log(3.0)), 0.75, 1e-15);       // odds 1 -> 3
  EXPECT_NEAR(shifted_probability(0.2, -std::log(4.0)), 1.0 / 17, 1e-15);  // odds 1/4 -> 1/16
  EXPECT_EQ(shifted_probability(0.0, 5.0), 0.0);
  EXPECT_EQ(shifted_probability(1.0, -5.0), 1.0);
}

TEST(MultipleChoice, GradeAndBrierByHand) {
  EXPECT_EQ(choice_grade(0.3, 4), 1.0);
  EXPECT_EQ(choice_grade(0.25, 4), 0.0);  // ties with the distractors: not the largest mass
  EXPECT_EQ(choice_grade(0.5, 2), 0.0);
  EXPECT_EQ(choice_grade(0.51, 2), 1.0);
  // (1 - q)^2 + (K - 1) ((1 - q) / (K - 1))^2
  EXPECT_NEAR(brier_score(0.3, 4), 0.49 + 3 * (0.7 / 3) * (0.7 / 3), 1e-15);
  EXPECT_NEAR(brier_score(0.5, 2), 0.5, 1e-15);
  EXPECT_EQ(brier_score(1.0, 5), 0.0);
  EXPECT_NEAR(brier_score(0.0, 4), 1.0 + 1.0 / 3, 1e-15);
}

Config small_sweep() {
  Config c = default_config();
  c.scales = parse_scales("--scales", {"1e8:1e12:9"});
  c.lengths = {1, 3, 5};
  c.test_sizes = {2000};
  c.replicates = 20;
  c.seed = 8080;
  c.backend = "cpu";
  c.quiet = true;
  return c;
}

// Sigma = 0 leaves the token stream untouched: these sums were recorded from mirage before
// item difficulty existed (sample_unit_reference of commit 74b1e17) for small_sweep().
constexpr int64_t PINNED_EXACT = 419320;
constexpr int64_t PINNED_ERRORS = 1457024;
constexpr int64_t PINNED_ERRORS_SQ = 4472522;
TEST(Difficulty, ZeroSigmaReproducesThePinnedTallies) {
  Config c = small_sweep();
  const Results r = simulate(c, "test", nullptr);
  int64_t exact = 0, errors = 0, errors_sq = 0;
  for (size_t i = 0; i < r.counts.exact_match.size(); ++i) {
    exact += r.counts.exact_match[i];
    errors += r.counts.token_errors[i];
    errors_sq += r.counts.token_errors_sq[i];
  }
  EXPECT_EQ(exact, PINNED_EXACT);
  EXPECT_EQ(errors, PINNED_ERRORS);
  EXPECT_EQ(errors_sq, PINNED_ERRORS_SQ);
  EXPECT_TRUE(r.counts.difficulty_bin.empty());
}

// With sigma > 0 the simulated means match the bin-averaged analytic values within 4 SE at
// every (scale, length); per-item variances of the mixture computed here independently.
TEST(Difficulty, MeansMatchBinAveragedValues) {
  Config c = small_sweep();
  c.difficulty_sd = 1.5;
  c.difficulty_bins = 64;
  const Results r = simulate(c, "test", nullptr);
  ASSERT_EQ(r.model.num_bins(), 64);
  const MetricResult* exact = r.metric("exact_match");
  const MetricResult* edit = r.metric("token_edit_distance");
  const double items = double(c.test_sizes[0]) * c.replicates;
  const int32_t K = r.num_lengths();
  for (int32_t s = 0; s < r.num_scales(); ++s) {
    for (int32_t k = 0; k < K; ++k) {
      const int32_t L = c.lengths[k];
      double a = 0, e1 = 0, e2 = 0;
      for (int32_t b = 0; b < 64; ++b) {
        const double w = r.model.bin_probability[b];
        const double p = threshold_probability(r.model.bin_threshold[size_t(s) * 64 + b]);
        a += w * std::pow(p, L);
        e1 += w * L * (1 - p);
        e2 += w * (L * p * (1 - p) + L * L * (1 - p) * (1 - p));
      }
      const size_t g = size_t(s) * K + k;
      EXPECT_NEAR(exact->expected[g], a, 1e-9);
      if (a > 0 && a < 1) {
        EXPECT_LT(std::fabs(exact->summary.mean[g] - a) / std::sqrt(a * (1 - a) / items), 4.0)
            << "scale " << c.scales[s] << " L " << L;
      }
      const double var = e2 - e1 * e1;
      EXPECT_LT(std::fabs(edit->summary.mean[g] - e1) / std::sqrt(var / items), 4.0)
          << "scale " << c.scales[s] << " L " << L;
    }
  }
  // Bins are counted once per item and replicate.
  int64_t counted = 0;
  for (int64_t x : r.counts.difficulty_bin) counted += x;
  EXPECT_EQ(counted, int64_t(c.test_sizes[0]) * c.replicates);
}

// A spread of difficulty smooths exact match: at the scale where p^5 = 1/2 for the average
// item, the curve's slope in log N is lower with sigma = 2 than with sigma = 0.
TEST(Difficulty, SpreadSmoothsExactMatch) {
  Config c = small_sweep();
  c.scales = parse_scales("--scales", {"1e9:1e12:31"});
  c.lengths = {5};
  c.replicates = 2;
  c.test_sizes = {100};
  const Results sharp = simulate(c, "test", nullptr);
  c.difficulty_sd = 2.0;
  const Results smooth = simulate(c, "test", nullptr);
  double steepest_sharp = 0, steepest_smooth = 0;
  for (int32_t s = 1; s < 31; ++s) {
    steepest_sharp = std::max(steepest_sharp, sharp.metric("exact_match")->expected[s] -
                                                  sharp.metric("exact_match")->expected[s - 1]);
    steepest_smooth = std::max(steepest_smooth, smooth.metric("exact_match")->expected[s] -
                                                    smooth.metric("exact_match")->expected[s - 1]);
  }
  EXPECT_LT(steepest_smooth, 0.8 * steepest_sharp);
}

TEST(MultipleChoice, WithoutDifficultyGradeIsAStepAndBrierIsSmooth) {
  Config c = small_sweep();
  c.task = "multiple-choice";
  c.choices = 4;
  c.scales = parse_scales("--scales", {"1e8:1e12:41"});
  c.replicates = 3;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* grade = r.metric("multiple_choice_grade");
  const MetricResult* brier = r.metric("brier_score");
  ASSERT_NE(grade, nullptr);
  ASSERT_NE(brier, nullptr);
  const int32_t K = r.num_lengths();
  for (int32_t s = 0; s < r.num_scales(); ++s) {
    for (int32_t k = 0; k < K; ++k) {
      const double q = std::pow(r.model.p_token[s], c.lengths[k]);
      const size_t g = size_t(s) * K + k;
      // Every item is identical: the estimates equal the analytic values exactly.
      EXPECT_EQ(grade->summary.mean[g], q > 0.25 ? 1.0 : 0.0);
      EXPECT_NEAR(brier->summary.mean[g], brier_score(q, 4), 1e-12);
      EXPECT_NEAR(brier->expected[g], brier_score(q, 4), 1e-15);
    }
  }
  const Emergence* e_grade = r.emergence_of("multiple_choice_grade");
  const Emergence* e_brier = r.emergence_of("brier_score");
  ASSERT_NE(e_grade, nullptr);
  // The grade jumps (an infinite score: its median step is 0), the Brier score improves
  // smoothly (finite and positive, since the curve is -Brier).
  EXPECT_TRUE(std::isinf(e_grade->expected[2]));
  EXPECT_TRUE(std::isfinite(e_brier->expected[2]));
  EXPECT_GT(e_brier->expected[2], 0.0);
}

TEST(MultipleChoice, WithDifficultyMeansMatchAnalyticWithinFourSE) {
  Config c = small_sweep();
  c.task = "multiple-choice";
  c.choices = 4;
  c.difficulty_sd = 1.0;
  c.difficulty_bins = 32;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* grade = r.metric("multiple_choice_grade");
  const MetricResult* brier = r.metric("brier_score");
  const double items = double(c.test_sizes[0]) * c.replicates;
  const int32_t K = r.num_lengths();
  for (int32_t s = 0; s < r.num_scales(); ++s) {
    for (int32_t k = 0; k < K; ++k) {
      const size_t g = size_t(s) * K + k;
      double a = 0, m1 = 0, m2 = 0;
      for (int32_t b = 0; b < 32; ++b) {
        const double q = std::pow(r.model.bin_p_token[size_t(s) * 32 + b], c.lengths[k]);
        const double w = r.model.bin_probability[b];
        a += w * choice_grade(q, 4);
        m1 += w * brier_score(q, 4);
        m2 += w * brier_score(q, 4) * brier_score(q, 4);
      }
      EXPECT_NEAR(grade->expected[g], a, 1e-12);
      EXPECT_NEAR(brier->expected[g], m1, 1e-12);
      if (a > 0 && a < 1) {
        EXPECT_LT(std::fabs(grade->summary.mean[g] - a) / std::sqrt(a * (1 - a) / items), 4.0);
      }
      const double var = m2 - m1 * m1;
      if (var > 1e-15) {
        EXPECT_LT(std::fabs(brier->summary.mean[g] - m1) / std::sqrt(var / items), 4.0);
      }
    }
  }
}

}  // namespace
}  // namespace mirage
