// Copyright (c) Mirage developers.
// The mirage executable end to end: exit codes, messages, config files, and that bad input
// leaves no output file behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "io/hdf5_file.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int code;
  std::string output;  // stdout and stderr together
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mirage_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Outcome mirage(const std::string& args) const {
    const std::string log = (dir_ / "log.txt").string();
    const std::string command = std::string(MIRAGE_BINARY) + " " + args + " > " + log + " 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  // A small, fast sweep writing into the test's directory.
  std::string small(const std::string& name = "r.h5") const {
    return "run --scales 1e8:1e12:5 --lengths 1,3 --test-sizes 10,100 --replicates 3 -q -o " +
           out(name);
  }
  void expect_bad_input(const std::string& args, std::initializer_list<const char*> fragments) {
    const Outcome o = mirage(args + " -q -o " + out("bad.h5"));
    EXPECT_EQ(o.code, 2) << args << "\n" << o.output;
    EXPECT_EQ(o.output.rfind("mirage: error: ", 0), 0u) << o.output;
    for (const char* fragment : fragments) {
      EXPECT_NE(o.output.find(fragment), std::string::npos)
          << args << ": message lacks '" << fragment << "':\n"
          << o.output;
    }
    EXPECT_FALSE(fs::exists(out("bad.h5"))) << args;
  }

  fs::path dir_;
};

TEST_F(CliTest, VersionHelpAndInfo) {
  Outcome o = mirage("--version");
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.output.rfind("mirage 0.", 0), 0u) << o.output;
  o = mirage("run --help");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.output.find("--test-sizes"), std::string::npos);
  o = mirage("info");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.output.find("cpu"), std::string::npos);
  EXPECT_NE(o.output.find("cuda"), std::string::npos);
}

