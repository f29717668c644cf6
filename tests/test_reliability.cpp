// Copyright (c) Mirage developers.
//! \file test_reliability.cpp
//! Inputs that used to destroy data or pass silently (the reproductions of the reliability
//! issue), each refused before any work with exit code 2, one line naming the option and the
//! value, and nothing written: outputs that collide with each other or with an input, symbolic
//! links and special files as outputs, directories nothing can be created in, over-long names,
//! empty values, hexadecimal and signed-with-blanks numbers, empty list elements, and options
//! that have no effect in context. Then the faults: a full disk (a 1 MiB tmpfs) for the result,
//! the CSV and the checkpoint, and SIGTERM after sampling and while writing (injected with
//! MIRAGE_FAULT_SIGNAL), each ending in a clear exit, a complete file or none, and no
//! temporary file left; files read strictly (byte-order marks, binary files, repeated tables,
//! keys and columns), work-unit memory estimated up front, progress lines in batch jobs, and
//! 300 random bit flips in a shard and 300 in a checkpoint that never crash a merge or a resume
//! nor give wrong counts.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/hdf5_file.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

class ReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mirage_reliability_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  struct Outcome {
    int code;
    std::string output;
  };
  // Runs the binary in the test's directory (relative paths resolve there).
  Outcome mirage(const std::string& args, const std::string& environment = "") const {
    const std::string log = (dir_ / "log.txt").string();
    const std::string command = "cd '" + dir_.string() + "' && " + environment + " " +
                                std::string(MIRAGE_BINARY) + " " + args + " > '" + log +
                                "' 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir_ / name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // `args` must be refused with exit 2 and a one-line message holding every fragment.
  void refused(const std::string& args, std::initializer_list<const char*> fragments) const {
    const Outcome o = mirage(args);
    EXPECT_EQ(o.code, 2) << args << "\n" << o.output;
    EXPECT_EQ(o.output.rfind("mirage: error: ", 0), 0u) << args << "\n" << o.output;
    EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << args << "\n" << o.output;
    for (const char* fragment : fragments) {
      EXPECT_NE(o.output.find(fragment), std::string::npos)
          << args << ": message lacks '" << fragment << "':\n" << o.output;
    }
  }
  static std::string small() {
    return "run --scales 1e8,1e10 --lengths 1,3 --test-sizes 10 --replicates 2 -q ";
  }

  fs::path dir_;
};

TEST_F(ReliabilityTest, OutputsNeverOverwriteEachOtherOrAnInput) {
  refused(small() + "-o r.h5 --csv r.h5", {"--csv", "'r.h5'", "--output"});
  refused(small() + "-o ./r.h5 --csv " + (dir_ / "r.h5").string(), {"--csv", "--output"});
  refused(small() + "-o r.h5 --checkpoint ./r.h5", {"--checkpoint", "--output"});
  EXPECT_FALSE(fs::exists(dir_ / "r.h5"));
  // Inputs: a loss table and a config file keep their bytes.
  write("loss.csv", "scale,loss\n1e8,3\n1e11,0.5\n");
  refused("run --loss-table loss.csv --lengths 1 --test-sizes 10 --replicates 2 -q -o loss.csv",
          {"--output", "--loss-table", "'loss.csv'"});
  EXPECT_EQ(read("loss.csv"), "scale,loss\n1e8,3\n1e11,0.5\n");
  write("c.toml", "[run]\nreplicates = 2\n");
  refused("run --config c.toml --scales 1e8,1e10 --lengths 1 --test-sizes 10 -q --csv c.toml",
          {"--csv", "--config"});
  EXPECT_EQ(read("c.toml"), "[run]\nreplicates = 2\n");
  // merge: the output may not be one of its parts (a hard link counts as the same file).
  ASSERT_EQ(mirage(small() + "--shard 0/2 -o s0.h5").code, 0);
  ASSERT_EQ(mirage(small() + "--shard 1/2 -o s1.h5").code, 0);
  const auto before = fs::file_size(dir_ / "s0.h5");
  refused("merge s0.h5 s1.h5 -o s0.h5", {"--output", "part"});
  fs::create_hard_link(dir_ / "s1.h5", dir_ / "alias.h5");
  refused("merge s0.h5 s1.h5 -o alias.h5", {"--output", "part"});
  EXPECT_EQ(fs::file_size(dir_ / "s0.h5"), before);
  EXPECT_EQ(mirage("merge s0.h5 s1.h5 -o all.h5 -q").code, 0);
}

