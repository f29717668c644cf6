// Copyright (c) Mirage developers.
// The HDF5 file reads back with the schema, shapes and attributes of docs/DESIGN.md §6; the
// CSV is tidy; writing is atomic.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
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

// --compression none (the default) stores every dataset contiguously; gzip[:LEVEL] chunks and
// deflates the large ones at that level, and the values read back the same either way.
TEST_F(OutputTest, CompressionIsAStorageChoiceOnly) {
  config_.replicates = 2000;  // 3*2*4*2000 = 48000 cells > the chunking threshold
  results_ = simulate(config_, "mirage run", nullptr);
  auto layout = [&](const std::string& path, unsigned* level) {
    const h5::File f = h5::File::open_read(path);
    const hid_t dataset = H5Dopen2(f.id(), "/counts/exact_match", H5P_DEFAULT);
    EXPECT_GE(dataset, 0);
    const hid_t dcpl = H5Dget_create_plist(dataset);
    const H5D_layout_t kind = H5Pget_layout(dcpl);
    *level = 0;
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0, values[4] = {0, 0, 0, 0};
      size_t count = 4;
      if (H5Pget_filter2(dcpl, unsigned(i), &flags, &count, values, 0, nullptr, nullptr) ==
          H5Z_FILTER_DEFLATE) {
        *level = values[0];
      }
    }
    H5Pclose(dcpl);
    H5Dclose(dataset);
    return kind;
  };
  unsigned level = 99;
  write_hdf5(results_, config_.output);
  EXPECT_EQ(layout(config_.output, &level), H5D_CONTIGUOUS);
  EXPECT_EQ(level, 0u);
  const std::vector<double> plain = h5::File::open_read(config_.output).read_double("/metrics/exact_match/ci_high");
  for (const auto& [text, expected_level] :
       std::vector<std::pair<std::string, unsigned>>{{"gzip", 1}, {"gzip:6", 6}}) {
    results_.config.compression = text;
    const std::string path = (dir_ / ("compressed-" + std::to_string(expected_level) + ".h5"))
                                 .string();
    write_hdf5(results_, path);
    EXPECT_EQ(layout(path, &level), H5D_CHUNKED) << text;
    EXPECT_EQ(level, expected_level) << text;
    const std::vector<double> back = h5::File::open_read(path).read_double("/metrics/exact_match/ci_high");
    ASSERT_EQ(back.size(), plain.size());
    EXPECT_EQ(std::memcmp(back.data(), plain.data(), plain.size() * sizeof(double)), 0) << text;
  }
  EXPECT_EQ(parse_compression("--compression", "none"), 0);
  for (const std::string bad : {"gzip:0", "gzip:10", "zstd", "gzip:", "GZIP"}) {
    try {
      parse_compression("--compression", bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--compression: value '" + bad + "'"),
                std::string::npos)
          << e.what();
    }
  }
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
