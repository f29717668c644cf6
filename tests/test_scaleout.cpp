// Copyright (c) Mirage developers.
// Scale-out end to end through the mirage binary: MPI ranks, shards and merge, checkpoints,
// SIGTERM and resume. Every path must give the counts of a plain one-process run, bit for bit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "io/hdf5_file.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

// A sweep with uneven segments and partial groups; ~1e8 draws.
const std::string SWEEP_NO_SEED =
    "--scales 1e8:1e12:9 --lengths 1,2,5 --test-sizes 7,100,3001,100003 --replicates 11 "
    "--items-per-unit 4096 --backend cpu -q";
const std::string SWEEP = SWEEP_NO_SEED + " --seed 314";

class ScaleOut : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mirage_scaleout_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string out(const std::string& name) const { return (dir_ / name).string(); }

  // Runs a shell command line; returns the exit code, output in *text.
  int shell(const std::string& command, std::string* text = nullptr) const {
    const std::string log = out("log.txt");
    const int status = std::system((command + " > " + log + " 2>&1").c_str());
    if (text) {
      std::ifstream in(log);
      std::stringstream s;
      s << in.rdbuf();
      *text = s.str();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int mirage(const std::string& args, std::string* text = nullptr) const {
    return shell(std::string(MIRAGE_BINARY) + " " + args, text);
  }
  void expect_same_counts(const std::string& a, const std::string& b) const {
    const h5::File fa = h5::File::open_read(a), fb = h5::File::open_read(b);
    for (const char* d :
         {"/counts/exact_match", "/counts/token_errors", "/counts/token_errors_sq"}) {
      EXPECT_EQ(fa.read_int64(d), fb.read_int64(d)) << d << ": " << a << " vs " << b;
    }
    EXPECT_EQ(fa.read_double("/metrics/exact_match/ci_high"),
              fb.read_double("/metrics/exact_match/ci_high"));
  }
  std::string plain() const {
    const std::string path = out("plain.h5");
    if (!fs::exists(path)) {
      std::string text;
      EXPECT_EQ(mirage("run " + SWEEP + " -o " + path, &text), 0) << text;
    }
    return path;
  }

  fs::path dir_;
};

TEST_F(ScaleOut, MpiRanksGiveThePlainCounts) {
  const std::string mpirun = MIRAGE_MPIRUN;
  if (mpirun.empty()) GTEST_SKIP() << "this build has no MPI (install libopenmpi-dev)";
  for (int ranks : {1, 2, 3}) {
    const std::string path = out("mpi" + std::to_string(ranks) + ".h5");
    std::string text;
    ASSERT_EQ(shell(mpirun + " -np " + std::to_string(ranks) + " " + MIRAGE_BINARY + " run " +
                        SWEEP + " --threads 1 -o " + path,
                    &text),
              0)
        << text;
    expect_same_counts(plain(), path);
    EXPECT_NE(h5::File::open_read(path)
                  .attr_string("/", "devices")
                  .find(ranks > 1 ? std::to_string(ranks) + " MPI ranks" : "OpenMP"),
              std::string::npos);
  }
}

TEST_F(ScaleOut, ShardsMergeToThePlainRun) {
  std::string text;
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(mirage("run " + SWEEP + " --shard " + std::to_string(k) + "/3 -o " +
                         out("part" + std::to_string(k) + ".h5"),
                     &text),
              0)
        << text;
  }
  ASSERT_EQ(mirage("merge " + out("part2.h5") + " " + out("part0.h5") + " " + out("part1.h5") +
                       " -q -o " + out("merged.h5") + " --csv " + out("merged.csv"),
                   &text),
            0)
      << text;
  expect_same_counts(plain(), out("merged.h5"));
  EXPECT_TRUE(fs::exists(out("merged.csv")));
  const h5::File merged = h5::File::open_read(out("merged.h5"));
  EXPECT_EQ(merged.attr_string("/", "filetype"), "mirage-results");
  EXPECT_TRUE(merged.exists("/frontier/simulated_scale"));
}