TEST_F(ReliabilityTest, OnlyRegularFilesInCreatableDirectoriesAreOutputs) {
  write("target.h5", "keep");
  fs::create_symlink(dir_ / "target.h5", dir_ / "link.h5");
  refused(small() + "-o link.h5", {"--output", "symbolic link"});
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.h5"));
  EXPECT_EQ(read("target.h5"), "keep");
  refused(small() + "-o r.h5 --csv /dev/null", {"--csv", "'/dev/null'", "not a regular file"});
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  refused(small() + "-o " + std::string(240, 'a') + ".h5", {"--output", "longer than"});
  refused(small() + "-o sub/", {"--output"});
  if (fs::exists("/proc/version")) {
    refused(small() + "-o /proc/version", {"--output", "'/proc/version'"});
  }
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".mirage-probe"), std::string::npos);
  }
}

TEST_F(ReliabilityTest, NumbersAndListsAreParsedStrictly) {
  const std::string base = "run --scales 1e8,1e10 --lengths 1 --test-sizes 10 -q ";
  refused(base + "-o r.h5 --replicates ''", {"--replicates", "is empty"});
  refused(base + "-o r.h5 --replicates 2 --replicates 3", {"--replicates", "more than once"});
  refused("", {"a subcommand is required"});
  refused(small() + "-o r.h5 --resume ''", {"--resume", "is empty"});
  refused(small() + "-o r.h5 --checkpoint ''", {"--checkpoint", "is empty"});
  refused(small() + "-o r.h5 --seed ' -1'", {"--seed", "' -1'"});
  refused(small() + "-o r.h5 --seed +5", {"--seed", "'+5'"});
  refused("run --scales 1e8,1e10 --lengths 1 --test-sizes 10 -q -o r.h5 --replicates 0x10",
          {"--replicates", "'0x10'", "not a number"});
  refused("run --scales 1e8,,1e10 --lengths 1 --test-sizes 10 -q -o r.h5",
          {"--scales", "'1e8,,1e10'", "empty element"});
  refused("run --scales 1e8,1e10 --lengths 1,3, --test-sizes 10 -q -o r.h5",
          {"--lengths", "empty element"});
  refused("run --scales 0x1p30,1e10 --lengths 1 --test-sizes 10 -q -o r.h5",
          {"--scales", "not a number"});
  refused("meta --tasks '' -o m.h5", {"--tasks", "is empty"});
  EXPECT_FALSE(fs::exists(dir_ / "r.h5"));
}

TEST_F(ReliabilityTest, OptionsWithoutEffectAreRefused) {
  refused(small() + "-o r.h5 --choices 3", {"--choices", "free-form"});
  refused(small() + "-o r.h5 --extrapolate", {"--extrapolate", "loss table"});
  refused(small() + "-o r.h5 --checkpoint-every 5", {"--checkpoint-every", "--checkpoint"});
  EXPECT_EQ(mirage(small() + "-o r.h5 --task multiple-choice --choices 3").code, 0);
}

// Every file in `dir` (hidden ones too), sorted.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

void expect_same_counts(const fs::path& a, const fs::path& b) {
  h5::File fa = h5::File::open_read(a.string());
  h5::File fb = h5::File::open_read(b.string());
  for (const char* d :
       {"/counts/exact_match", "/counts/token_errors", "/counts/token_errors_sq"}) {
    EXPECT_EQ(fa.read_int64(d), fb.read_int64(d)) << d << ": " << a << " vs " << b;
  }
}

