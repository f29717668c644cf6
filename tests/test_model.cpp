// Copyright (c) Mirage developers.
// Measured loss curves: interpolation, extrapolation, and refusal of bad tables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "stats/analysis.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
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