TEST_F(ScaleOut, MergeRefusesMissingDuplicateAndForeignParts) {
  std::string text;
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(mirage("run " + SWEEP + " --shard " + std::to_string(k) + "/3 -o " +
                     out("part" + std::to_string(k) + ".h5")),
              0);
  }
  ASSERT_EQ(mirage("run " + SWEEP_NO_SEED + " --seed 315 --shard 1/3 -o " + out("other.h5")), 0);
  EXPECT_EQ(
      mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " -o " + out("m.h5"), &text), 2);
  EXPECT_NE(text.find("missing shard(s) 2/3"), std::string::npos) << text;
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " " + out("part1.h5") +
                       " " + out("part2.h5") + " -o " + out("m.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("shard 1/3 is given twice"), std::string::npos) << text;
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("other.h5") + " " + out("part2.h5") +
                       " -o " + out("m.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("other.h5' was sampled with a different configuration or seed"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("seed 315 vs 314"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("m.h5")));
}

TEST_F(ScaleOut, CheckpointEveryFewSecondsThenResumeEqualsPlain) {
  std::string text;
  // A complete run that checkpoints writes a final checkpoint of everything; resuming it
  // samples nothing and reproduces the result.
  ASSERT_EQ(mirage("run " + SWEEP + " --checkpoint " + out("ck.h5") +
                       " --checkpoint-every 0.01 -o " + out("a.h5"),
                   &text),
            0)
      << text;
  expect_same_counts(plain(), out("a.h5"));
  ASSERT_EQ(mirage("run " + SWEEP + " --resume " + out("ck.h5") + " -o " + out("b.h5"), &text), 0)
      << text;
  expect_same_counts(plain(), out("b.h5"));
}

TEST_F(ScaleOut, SigtermSavesCheckpointAndResumeEqualsPlain) {
  // Big enough that a single thread is still busy when the first checkpoint appears.
  const std::string sweep_no_seed =
      "--scales 1e8:1e12:9 --lengths 1,2,5 --test-sizes 10,1000,3000000 --replicates 16 "
      "--backend cpu -q";
  const std::string sweep = sweep_no_seed + " --seed 99";
  const std::string checkpoint = out("ck.h5");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string command =
        std::string(MIRAGE_BINARY) + " run " + sweep + " --threads 1 --checkpoint " + checkpoint +
        " --checkpoint-every 0.01 -o " + out("interrupted.h5") + " > " + out("child.txt") + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait for the first checkpoint, then stop the run as a batch scheduler would.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(fs::exists(checkpoint)) << "no checkpoint appeared";
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 75)
      << "the run finished before SIGTERM arrived; make the sweep bigger";
  EXPECT_FALSE(fs::exists(out("interrupted.h5")));
  std::string text;
  {
    const h5::File ck = h5::File::open_read(checkpoint);
    EXPECT_EQ(ck.attr_string("/", "filetype"), "mirage-tallies");
    EXPECT_LT(ck.attr_int64("/", "units_done"), ck.attr_int64("/", "num_units"));
  }
  // A checkpoint from another configuration is refused, and left as it was.
  const auto size = fs::file_size(checkpoint);
  EXPECT_EQ(
      mirage("run " + sweep_no_seed + " --seed 100 --resume " + checkpoint + " -o " + out("x.h5"),
             &text),
      2);
  EXPECT_NE(text.find("written for a different configuration"), std::string::npos) << text;
  EXPECT_NE(text.find("seed = 99"), std::string::npos) << text;
  EXPECT_EQ(fs::file_size(checkpoint), size);
  // Resume (with 2 threads: the split of the work does not matter) and compare.
  ASSERT_EQ(
      mirage("run " + sweep + " --threads 2 --resume " + checkpoint + " -o " + out("resumed.h5"),
             &text),
      0)
      << text;
  ASSERT_EQ(mirage("run " + sweep + " -o " + out("plain.h5"), &text), 0) << text;
  expect_same_counts(out("plain.h5"), out("resumed.h5"));
}

TEST_F(ScaleOut, TruncatedOrCorruptedCheckpointIsRefused) {
  std::string text;
  ASSERT_EQ(mirage("run " + SWEEP + " --checkpoint " + out("ck.h5") + " -o " + out("a.h5"), &text),
            0)
      << text;
  const auto size = fs::file_size(out("ck.h5"));
  // Truncated: half the file.
  fs::copy_file(out("ck.h5"), out("truncated.h5"));
  fs::resize_file(out("truncated.h5"), size / 2);
  EXPECT_EQ(
      mirage("run " + SWEEP + " --resume " + out("truncated.h5") + " -o " + out("t.h5"), &text), 2);
  EXPECT_NE(text.find("--resume"), std::string::npos) << text;
  EXPECT_NE(text.find("truncated.h5"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("t.h5")));
  // Corrupted: the tallies changed behind the checksum's back.
  fs::copy_file(out("ck.h5"), out("corrupt.h5"));
  {
    h5::File f = h5::File::open_read(out("corrupt.h5"));
    std::vector<int64_t> segment = f.read_int64("/tallies/segment");
    f.close();
    segment[7] += 1;
    const hid_t file = H5Fopen(out("corrupt.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "/tallies/segment", H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, segment.data());
    H5Dclose(dataset);
    H5Fclose(file);
  }
  EXPECT_EQ(mirage("run " + SWEEP + " --resume " + out("corrupt.h5") + " -o " + out("c.h5"), &text),
            2);
  EXPECT_NE(text.find("checksum does not match"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("c.h5")));
  // Not a checkpoint at all.
  EXPECT_EQ(mirage("run " + SWEEP + " --resume " + out("a.h5") + " -o " + out("d.h5"), &text), 2);
  EXPECT_NE(text.find("not a Mirage checkpoint"), std::string::npos) << text;
  // The good checkpoint is intact and still resumes.
  EXPECT_EQ(fs::file_size(out("ck.h5")), size);
  EXPECT_EQ(mirage("run " + SWEEP + " --resume " + out("ck.h5") + " -o " + out("e.h5"), &text), 0)
      << text;
}

TEST_F(ScaleOut, BadScaleOutOptionsAreRefused) {
  std::string text;
  EXPECT_EQ(mirage("run " + SWEEP + " --shard 3/3 -o " + out("x.h5"), &text), 2);
  EXPECT_NE(text.find("--shard"), std::string::npos) << text;
  EXPECT_EQ(mirage("run " + SWEEP + " --shard 1 -o " + out("x.h5"), &text), 2);
  EXPECT_NE(text.find("K/N"), std::string::npos) << text;
  EXPECT_EQ(mirage("run " + SWEEP + " --checkpoint-every 0 --checkpoint " + out("c.h5") + " -o " +
                       out("x.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("--checkpoint-every"), std::string::npos) << text;
  EXPECT_EQ(mirage("run " + SWEEP + " --resume " + out("nope.h5") + " -o " + out("x.h5"), &text),
            2);
  EXPECT_NE(text.find("does not exist"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("x.h5")));
}

}  // namespace
}  // namespace mirage