herr_t collect_datasets(hid_t, const char* name, const H5O_info_t* info, void* data) {
  if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

// Every numeric dataset of two result files holds the same bytes (string datasets, the names of
// methods and metrics, are left out): a resumed run must equal an uninterrupted one in every
// estimate, interval and summary, not only in its counts.
void expect_same_datasets(const fs::path& a, const fs::path& b) {
  const h5::File fa = h5::File::open_read(a.string());
  const h5::File fb = h5::File::open_read(b.string());
  std::vector<std::string> names_a, names_b;
  H5Ovisit(fa.id(), H5_INDEX_NAME, H5_ITER_INC, collect_datasets, &names_a);
  H5Ovisit(fb.id(), H5_INDEX_NAME, H5_ITER_INC, collect_datasets, &names_b);
  ASSERT_EQ(names_a, names_b) << a << " vs " << b;
  ASSERT_GT(names_a.size(), 100u);
  for (const std::string& name : names_a) {
    const hid_t set_a = H5Dopen2(fa.id(), name.c_str(), H5P_DEFAULT);
    const hid_t set_b = H5Dopen2(fb.id(), name.c_str(), H5P_DEFAULT);
    const hid_t type = H5Dget_type(set_a);
    const H5T_class_t type_class = H5Tget_class(type);
    if (type_class == H5T_INTEGER || type_class == H5T_FLOAT) {
      const hid_t space = H5Dget_space(set_a);
      const size_t bytes = size_t(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type);
      std::vector<unsigned char> da(bytes), db(bytes);
      if (bytes > 0) {
        H5Dread(set_a, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, da.data());
        H5Dread(set_b, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, db.data());
      }
      EXPECT_TRUE(da == db) << name << " differs: " << a << " vs " << b;
      H5Sclose(space);
    }
    H5Tclose(type);
    H5Dclose(set_a);
    H5Dclose(set_b);
  }
}

// A file system of 1 MiB, mounted for the test (root, or CAP_SYS_ADMIN, is needed).
class FullDiskTest : public ReliabilityTest {
 protected:
  void SetUp() override {
    ReliabilityTest::SetUp();
    full_ = dir_ / "full";
    fs::create_directories(full_);
    if (::mount("tmpfs", full_.c_str(), "tmpfs", 0, "size=1m") != 0) {
      GTEST_SKIP() << "cannot mount a 1 MiB tmpfs at " << full_ << " (" << std::strerror(errno)
                   << "): mounting needs root or CAP_SYS_ADMIN";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount(full_.c_str());
    ReliabilityTest::TearDown();
  }
  fs::path full_;
  bool mounted_ = false;
};

TEST_F(FullDiskTest, ResultAndCsvSayNoSpaceAndLeaveNothing) {
  // ~2 MB of result file.
  Outcome o = mirage("run --replicates 200 --backend cpu -q -o full/r.h5");
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_NE(o.output.find("No space left on device"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("'full/r.h5'"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find(".tmp-"), std::string::npos) << o.output;
  EXPECT_TRUE(files_in(full_).empty()) << files_in(full_).front();

  write("fill.sh", "dd if=/dev/zero of=full/fill bs=1024 count=1024 2>/dev/null; exit 0\n");
  ASSERT_EQ(std::system(("cd '" + dir_.string() + "' && bash fill.sh").c_str()), 0);
  o = mirage(small() + "--backend cpu -o r.h5 --csv full/s.csv");
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_NE(o.output.find("cannot write 'full/s.csv': No space left on device"),
            std::string::npos) << o.output;
  EXPECT_EQ(files_in(full_), std::vector<std::string>{"fill"});
}

TEST_F(FullDiskTest, ACheckpointThatCannotBeSavedDoesNotStopTheRun) {
  const std::string sweep = "run --replicates 20 --backend cpu -q --items-per-unit 1000 ";
  ASSERT_EQ(mirage(sweep + "-o plain.h5").code, 0);
  write("fill.sh", "dd if=/dev/zero of=full/fill bs=1024 count=1024 2>/dev/null; exit 0\n");
  ASSERT_EQ(std::system(("cd '" + dir_.string() + "' && bash fill.sh").c_str()), 0);
  const Outcome o = mirage(sweep + "-o r.h5 --checkpoint full/ck.h5 --checkpoint-every 0.001");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("the checkpoint was not saved"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("No space left on device"), std::string::npos) << o.output;
  EXPECT_EQ(files_in(full_), std::vector<std::string>{"fill"});
  expect_same_counts(dir_ / "plain.h5", dir_ / "r.h5");
}

TEST_F(ReliabilityTest, SigtermAfterSamplingExits75WithACompleteCheckpoint) {
  const std::string sweep = small() + "--backend cpu ";
  ASSERT_EQ(mirage(sweep + "-o plain.h5").code, 0);
  ::setenv("MIRAGE_FAULT_SIGNAL", "after-sampling", 1);
  Outcome o = mirage(sweep + "-o r.h5 --checkpoint ck.h5");
  EXPECT_EQ(o.code, 75) << o.output;
  EXPECT_NE(o.output.find("holds every work unit"), std::string::npos) << o.output;
  // Without a checkpoint there is nothing to keep: the conventional 128 + 15, nothing written.
  o = mirage(sweep + "-o other.h5 --csv other.csv");
  EXPECT_EQ(o.code, 143) << o.output;
  EXPECT_NE(o.output.find("nothing was written"), std::string::npos) << o.output;
  ::unsetenv("MIRAGE_FAULT_SIGNAL");
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"ck.h5", "log.txt", "plain.h5"}));
  o = mirage(sweep + "-o r.h5 --checkpoint ck.h5 --resume ck.h5");
  EXPECT_EQ(o.code, 0) << o.output;
  expect_same_counts(dir_ / "plain.h5", dir_ / "r.h5");
}

// SIGTERM at random points of every phase - sampling (after one of its progress reports), the
// reduction (after one of its steps), the output (before one of its datasets) - then resume:
// the result equals an uninterrupted run's in every dataset, and no temporary file is ever
// left. The points are drawn with a fixed seed from those a plain run reaches
// (MIRAGE_FAULT_COUNTS); the signal is raised on the thread that reaches the point, as the
// kernel may deliver a real one to any thread.
TEST_F(ReliabilityTest, SigtermAtRandomPointsOfEveryPhaseThenResumeEqualsPlain) {
  // 6e8 token draws: three sampling batches of 2e8 draws, between which a signal is acted on.
  const std::string sweep =
      "run --scales 1e8:1e12:5 --lengths 1,2,5 --test-sizes 10,1000,2000000 --replicates 12 "
      "--threads 2 --backend cpu -q ";
  const std::string run = sweep + "-o r.h5 --csv r.csv --checkpoint ck.h5 ";
  Outcome o = mirage(sweep + "-o plain.h5 --csv plain.csv");
  ASSERT_EQ(o.code, 0) << o.output;
  // The points a run like the interrupted ones reaches.
  o = mirage(run + "--checkpoint-every 1000", "MIRAGE_FAULT_COUNTS=points.txt");
  ASSERT_EQ(o.code, 0) << o.output;
  std::map<std::string, int64_t> reached;
  {
    std::istringstream lines(read("points.txt"));
    for (std::string line; std::getline(lines, line);) ++reached[line];
  }
  fs::remove(dir_ / "points.txt");
  ASSERT_GE(reached["unit"], 30);
  ASSERT_EQ(reached["reduction"], 5);
  ASSERT_GE(reached["dataset"], 100);
  std::mt19937_64 rng(20261202);
  int resumed = 0, stopped = 0;
  for (const auto& [point, draws] : {std::pair<std::string, int>{"unit", 5}, {"reduction", 3},
                                     {"dataset", 5}}) {
    for (int i = 0; i < draws; ++i) {
      const int64_t n = std::uniform_int_distribution<int64_t>(1, reached[point])(rng);
      const std::string fault = point + ":" + std::to_string(n);
      fs::remove(dir_ / "r.h5");
      fs::remove(dir_ / "r.csv");
      fs::remove(dir_ / "ck.h5");
      o = mirage(run + "--checkpoint-every 1000", "MIRAGE_FAULT_SIGNAL=" + fault);
      // The reduction's steps: 1 counts, 2 metrics; then the file is being written (it is
      // written while the analyses run, steps 3 to 5), and a signal waits for it.
      const bool writing = point == "dataset" || (point == "reduction" && n >= 3);
      std::printf("SIGTERM at %s: exit %d\n", fault.c_str(), o.code);
      if (writing) {
        // The output is never left half-written: the signal waits for the files.
        EXPECT_EQ(o.code, 0) << fault << "\n" << o.output;
        EXPECT_NE(o.output.find("it is complete"), std::string::npos) << fault << "\n" << o.output;
      } else {
        EXPECT_EQ(o.code, 75) << fault << "\n" << o.output;
        EXPECT_NE(o.output.find("--resume ck.h5"), std::string::npos) << fault << "\n" << o.output;
        if (point == "reduction") {
          EXPECT_NE(o.output.find("holds every work unit"), std::string::npos) << o.output;
        }
        ++stopped;
        EXPECT_FALSE(fs::exists(dir_ / "r.h5")) << fault;
        EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"ck.h5", "log.txt", "plain.csv",
                                                            "plain.h5"}))
            << fault;
        o = mirage(run + "--resume ck.h5");
        EXPECT_EQ(o.code, 0) << fault << "\n" << o.output;
        ++resumed;
      }
      EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"ck.h5", "log.txt", "plain.csv",
                                                          "plain.h5", "r.csv", "r.h5"}))
          << fault;
      expect_same_datasets(dir_ / "plain.h5", dir_ / "r.h5");
      EXPECT_EQ(read("plain.csv"), read("r.csv")) << fault;
    }
  }
  EXPECT_EQ(resumed, stopped);
  EXPECT_GE(stopped, 5);  // the sampling points at least
}

