// Copyright (c) Mirage developers.
// Scale-out end to end through the mirage binary: MPI ranks, shards and merge, checkpoints,
// SIGTERM and resume. Every path must give the counts of a plain one-process run, bit for bit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "config/config.h"
#include "io/hdf5_file.h"
#include "io/tally_file.h"
#include "run/runner.h"
#include "run/simulation.h"

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

// The sweep shape: per (replicate, scale) four units of 100, 9900, 65536 and 24464
// items, which id mod N dealt so that one of 2 shards got 65.6 % of the draws.
Config uneven_sweep() {
  Config c = default_config();
  c.test_sizes = {100, 10000, 100000};
  return c;
}

int64_t draws_of(const UnitGrid& grid, const std::vector<int64_t>& ids) {
  int64_t draws = 0;
  for (int64_t id : ids) draws += unit_draws(grid.spec, unit_at(grid, id));
  return draws;
}

// Largest part over the mean part.
double imbalance(const std::vector<int64_t>& parts) {
  int64_t total = 0, largest = 0;
  for (int64_t p : parts) {
    total += p;
    largest = std::max(largest, p);
  }
  return double(largest) * double(parts.size()) / double(total);
}

TEST(Dealing, ShardsAreContiguousRunsOfEqualDraws) {
  const Sweep sweep(uneven_sweep());
  const UnitGrid grid = sweep.grid();
  const int64_t units = num_units(grid);
  ASSERT_EQ(chunks_per_replicate_scale(grid), 4);
  for (int32_t n : {2, 3, 16}) {
    std::vector<int64_t> by_draws, by_modulo(size_t(n), 0);
    int64_t next = 0;
    for (int32_t k = 0; k < n; ++k) {
      const UnitRange range = shard_units(grid, k, n);
      EXPECT_EQ(range.first, next) << k << "/" << n;  // the runs tile the ids in order
      next = range.last;
      std::vector<int64_t> ids;
      for (int64_t id = range.first; id < range.last; ++id) ids.push_back(id);
      by_draws.push_back(draws_of(grid, ids));
    }
    EXPECT_EQ(next, units);
    for (int64_t id = 0; id < units; ++id)
      by_modulo[size_t(id % n)] += unit_draws(grid.spec, unit_at(grid, id));
    EXPECT_LE(imbalance(by_draws), 1.05) << n << " shards";
    std::cout << "[ INFO     ] " << n << " shards: largest / mean draws " << imbalance(by_draws)
              << " (id mod N dealt " << imbalance(by_modulo) << ")\n";
  }
  // More shards than units: the extra shards are empty, the rest still tile the ids.
  Config tiny = uneven_sweep();
  tiny.scales = {1e9};
  tiny.replicates = 1;
  const Sweep tiny_sweep(tiny);  // owns the arrays the grid points into
  const UnitGrid small = tiny_sweep.grid();
  int64_t covered = 0;
  for (int32_t k = 0; k < 16; ++k) {
    const UnitRange range = shard_units(small, k, 16);
    EXPECT_EQ(range.first, covered);
    covered = range.last;
  }
  EXPECT_EQ(covered, num_units(small));
}

