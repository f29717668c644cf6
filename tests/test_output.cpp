// Copyright (c) Mirage developers.
// The HDF5 file reads back with the schema, shapes and attributes of DESIGN.md section 6; the
// CSV is tidy; writing is atomic.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "stats/reduction.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("mirage_output_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = default_config();
    config_.scales = {3.5e8, 1.3e9, 6.7e9};
    config_.lengths = {1, 4};
    config_.test_sizes = {10, 100, 1000, 5000};
    config_.replicates = 6;
    config_.backend = "cpu";
    config_.quiet = true;
    config_.output = (dir_ / "nested" / "out.h5").string();
    results_ = simulate(config_, "mirage run --test", nullptr);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  Config config_;
  Results results_;
};

TEST_F(OutputTest, HdfFileHasTheDesignSchema) {
  write_hdf5(results_, config_.output);
  const h5::File f = h5::File::open_read(config_.output);
  EXPECT_EQ(f.attr_string("/", "filetype"), "mirage-results");
  EXPECT_EQ(f.attr_int32s("/", "format_version"), (std::vector<int32_t>{1, 1}));
  for (const char* attr :
       {"mirage_version", "git_sha", "created_utc", "command_line", "backend", "devices"}) {
    EXPECT_FALSE(f.attr_string("/", attr).empty()) << attr;
  }
  EXPECT_EQ(f.attr_string("/", "command_line"), "mirage run --test");
  EXPECT_EQ(f.attr_string("/", "backend"), "cpu");
  EXPECT_EQ(f.attr_uint64("/", "seed"), config_.seed);
  EXPECT_GE(f.attr_double("/", "elapsed_s"), 0.0);
  EXPECT_NE(f.attr_string("/config", "config_toml").find("test-sizes = [10, 100, 1000, 5000]"),
            std::string::npos);

  const std::vector<hsize_t> S = {3}, K = {2}, T = {4}, SKTR = {3, 2, 4, 6}, SKT = {3, 2, 4},
                             SK = {3, 2};
  EXPECT_EQ(f.dims("/model/scale"), S);
  EXPECT_EQ(f.read_double("/model/scale"), config_.scales);
  EXPECT_EQ(f.dims("/model/loss"), S);
  EXPECT_EQ(f.read_double("/model/p_token"), results_.model.p_token);
  EXPECT_EQ(f.dims("/task/length"), K);
  EXPECT_EQ(f.read_int32("/task/length"), config_.lengths);
  EXPECT_EQ(f.dims("/task/test_size"), T);
  EXPECT_EQ(f.read_int64("/task/test_size"), config_.test_sizes);
  EXPECT_EQ(f.attr_int64("/task/test_size", "replicates"), 6);
  EXPECT_EQ(f.dims("/counts/exact_match"), SKTR);
  EXPECT_EQ(f.read_int64("/counts/exact_match"), results_.counts.exact_match);
  EXPECT_EQ(f.read_int64("/counts/token_errors"), results_.counts.token_errors);
  EXPECT_EQ(f.read_int64("/counts/token_errors_sq"), results_.counts.token_errors_sq);
  for (const std::string& metric : metric_names(config_)) {
    const std::string g = "/metrics/" + metric;
    for (const char* d : {"estimate", "ci_low", "ci_high"}) {
      EXPECT_EQ(f.dims(g + "/" + d), SKTR) << g << "/" << d;
      EXPECT_FALSE(f.attr_string(g + "/" + d, "interval").empty());
      EXPECT_DOUBLE_EQ(f.attr_double(g + "/" + d, "confidence"), 0.95);
    }
    EXPECT_EQ(f.read_double(g + "/estimate"), results_.metric(metric)->estimate);
    EXPECT_EQ(f.dims(g + "/expected"), SK);
    for (const char* d :
         {"mean", "sd", "q025", "q500", "q975", "p_zero", "coverage", "mean_ci_width"}) {
      EXPECT_EQ(f.dims("/summary/" + metric + "/" + d), SKT) << metric << "/" << d;
    }
  }
  EXPECT_EQ(f.attr_string("/metrics/exact_match/estimate", "interval"), "wilson");
  EXPECT_EQ(f.attr_string("/metrics/token_edit_distance/ci_low", "interval"), "wilson-deff");
}

TEST_F(OutputTest, LargeDatasetsAreChunkedAndCompressed) {
  config_.replicates = 2000;  // 3*2*4*2000 = 48000 cells > the chunking threshold
  results_ = simulate(config_, "mirage run", nullptr);
  write_hdf5(results_, config_.output);
  const h5::File f = h5::File::open_read(config_.output);
  const hid_t dataset = H5Dopen2(f.id(), "/counts/exact_match", H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  const hid_t dcpl = H5Dget_create_plist(dataset);
  EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  EXPECT_GT(H5Pget_nfilters(dcpl), 0);
  H5Pclose(dcpl);
  H5Dclose(dataset);
}

TEST_F(OutputTest, CsvIsTidy) {
  const std::string path = (dir_ / "summary.csv").string();
  write_csv(results_, path);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("scale,length,test_size,metric,kind,expected,mean,sd,q025,q500,q975,", 0),
            0u);
  int rows = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','),
              std::count(header.begin(), header.end(), ','));
  }
  EXPECT_EQ(rows, 3 * 3 * 2 * 4);  // metrics x S x K x T
}

TEST_F(OutputTest, FailedWriteLeavesNothingBehind) {
  const std::string path = (dir_ / "atomic.h5").string();
  EXPECT_THROW(h5::write_atomically(path,
                                    [](h5::File& f) {
                                      f.attr("/", "filetype", std::string("partial"));
                                      throw std::runtime_error("simulated crash");
                                    }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
  // An existing file survives a failed rewrite untouched.
  write_hdf5(results_, path);
  const auto size = fs::file_size(path);
  EXPECT_THROW(h5::write_atomically(path, [](h5::File&) { throw std::runtime_error("crash"); }),
               std::runtime_error);
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_EQ(h5::File::open_read(path).attr_string("/", "filetype"), "mirage-results");
}

TEST_F(OutputTest, ReaderRefusesNonHdfFiles) {
  const std::string path = (dir_ / "junk.h5").string();
  std::ofstream(path) << "not hdf5";
  EXPECT_THROW(h5::File::open_read(path), std::runtime_error);
  EXPECT_THROW(h5::File::open_read((dir_ / "missing.h5").string()), std::runtime_error);
}

}  // namespace
}  // namespace mirage