// A process killed while it writes (SIGKILL: no handler runs) leaves its hidden temporary file;
// the next write of the same output on this machine removes it, while the temporary file of a
// live process is left alone. Temporary names carry a random part nobody can guess ahead.
TEST_F(ReliabilityTest, TemporariesOfKilledRunsAreRemovedByTheNextRun) {
  const std::string sweep = small() + "--backend cpu ";
  Outcome o = mirage(sweep + "-o r.h5", "MIRAGE_FAULT_KILL=dataset:20");
  ASSERT_EQ(o.code, 128 + SIGKILL) << "expected death by SIGKILL (the shell's 137)\n" << o.output;
  std::vector<std::string> left = files_in(dir_);
  ASSERT_EQ(left.size(), 2u) << ::testing::PrintToString(left);  // log.txt and the temporary
  const std::string stale = left[0] == "log.txt" ? left[1] : left[0];
  ASSERT_EQ(stale.rfind(".r.h5.tmp-", 0), 0u) << stale;
  // .r.h5.tmp-PID-HOST-RANDOM: the same name with this (live) process's PID must survive.
  const size_t dash = stale.find('-', std::string(".r.h5.tmp-").size());
  ASSERT_NE(dash, std::string::npos) << stale;
  const std::string alive = ".r.h5.tmp-" + std::to_string(::getpid()) + stale.substr(dash);
  write(alive, "a file some live process is writing");
  o = mirage(sweep + "-o r.h5");
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{alive, "log.txt", "r.h5"}));
  // Two runs do not pick the same temporary name: compare the random parts two killed runs
  // leave.
  fs::remove(dir_ / alive);
  fs::remove(dir_ / "r.h5");
  o = mirage(sweep + "-o s.h5", "MIRAGE_FAULT_KILL=dataset:20");
  ASSERT_EQ(o.code, 128 + SIGKILL) << o.output;
  left = files_in(dir_);
  ASSERT_EQ(left.size(), 2u) << ::testing::PrintToString(left);
  const std::string second = left[0] == "log.txt" ? left[1] : left[0];
  EXPECT_NE(second.substr(second.size() - 8), stale.substr(stale.size() - 8));
}

