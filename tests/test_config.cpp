// Copyright (c) Mirage developers.
// Parsing and validation: every bad input is refused with a message naming the option, the
// value and what is allowed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "config/config.h"

namespace mirage {
namespace {

// Expects validate() to throw std::invalid_argument whose message contains every fragment.
void expect_refused(const Config& config, std::initializer_list<const char*> fragments) {
  try {
    validate(config);
    ADD_FAILURE() << "accepted a bad config; expected a message with " << *fragments.begin();
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const char* fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message '" << message << "' lacks '" << fragment << "'";
    }
  }
}

Config valid() {
  Config c = default_config();
  c.output = ::testing::TempDir() + "/mirage_config_test.h5";
  return c;
}

TEST(Config, DefaultsAreDesignDefaults) {
  const Config c = default_config();
  ASSERT_EQ(c.scales.size(), 41u);
  EXPECT_DOUBLE_EQ(c.scales.front(), 1e8);
  EXPECT_DOUBLE_EQ(c.scales.back(), 1e13);
  EXPECT_NEAR(c.scales[8], 1e9, 1e9 * 1e-12);  // 8 points per decade
  EXPECT_EQ(c.lengths, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(c.test_sizes, (std::vector<int64_t>{10, 100, 1000, 10000, 100000}));
  EXPECT_EQ(c.replicates, 100);
  EXPECT_DOUBLE_EQ(c.loss_scale, 2e9);
  EXPECT_DOUBLE_EQ(c.loss_exponent, -0.5);
  EXPECT_NO_THROW(validate(valid()));
}

TEST(Config, ParsesNumbersStrictly) {
  EXPECT_DOUBLE_EQ(parse_double("--loss-scale", "2e9"), 2e9);
  EXPECT_EQ(parse_integer("--test-sizes", "1e5"), 100000);
  EXPECT_EQ(parse_integer("--test-sizes", "123"), 123);
  for (const char* bad : {"1e9x", "", "abc", "1.5.2", " 3", "nan", "inf", "1e999"}) {
    EXPECT_THROW(parse_double("--loss-scale", bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(parse_integer("--test-sizes", "1.5"), std::invalid_argument);
  EXPECT_THROW(parse_integer("--test-sizes", "10x"), std::invalid_argument);
  try {
    parse_double("--loss-scale", "1e9x");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "--loss-scale: value '1e9x' is not a number");
  }
}

TEST(Config, ParsesScaleListsAndGrids) {
  EXPECT_EQ(parse_scales("--scales", {"1e8", "1e9"}), (std::vector<double>{1e8, 1e9}));
  const std::vector<double> grid = parse_scales("--scales", {"1e7:1e12:6"});
  ASSERT_EQ(grid.size(), 6u);
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(grid[i], std::pow(10.0, 7 + i), std::pow(10.0, 7 + i) * 1e-13);
  EXPECT_THROW(parse_scales("--scales", {"1e7:1e12"}), std::invalid_argument);
  EXPECT_THROW(parse_scales("--scales", {"1e7:1e12:1"}), std::invalid_argument);
  EXPECT_THROW(parse_scales("--scales", {"1e12:1e7:5"}), std::invalid_argument);
  EXPECT_THROW(parse_scales("--scales", {"0:1e7:5"}), std::invalid_argument);
  EXPECT_THROW(parse_scales("--scales", {"1e7:1e12:5:3"}), std::invalid_argument);
}

TEST(Config, RefusesBadScales) {
  Config c = valid();
  c.scales = {1e9, 1e8};
  expect_refused(c, {"--scales", "100000000", "strictly increasing"});
  c.scales = {-1.0, 1e8};
  expect_refused(c, {"--scales", "-1", "> 0"});
  c.scales = {0.0};
  expect_refused(c, {"--scales", "> 0"});
  c.scales = {1e8, std::numeric_limits<double>::quiet_NaN()};
  expect_refused(c, {"--scales", "nan", "finite"});
  c.scales = {1e8, std::numeric_limits<double>::infinity()};
  expect_refused(c, {"--scales", "inf"});
  c.scales = {};
  expect_refused(c, {"--scales", "at least one"});
}

TEST(Config, RefusesBadModel) {
  Config c = valid();
  c.loss_scale = 0;
  expect_refused(c, {"--loss-scale", "0", "> 0"});
  c = valid();
  c.loss_scale = std::numeric_limits<double>::quiet_NaN();
  expect_refused(c, {"--loss-scale", "nan"});
  c = valid();
  c.loss_exponent = 0.0;
  expect_refused(c, {"--loss-exponent", "0", "< 0"});
  c.loss_exponent = 0.5;
  expect_refused(c, {"--loss-exponent", "0.5"});
  c = valid();
  c.preset = "gpt4";
  expect_refused(c, {"--preset", "gpt4", "gpt3"});
}

TEST(Config, RefusesBadTask) {
  Config c = valid();
  c.lengths = {0, 1};
  expect_refused(c, {"--lengths", "0", "1 to 4096"});
  c.lengths = {3, 2};
  expect_refused(c, {"--lengths", "strictly increasing"});
  c.lengths = {5000};
  expect_refused(c, {"--lengths", "5000"});
  c = valid();
  c.test_sizes = {100, 10};
  expect_refused(c, {"--test-sizes", "10", "nested", "strictly increasing"});
  c.test_sizes = {0};
  expect_refused(c, {"--test-sizes", "0"});
  c.test_sizes = {int64_t{1} << 35};
  expect_refused(c, {"--test-sizes", "2^34"});
  c = valid();
  c.replicates = 0;
  expect_refused(c, {"--replicates", "0", "at least 1"});
}

TEST(Config, RefusesBadDifficultyAndTask) {
  Config c = valid();
  for (const char* bad : {"normal:-0.5", "normal:51", "normal:nan", "normal:", "normal",
                          "normal:1:2", "logistic:x", "kumaraswamy:0.5", "kumaraswamy:0:1",
                          "kumaraswamy:1:101", "beta:1:2", "", "none:1"}) {
    c.difficulty = bad;
    const std::string quoted = "'" + std::string(bad) + "'";
    expect_refused(c, {"--difficulty", quoted.c_str(), "normal:SIGMA", "kumaraswamy:A:B"});
  }
  for (const char* good : {"none", "normal:1.5", "logistic:0.3", "kumaraswamy:0.3:2"}) {
    c.difficulty = good;
    EXPECT_NO_THROW(validate(c)) << good;
  }
  c = valid();
  c.task = "essay";
  expect_refused(c, {"--task", "essay", "free-form, multiple-choice"});
  c = valid();
  c.choices = 1;
  expect_refused(c, {"--choices", "1", "2 to 64"});
  c.choices = 65;
  expect_refused(c, {"--choices", "65", "2 to 64"});
}

TEST(Config, RefusesBadExecutionAndStatistics) {
  Config c = valid();
  c.backend = "tpu";
  expect_refused(c, {"--backend", "tpu", "auto, cpu, cuda"});
  c = valid();
  c.interval = "bayes";
  expect_refused(c, {"--interval", "bayes", "wilson"});
  c = valid();
  c.confidence = 1.0;
  expect_refused(c, {"--confidence", "1", "(0, 1)"});
  c.confidence = 0.0;
  expect_refused(c, {"--confidence", "(0, 1)"});
  c.confidence = std::numeric_limits<double>::quiet_NaN();
  expect_refused(c, {"--confidence", "nan"});
  c = valid();
  c.threads = -1;
  expect_refused(c, {"--threads", "-1"});
  c = valid();
  c.items_per_unit = 6;
  expect_refused(c, {"--items-per-unit", "6", "multiple of 4"});
}

TEST(Config, RefusesSweepsThatDoNotFitInMemory) {
  Config c = valid();
  c.replicates = 2000000000;
  c.scales = default_scales();
  expect_refused(c, {"--replicates", "GiB", "41 scales", "2000000000 replicates", "allowed"});
}

TEST(Config, RefusesUnwritableOutput) {
  Config c = valid();
  // A regular file where a directory should be: unwritable even for root.
  const std::string file = ::testing::TempDir() + "/mirage_not_a_directory";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  c.output = file + "/result.h5";
  expect_refused(c, {"--output", "cannot write", "not a directory"});
  c.output = ::testing::TempDir();
  expect_refused(c, {"--output", "is a directory"});
  c = valid();
  c.csv = file + "/summary.csv";
  expect_refused(c, {"--csv", "not a directory"});
}

TEST(Config, TomlListsEveryKey) {
  Config c = valid();
  c.csv = "out.csv";
  const std::string toml = to_toml(c);
  for (const char* key :
       {"[run]", "scales = [100000000, ", "loss-scale = 2000000000", "loss-exponent = -0.5",
        "lengths = [1, 2, 3, 4, 5]", "test-sizes = [10, 100, 1000, 10000, 100000]",
        "replicates = 100", "seed = 2023", "backend = \"auto\"", "interval = \"wilson\"",
        "confidence = 0.95", "csv = \"out.csv\""}) {
    EXPECT_NE(toml.find(key), std::string::npos) << key << " not in\n" << toml;
  }
}

}  // namespace
}  // namespace mirage
