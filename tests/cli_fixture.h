// Copyright (c) Mirage developers.
//! \file cli_fixture.h
//! A GoogleTest fixture for tests that run the mirage binary: a fresh directory per test
//! (named after the suite and the test), the binary run with its output captured, and the
//! check every refusal must pass (exit 2, a "mirage: error:" message holding each fragment,
//! no output file).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

namespace mirage::testing_cli {

//! Exit code and everything the command printed (stdout and stderr together).
struct Outcome {
  int code;
  std::string output;
};

class MirageCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mirage_" + std::string(info->test_suite_name()) + "_" + std::to_string(::getpid()) +
            "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  //! Runs `mirage ARGS`.
  Outcome mirage(const std::string& args) const {
    const std::string log = (dir_ / "log.txt").string();
    const int status =
        std::system((std::string(MIRAGE_BINARY) + " " + args + " > " + log + " 2>&1").c_str());
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
  }
  //! A path in the test's directory.
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  //! `mirage ARGS` (which writes `output` if it runs) must be refused: exit 2, a message that
  //! starts with "mirage: error: " and holds every fragment, and no `output`.
  void expect_refused_writing(const std::string& args, const std::string& output,
                              std::initializer_list<const char*> fragments) const {
    const Outcome o = mirage(args);
    EXPECT_EQ(o.code, 2) << args << "\n" << o.output;
    EXPECT_EQ(o.output.rfind("mirage: error: ", 0), 0u) << o.output;
    for (const char* fragment : fragments) {
      EXPECT_NE(o.output.find(fragment), std::string::npos)
          << args << ": message lacks '" << fragment << "':\n"
          << o.output;
    }
    EXPECT_FALSE(std::filesystem::exists(output)) << args;
  }

  std::filesystem::path dir_;
};

}  // namespace mirage::testing_cli