TEST_F(ReliabilityTest, SigtermWhileWritingLeavesACompleteFile) {
  const std::string sweep = small() + "--backend cpu ";
  ASSERT_EQ(mirage(sweep + "-o plain.h5").code, 0);
  ::setenv("MIRAGE_FAULT_SIGNAL", "writing", 1);
  Outcome o = mirage(sweep + "-o r.h5 --csv r.csv");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("arrived while the output was written; it is complete"),
            std::string::npos) << o.output;
  o = mirage(sweep + "--shard 0/2 -o p0.h5");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("it is complete"), std::string::npos) << o.output;
  ::unsetenv("MIRAGE_FAULT_SIGNAL");
  ASSERT_EQ(mirage(sweep + "--shard 1/2 -o p1.h5").code, 0);
  // A merge has no handler of its own: the deferred signal ends it once its file is complete.
  ::setenv("MIRAGE_FAULT_SIGNAL", "writing", 1);
  o = mirage("merge p0.h5 p1.h5 -o merged.h5 -q");
  EXPECT_EQ(o.code, 143) << o.output;
  ::unsetenv("MIRAGE_FAULT_SIGNAL");
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"log.txt", "merged.h5", "p0.h5", "p1.h5",
                                                      "plain.h5", "r.csv", "r.h5"}));
  expect_same_counts(dir_ / "plain.h5", dir_ / "r.h5");
  expect_same_counts(dir_ / "plain.h5", dir_ / "merged.h5");
}

