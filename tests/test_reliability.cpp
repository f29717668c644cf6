// Copyright (c) Mirage developers.
//! \file test_reliability.cpp
//! Inputs that used to destroy data or pass silently (the reproductions of the reliability
//! issue), each refused before any work with exit code 2, one line naming the option and the
//! value, and nothing written: outputs that collide with each other or with an input, symbolic
//! links and special files as outputs, directories nothing can be created in, over-long names,
//! empty values, hexadecimal and signed-with-blanks numbers, empty list elements, and options
//! that have no effect in context.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
  Outcome mirage(const std::string& args) const {
    const std::string log = (dir_ / "log.txt").string();
    const std::string command = "cd '" + dir_.string() + "' && " + std::string(MIRAGE_BINARY) +
                                " " + args + " > '" + log + "' 2>&1";
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

}  // namespace
}  // namespace mirage
