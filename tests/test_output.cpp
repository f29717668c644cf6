// Copyright (c) Mirage developers.
// The HDF5 file reads back with the schema, shapes and attributes of docs/DESIGN.md §6; the
// CSV is tidy; writing is atomic.
#include <gtest/gtest.h>
#include <hdf5_hl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "h5_scales.h"
#include "cli/commands.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "stats/reduction.h"

namespace mirage {
namespace {

using testing_h5::attached_scales;

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
  EXPECT_EQ(f.attr_int32s("/", "format_version"), (std::vector<int32_t>{1, 6}));
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


// Every dataset's axes are named dimension scales in the netCDF-4 form (docs/FORMAT.md §1):
// each group holds its own copies of the coordinates, named after the dimension, with units.
TEST_F(OutputTest, DatasetsHaveNamedDimensions) {
  write_hdf5(results_, config_.output);
  const h5::File f = h5::File::open_read(config_.output);
  using Scales = std::vector<std::pair<std::string, std::string>>;
  const std::string g = "/summary/exact_match/";
  EXPECT_EQ(
      attached_scales(f.id(), g + "mean"),
      (Scales{{g + "scale", "scale"}, {g + "length", "length"}, {g + "test_size", "test_size"}}));
  const std::string m = "/metrics/exact_match/";
  EXPECT_EQ(attached_scales(f.id(), m + "estimate"), (Scales{{m + "scale", "scale"},
                                                             {m + "length", "length"},
                                                             {m + "test_size", "test_size"},
                                                             {m + "replicate", "replicate"}}));
  EXPECT_EQ(attached_scales(f.id(), "/jumps/exact_match/significant")[0],
            (std::pair<std::string, std::string>{"/jumps/exact_match/scale_pair", "scale_pair"}));
  // The original axis datasets are their own groups' coordinates.
  EXPECT_EQ(attached_scales(f.id(), "/model/loss"), (Scales{{"/model/scale", "scale"}}));
  for (const char* path : {"/model/scale", "/task/length", "/task/test_size"}) {
    const hid_t dataset = H5Dopen2(f.id(), path, H5P_DEFAULT);
    EXPECT_GT(H5DSis_scale(dataset), 0) << path;
    H5Dclose(dataset);
  }

  // The copies hold the axes' values, with units and descriptions.
  EXPECT_EQ(f.read_double(g + "scale"), config_.scales);
  EXPECT_EQ(f.read_int32(g + "length"), config_.lengths);
  EXPECT_EQ(f.read_int64(g + "test_size"), config_.test_sizes);
  EXPECT_EQ(f.read_int64(m + "replicate"), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  const std::vector<double> pair = f.read_double("/jumps/exact_match/scale_pair");
  ASSERT_EQ(pair.size(), 2u);
  EXPECT_DOUBLE_EQ(pair[0], std::sqrt(3.5e8 * 1.3e9));
  EXPECT_DOUBLE_EQ(pair[1], std::sqrt(1.3e9 * 6.7e9));
  EXPECT_EQ(f.attr_string("/model/scale", "units"), "parameters");
  EXPECT_EQ(f.attr_string(g + "scale", "units"), "parameters");
  EXPECT_EQ(f.attr_string(g + "length", "units"), "tokens");
  EXPECT_EQ(f.attr_string(g + "test_size", "units"), "items");
  EXPECT_EQ(f.attr_string(m + "replicate", "units"), "1");
  EXPECT_NE(f.attr_string("/jumps/exact_match/scale_pair", "description").find("geometric"),
            std::string::npos);

  // No dataset is left with an unnamed axis (netCDF-4 readers would invent phony dimensions).
  std::vector<std::string> datasets;
  H5Ovisit(
      f.id(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) {
          static_cast<std::vector<std::string>*>(data)->push_back("/" + std::string(name));
        }
        return 0;
      },
      &datasets);
  EXPECT_GT(datasets.size(), 100u);
  for (const std::string& path : datasets) {
    const hid_t dataset = H5Dopen2(f.id(), path.c_str(), H5P_DEFAULT);
    const bool is_scale = H5DSis_scale(dataset) > 0;
    H5Dclose(dataset);
    if (is_scale) continue;
    for (const auto& [scale, name] : attached_scales(f.id(), path)) {
      EXPECT_FALSE(name.empty()) << path;
      // netCDF-4: the scale lies in the dataset's own group.
      EXPECT_EQ(scale.substr(0, scale.rfind('/')), path.substr(0, path.rfind('/'))) << path;
    }
  }
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