TEST_F(ReliabilityTest, FilesAreReadStrictlyAndNamedNotEchoed) {
  write("bom.toml", "\xEF\xBB\xBF[run]\nreplicates = 3\n");
  refused("run --config bom.toml", {"--config", "bom.toml", "byte-order mark"});
  write("two.toml", "[run]\nreplicates = 3\n[run]\nseed = 4\n");
  refused("run --config two.toml", {"--config", "line 3", "table [run] appears twice"});
  write("key.toml", "[run]\nreplicates = 3\nreplicates = 4\n");
  refused("run --config key.toml", {"--config", "line 3", "'replicates' is given twice"});
  write("bin.toml", std::string("\x89HDF\r\n\x1a\n\0\0", 10));
  refused("run --config bin.toml", {"--config", "line 1", "0x89", "not a TOML text file"});
  const Outcome o = mirage("run --config bin.toml");
  EXPECT_EQ(o.output.find("HDF"), std::string::npos) << o.output;
  write("dup.csv", "scale,loss,loss\n1e8,3,2\n1e10,2,1\n");
  refused(small() + "--loss-table dup.csv", {"--loss-table", "'loss' twice"});
  write("bom.csv", "\xEF\xBB\xBFscale,loss\n1e8,3\n1e10,2\n");
  refused(small() + "--loss-table bom.csv", {"--loss-table", "byte-order mark"});
  // UTF-8 text in a comment is fine.
  write("utf.toml", "[run]\n# caf\xC3\xA9\nreplicates = 2\n");
  EXPECT_EQ(mirage("run --config utf.toml --scales 1e8,1e9 --test-sizes 10 -q -o u.h5").code, 0);
}

TEST_F(ReliabilityTest, WorkUnitRecordsAreCountedBeforeAnyWork) {
  // 2^34 items in units of 4: 1.8e13 units, far beyond any machine's memory.
  refused("run --test-sizes 17179869184 --items-per-unit 4 -q",
          {"--items-per-unit", "work units", "GiB", "raise --items-per-unit"});
  EXPECT_TRUE(files_in(dir_) == std::vector<std::string>{"log.txt"});
}