TEST(Dealing, RanksGetEqualDrawsOfWhatIsLeft) {
  const Sweep sweep(uneven_sweep());
  const UnitGrid grid = sweep.grid();
  // What a resumed shard has left: an irregular subset of its units.
  const UnitRange range = shard_units(grid, 1, 3);
  std::vector<int64_t> pending;
  for (int64_t id = range.first; id < range.last; ++id) {
    if (id % 7 != 3) pending.push_back(id);
  }
  for (int32_t ranks : {1, 2, 3, 16}) {
    std::vector<int64_t> dealt, draws;
    for (int32_t r = 0; r < ranks; ++r) {
      const std::vector<int64_t> mine = rank_units(grid, pending, r, ranks);
      dealt.insert(dealt.end(), mine.begin(), mine.end());
      draws.push_back(draws_of(grid, mine));
    }
    EXPECT_EQ(dealt, pending) << ranks << " ranks";  // each unit once, runs in order
    EXPECT_LE(imbalance(draws), 1.05) << ranks << " ranks";
  }
  EXPECT_TRUE(rank_units(grid, {}, 0, 2).empty());
}

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
  // Each part holds exactly its shard's run of units, and says how they were dealt.
  for (int k = 0; k < 3; ++k) {
    const std::string path = out("part" + std::to_string(k) + ".h5");
    const TallyFile part = read_tally_file("test", path);
    const UnitRange range = shard_units(Sweep(part.config).grid(), k, 3);
    EXPECT_LT(range.first, range.last);
    for (int64_t u = 0; u < int64_t(part.done.size()); ++u)
      EXPECT_EQ(part.done[size_t(u)] != 0, u >= range.first && u < range.last) << path << u;
    EXPECT_EQ(h5::File::open_read(path).attr_string("/", "unit_dealing"), "draws");
  }
  EXPECT_TRUE(fs::exists(out("merged.csv")));
  const h5::File merged = h5::File::open_read(out("merged.h5"));
  EXPECT_EQ(merged.attr_string("/", "filetype"), "mirage-results");
  EXPECT_TRUE(merged.exists("/frontier/simulated_scale"));
  // merge --keep-replicates stores the first replicates of the same result; too many is refused.
  ASSERT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " " + out("part2.h5") +
                       " --keep-replicates 1 -q -o " + out("kept.h5"),
                   &text),
            0)
      << text;
  const h5::File kept = h5::File::open_read(out("kept.h5"));
  EXPECT_EQ(kept.attr_int64("/task/test_size", "replicates_stored"), 1);
  const std::vector<int64_t> all = merged.read_int64("/counts/exact_match");
  const std::vector<int64_t> first = kept.read_int64("/counts/exact_match");
  const size_t R = size_t(merged.attr_int64("/task/test_size", "replicates"));
  ASSERT_EQ(first.size() * R, all.size());
  for (size_t g = 0; g < first.size(); ++g) EXPECT_EQ(first[g], all[g * R]) << g;
  EXPECT_EQ(kept.read_double("/summary/token_accuracy/q500"),
            merged.read_double("/summary/token_accuracy/q500"));
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " " + out("part2.h5") +
                       " --keep-replicates " + std::to_string(R + 1) + " -q -o " + out("no.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("--keep-replicates: value " + std::to_string(R + 1)), std::string::npos)
      << text;
  EXPECT_FALSE(fs::exists(out("no.h5")));
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

// Drops the unit_dealing attribute, as tally files written before dealing by draws lack it.
// Makes a tally file look like one of a mirage before the dealing by draws: no unit_dealing
// and no identity checksum (which came later still).
void drop_dealing(const std::string& path) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  EXPECT_GE(H5Adelete_by_name(file, "/", "unit_dealing", H5P_DEFAULT), 0);
  EXPECT_GE(H5Adelete_by_name(file, "/", "identity_checksum", H5P_DEFAULT), 0);
  H5Fclose(file);
}