TEST_F(CliTest, RunWritesFileAndCsv) {
  const Outcome o = mirage(small() + " --csv " + out("s.csv"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(fs::exists(out("r.h5")));
  EXPECT_TRUE(fs::exists(out("s.csv")));
  EXPECT_EQ(h5::File::open_read(out("r.h5")).dims("/counts/exact_match"),
            (std::vector<hsize_t>{5, 2, 2, 3}));
}

TEST_F(CliTest, PrintsTheSummaryTable) {
  const Outcome o = mirage(
      "run --preset gpt3 --lengths 1,5 --test-sizes 100,1000 --replicates 5 "
      "--backend cpu -o " +
      out("t.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("exact match"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("edit distance"), std::string::npos);
  EXPECT_NE(o.output.find("3.50e+08"), std::string::npos);
  EXPECT_NE(o.output.find("2.00e+11"), std::string::npos);
  EXPECT_NE(o.output.find("draws/s"), std::string::npos);
}

TEST_F(CliTest, AutoBackendFallsBackToCpuAndSaysSo) {
  const Outcome o =
      mirage("run --scales 1e9 --lengths 1 --test-sizes 10 --replicates 1 -o " + out("a.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("backend: cpu (auto"), std::string::npos) << o.output;
}

TEST_F(CliTest, CudaBackendWithoutDeviceFailsClearly) {
  const Outcome o = mirage(small() + " --backend cuda");
  // Where a GPU is present this succeeds; everywhere else it must fail clearly.
  if (o.code == 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("--backend: 'cuda' is not available"), std::string::npos) << o.output;
  EXPECT_FALSE(fs::exists(out("r.h5")));
}

TEST_F(CliTest, BadInputExitsWithCode2AndNoOutput) {
  expect_bad_input("run --scales 1e9,1e8", {"--scales", "strictly increasing"});
  expect_bad_input("run --scales -5,1e8", {"--scales", "> 0"});
  expect_bad_input("run --scales 1e9x", {"--scales", "'1e9x'", "not a number"});
  expect_bad_input("run --scales nan", {"--scales", "nan"});
  expect_bad_input("run --lengths 0,1", {"--lengths", "'0'"});
  expect_bad_input("run --test-sizes 100,10", {"--test-sizes", "strictly increasing"});
  expect_bad_input("run --replicates 0", {"--replicates", "'0'"});
  expect_bad_input("run --confidence 1.5", {"--confidence", "(0, 1)"});
  expect_bad_input("run --loss-scale 0", {"--loss-scale", "> 0"});
  expect_bad_input("run --loss-exponent 0.5", {"--loss-exponent", "< 0"});
  expect_bad_input("run --loss-scale inf", {"--loss-scale", "finite"});
  expect_bad_input("run --backend tpu", {"--backend", "tpu", "auto, cpu, cuda"});
  expect_bad_input("run --interval bayes", {"--interval", "bayes", "clopper-pearson"});
  expect_bad_input("run --replicates 2000000000", {"--replicates", "GiB"});
  expect_bad_input("run --preset gpt3 --scales 1e9", {"--preset", "--scales"});
  expect_bad_input("run --preset gpt4", {"--preset", "gpt4"});
  expect_bad_input("run --no-such-flag", {"--no-such-flag"});
}

TEST_F(CliTest, UnwritableOutputIsRefusedBeforeSampling) {
  std::ofstream(out("file")) << "x";
  const Outcome o = mirage("run -q -o " + out("file") + "/r.h5");
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("--output"), std::string::npos) << o.output;
}

TEST_F(CliTest, ConfigFileSetsKeysAndFlagsWin) {
  std::ofstream(out("c.toml")) << "[run]\nscales = \"1e8:1e12:4\"\nlengths = [1, 2, 7]\n"
                                  "test-sizes = [10, 20]\nreplicates = 2\nseed = 11\n";
  Outcome o = mirage("run --config " + out("c.toml") + " -q -o " + out("c.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  {
    const h5::File f = h5::File::open_read(out("c.h5"));
    EXPECT_EQ(f.read_int32("/task/length"), (std::vector<int32_t>{1, 2, 7}));
    EXPECT_EQ(f.dims("/counts/exact_match"), (std::vector<hsize_t>{4, 3, 2, 2}));
    EXPECT_EQ(f.attr_uint64("/", "seed"), 11u);
  }
  o = mirage("run --config " + out("c.toml") + " --lengths 4 --seed 12 -q -o " + out("d.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  const h5::File f = h5::File::open_read(out("d.h5"));
  EXPECT_EQ(f.read_int32("/task/length"), (std::vector<int32_t>{4}));
  EXPECT_EQ(f.attr_uint64("/", "seed"), 12u);
  // The resolved configuration in the file reproduces the run.
  std::ofstream(out("again.toml")) << f.attr_string("/config", "config_toml");
  o = mirage("run --config " + out("again.toml") + " -q -o " + out("e.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(h5::File::open_read(out("e.h5")).read_int64("/counts/token_errors"),
            f.read_int64("/counts/token_errors"));
}

// --keep-replicates N: the file stores the per-replicate arrays of the first N replicates
// (the summaries use all R); N is 1..R or all, refused on a shard (merge takes it), kept in the
// stored configuration, and the file reads back in summarize and forecast, which use the N
// stored replicates.
TEST_F(CliTest, KeepReplicatesStoresTheFirstOnes) {
  const std::string sweep = "run --scales 1e8:1e12:5 --lengths 1,3 --test-sizes 10,100 ";
  expect_bad_input(sweep + "--replicates 3 --keep-replicates 0",
                   {"--keep-replicates", "'0'", "1 to --replicates, or all"});
  expect_bad_input(sweep + "--replicates 3 --keep-replicates some",
                   {"--keep-replicates", "'some'", "or all"});
  expect_bad_input(sweep + "--replicates 3 --keep-replicates 4",
                   {"--keep-replicates", "4", "at most --replicates (3)"});
  expect_bad_input(sweep + "--replicates 3 --keep-replicates 2 --shard 0/2",
                   {"--keep-replicates", "shard", "mirage merge"});

  Outcome o = mirage(sweep + "--replicates 3 --keep-replicates all -q -o " + out("all.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(h5::File::open_read(out("all.h5")).attr_int64("/task/test_size", "replicates_stored"),
            3);
  o = mirage(sweep + "--replicates 5 --keep-replicates 2 -q -o " + out("kept.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  const h5::File f = h5::File::open_read(out("kept.h5"));
  EXPECT_EQ(f.attr_int64("/task/test_size", "replicates"), 5);
  EXPECT_EQ(f.attr_int64("/task/test_size", "replicates_stored"), 2);
  EXPECT_EQ(f.dims("/metrics/exact_match/estimate"), (std::vector<hsize_t>{5, 2, 2, 2}));
  EXPECT_EQ(f.dims("/jumps/token_accuracy/significant"), (std::vector<hsize_t>{4, 2, 2, 2}));
  EXPECT_EQ(f.dims("/emergence/exact_match/score"), (std::vector<hsize_t>{2, 2, 2}));
  EXPECT_EQ(f.dims("/summary/exact_match/mean"), (std::vector<hsize_t>{5, 2, 2}));
  const std::string toml = f.attr_string("/config", "config_toml");
  EXPECT_NE(toml.find("keep-replicates = 2"), std::string::npos) << toml;
  // The stored configuration runs again to the same file contents.
  std::ofstream(out("again.toml")) << toml;
  o = mirage("run --config " + out("again.toml") + " -q -o " + out("again.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(h5::File::open_read(out("again.h5")).read_double("/metrics/token_accuracy/ci_low"),
            f.read_double("/metrics/token_accuracy/ci_low"));
  o = mirage("summarize " + out("kept.h5"));
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("5 replicates"), std::string::npos) << o.output;
  o = mirage("forecast " + out("kept.h5") + " --fit-below 2e10 -q -o " + out("f.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(h5::File::open_read(out("f.h5")).attr_int64("/forecast/test_size", "replicates"), 2);
  // bench times the output as run writes it and says so, in its table and its JSON.
  o = mirage("bench --sweep replicates --draws 2e6 --threads 1 --keep-replicates 2 --json " +
             out("b.json"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("compression none, replicates stored 2 of "), std::string::npos)
      << o.output;
  std::ifstream json(out("b.json"));
  const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"replicates_stored\": 2"), std::string::npos) << text;
  o = mirage("bench --sweep replicates --draws 2e6 --keep-replicates none");
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_EQ(o.output.rfind("mirage: error: --keep-replicates: value 'none'", 0), 0u) << o.output;
}

TEST_F(CliTest, MalformedConfigIsRefused) {
  std::ofstream(out("bad.toml")) << "[run]\nlengths = [1, \n";
  expect_bad_input("run --config " + out("bad.toml"), {"--config"});
  std::ofstream(out("unknown.toml")) << "[run]\nbogus = 3\n";
  expect_bad_input("run --config " + out("unknown.toml"), {"--config", "bogus"});
  std::ofstream(out("value.toml")) << "[run]\nloss-scale = \"1e9x\"\n";
  expect_bad_input("run --config " + out("value.toml"), {"--loss-scale", "1e9x"});
  expect_bad_input("run --config " + out("missing.toml"), {"missing.toml"});
}

}  // namespace
}  // namespace mirage