// Long inline arrays (a loss table of 20,000 rows, stored in every shard's configuration and
// given in a --config file) are read in linear time (CLI11's own splitting was quadratic: a
// merge of shards with a 10^6-row table did not finish in 10 minutes; it now takes about 9 s)
// and to the same values: the merge equals the plain run, and the configuration it stores is
// the plain run's.
TEST_F(ReliabilityTest, LongInlineArraysAreReadWholeAndInLinearTime) {
  {
    std::ofstream table(dir_ / "loss.csv");
    table << "scale,loss\n" << std::setprecision(17);
    for (int i = 0; i < 20000; ++i) {
      const double scale = 1e7 * std::pow(10.0, 7.0 * i / 19999.0);
      table << scale << ',' << std::pow(scale / 2e9, -0.5) << '\n';
    }
  }
  const std::string sweep =
      "run --loss-table loss.csv --scales 1e8,1e10 --lengths 1,3 --test-sizes 10 "
      "--replicates 2 -q --backend cpu ";
  ASSERT_EQ(mirage(sweep + "-o plain.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "--shard 0/2 -o p0.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "--shard 1/2 -o p1.h5").code, 0);
  Outcome o = mirage("merge p0.h5 p1.h5 -o m.h5 -q");
  ASSERT_EQ(o.code, 0) << o.output;
  expect_same_datasets(dir_ / "plain.h5", dir_ / "m.h5");
  auto stored = [&](const std::string& name) {
    const h5::File f = h5::File::open_read((dir_ / name).string());
    std::string toml = f.attr_string("/config", "config_toml");
    const size_t at = toml.find("output = ");
    return toml.erase(at, toml.find('\n', at) - at);
  };
  const std::string plain = stored("plain.h5");
  EXPECT_GT(plain.size(), 400000u);  // the table is inline: two arrays of 20,000 numbers
  EXPECT_EQ(stored("m.h5"), plain);
  // The same arrays in a --config file of one's own.
  {
    std::ofstream config(dir_ / "run.toml");
    config << "[run]\n";
    std::istringstream lines(plain);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("loss-table-", 0) == 0) config << line << '\n';
    }
    config << "scales = \"1e8,1e10\"\nlengths = [1, 3]\ntest-sizes = [10]\nreplicates = 2\n";
  }
  o = mirage("run --config run.toml -q --backend cpu -o c.h5");
  ASSERT_EQ(o.code, 0) << o.output;
  expect_same_datasets(dir_ / "plain.h5", dir_ / "c.h5");
}

TEST_F(ReliabilityTest, StoredConfigurationsLeaveNoTemporaryFiles) {
  // A merge parses each part's stored configuration through a temporary file (mkstemps: a
  // name nobody can predict, so no planted symbolic link is followed); none may stay behind,
  // whether the parse succeeds or fails.
  ASSERT_EQ(mirage(small() + "--backend cpu --shard 0/2 -o p0.h5").code, 0);
  ASSERT_EQ(mirage(small() + "--backend cpu --shard 1/2 -o p1.h5").code, 0);
  fs::create_directories(dir_ / "tmp");
  ASSERT_EQ(mirage("merge p0.h5 p1.h5 -o m.h5 -q", "TMPDIR=tmp").code, 0);
  ASSERT_EQ(mirage(small() + "--backend cpu --resume p0.h5 -o r.h5", "TMPDIR=tmp").code, 2);
  EXPECT_TRUE(files_in(dir_ / "tmp").empty()) << files_in(dir_ / "tmp").front();
}

TEST_F(ReliabilityTest, BatchJobsGetProgressLines) {
  // stderr is a file here, as in a batch job: full lines at MIRAGE_PROGRESS_EVERY seconds.
  const std::string sweep = "run --replicates 20 --backend cpu --threads 1 -o r.h5 ";
  Outcome o = mirage(sweep, "MIRAGE_PROGRESS_EVERY=0.02");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("mirage: sampling "), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("% of 4.1e+08 token draws"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find('\r'), std::string::npos) << "no terminal redraws in a log";
  o = mirage(sweep + "-q", "MIRAGE_PROGRESS_EVERY=0.02");
  EXPECT_EQ(o.output.find("mirage: sampling "), std::string::npos) << o.output;
}