TEST_F(ScaleOut, ShardsDealtByAnOlderRuleAreRefused) {
  std::string text;
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(mirage("run " + SWEEP + " --shard " + std::to_string(k) + "/3 -o " +
                     out("part" + std::to_string(k) + ".h5")),
              0);
  }
  ASSERT_EQ(mirage("run " + SWEEP + " --shard 1/3 --checkpoint " + out("ck1.h5") + " -o " +
                   out("again1.h5")),
            0);
  ASSERT_EQ(mirage("run " + SWEEP + " --checkpoint " + out("ck.h5") + " -o " + out("a.h5")), 0);
  // A shard file of the id-mod-N dealing: merge names it and says what to do.
  drop_dealing(out("part1.h5"));
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " " + out("part2.h5") +
                       " -o " + out("m.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("part1.h5' is shard 1/3 of a mirage that dealt work units to shards by id "
                      "mod N"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sample shard 1/3 again"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("m.h5")));
  // So is a sharded checkpoint; an unsharded one holds every unit whatever the dealing.
  drop_dealing(out("ck1.h5"));
  EXPECT_EQ(mirage("run " + SWEEP + " --shard 1/3 --resume " + out("ck1.h5") + " -o " +
                       out("r1.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("by id mod N"), std::string::npos) << text;
  drop_dealing(out("ck.h5"));
  ASSERT_EQ(mirage("run " + SWEEP + " --resume " + out("ck.h5") + " -o " + out("r.h5"), &text), 0)
      << text;
  expect_same_counts(plain(), out("r.h5"));
  // A shard claiming a unit of another shard (checksum made to match) is refused as foreign.
  {
    const TallyFile part = read_tally_file("test", out("part2.h5"));
    std::vector<uint8_t> done = part.done;
    done[0] = 1;
    const uint64_t checksum = tally_checksum(done, part.segment);
    const hid_t file = H5Fopen(out("part2.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "/units/done", H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done.data());
    H5Dclose(dataset);
    const hid_t attribute = H5Aopen(file, "checksum", H5P_DEFAULT);
    H5Awrite(attribute, H5T_NATIVE_UINT64, &checksum);
    H5Aclose(attribute);
    H5Fclose(file);
  }
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("again1.h5") + " " + out("part2.h5") +
                       " -o " + out("m.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("holds work unit 0, which is not in shard 2/3"), std::string::npos) << text;
}

// Bad input under mpirun fails on every rank alike: one line from rank 0 and exit 2, without
// Open MPI's MPI_ABORT banner (mpirun's own note on a non-zero exit is silenced by --quiet).
TEST_F(ScaleOut, BadInputUnderMpiIsOneLine) {
  const std::string mpirun = MIRAGE_MPIRUN;
  if (mpirun.empty()) GTEST_SKIP() << "this build has no MPI (install libopenmpi-dev)";
  std::string text;
  EXPECT_EQ(shell(mpirun + " --quiet -np 2 " + MIRAGE_BINARY + " run --replicates 0 -o " +
                      out("b.h5"),
                  &text),
            2)
      << text;
  EXPECT_EQ(text.rfind("mirage: error: --replicates", 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(text.find("MPI_ABORT"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("b.h5")));
}

// srun without PMI (Slurm's default MpiDefault=none) starts tasks that are not one MPI job;
// each would sample the whole sweep, so they refuse, and only task 0 says so.
TEST_F(ScaleOut, SeveralTasksWithoutPmiAreRefused) {
  std::string text;
  const std::string run = std::string(MIRAGE_BINARY) + " run " + SWEEP + " -o " + out("x.h5");
  EXPECT_EQ(shell("env SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=0 " + run, &text), 2);
  EXPECT_NE(text.find("mirage: error: srun started 4 tasks but"), std::string::npos) << text;
  EXPECT_NE(text.find(std::string(MIRAGE_MPIRUN).empty() ? "built without MPI" : "--mpi=pmix"),
            std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(shell("env SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=3 " + run, &text), 2);
  EXPECT_EQ(text, "");
  EXPECT_FALSE(fs::exists(out("x.h5")));
  // One task of srun, and the batch script itself (SLURM_NTASKS only), run.
  EXPECT_EQ(shell("env SLURM_STEP_NUM_TASKS=1 SLURM_PROCID=0 SLURM_NTASKS=1 " + run, &text), 0)
      << text;
  EXPECT_EQ(shell("env SLURM_NTASKS=4 SLURM_PROCID=0 " + run, &text), 0) << text;
  expect_same_counts(plain(), out("x.h5"));
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