TEST_F(ReliabilityTest, BitFlipsInShardsAndCheckpointsNeverCrashNorGiveWrongCounts) {
  // 300 single-bit flips at random positions of a shard, and 300 of a checkpoint (fixed
  // seed): each merge or resume either refuses the file (exit 2, or 1 for an unreadable file)
  // or, where the flip hit bytes that hold nothing (padding, free space), gives exactly the
  // plain counts. Never a crash, never a result left from a refused file.
  const std::string sweep =
      "run --scales 1e8,1e10 --lengths 1,3 --test-sizes 10,100 --replicates 3 -q --backend cpu ";
  ASSERT_EQ(mirage(sweep + "-o plain.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "--shard 0/2 -o p0.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "--shard 1/2 -o p1.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "-o full.h5 --checkpoint ck.h5").code, 0);
  std::mt19937_64 random(20261202);
  for (const char* kind : {"shard", "checkpoint"}) {
    const bool shard = std::string(kind) == "shard";
    const std::string original = read(shard ? "p0.h5" : "ck.h5");
    ASSERT_GT(original.size(), 1000u);
    int accepted = 0, refused_files = 0;
    for (int flip = 0; flip < 300; ++flip) {
      std::string bytes = original;
      const size_t at = size_t(random() % bytes.size());
      bytes[at] = char(bytes[at] ^ (1 << (random() % 8)));
      {
        std::ofstream out(dir_ / "flipped.h5", std::ios::binary | std::ios::trunc);
        out << bytes;
      }
      fs::remove(dir_ / "m.h5");
      const Outcome o = mirage(shard ? "merge flipped.h5 p1.h5 -o m.h5 -q"
                                     : sweep + "--resume flipped.h5 -o m.h5");
      ASSERT_TRUE(o.code == 0 || o.code == 1 || o.code == 2)
          << kind << " byte " << at << ": exit " << o.code << "\n" << o.output;
      if (o.code == 0) {
        ++accepted;
        expect_same_counts(dir_ / "plain.h5", dir_ / "m.h5");
      } else {
        ++refused_files;
        EXPECT_FALSE(fs::exists(dir_ / "m.h5")) << kind << " byte " << at;
      }
    }
    std::printf("%s: 300 bit flips, %d refused, %d accepted with the plain counts\n", kind,
                refused_files, accepted);
    // Both outcomes occur: the flips reach the data as well as the slack.
    EXPECT_GT(accepted, 0) << kind;
    EXPECT_GT(refused_files, 0) << kind;
  }
}

TEST_F(ReliabilityTest, ShardAttributesAreCoveredByAChecksum) {
  // shard_index and shard_count used to be trusted: 10^6 crashed a merge, -5 and 2^31-1 gave
  // library errors. They, the kind and the configuration are now checksummed.
  const std::string sweep =
      "run --scales 1e8,1e10 --lengths 1,3 --test-sizes 10,100 --replicates 3 -q --backend cpu ";
  ASSERT_EQ(mirage(sweep + "--shard 0/2 -o p0.h5").code, 0);
  ASSERT_EQ(mirage(sweep + "--shard 1/2 -o p1.h5").code, 0);
  for (const int64_t count : {int64_t{1000000}, int64_t{-5}, int64_t{2147483647}, int64_t{3}}) {
    fs::copy_file(dir_ / "p0.h5", dir_ / "x.h5", fs::copy_options::overwrite_existing);
    const hid_t file = H5Fopen((dir_ / "x.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t attribute = H5Aopen(file, "shard_count", H5P_DEFAULT);
    ASSERT_GE(attribute, 0);
    EXPECT_GE(H5Awrite(attribute, H5T_NATIVE_INT64, &count), 0);
    H5Aclose(attribute);
    H5Fclose(file);
    refused("merge x.h5 p1.h5 -o m.h5", {"merge", "'x.h5'", "identity checksum"});
    EXPECT_FALSE(fs::exists(dir_ / "m.h5"));
  }
}

}  // namespace
}  // namespace mirage
