// Copyright (c) Mirage developers.
// The batch scripts of scripts/slurm/ run as a Slurm job would run them, without Slurm: the
// SLURM_* variables a job has, and `srun`, `scancel`, `scontrol` and `squeue` replaced by shims
// on PATH that log their arguments (srun then runs the command). Checked: the shard of an
// array task, the resources passed to srun, resuming from a checkpoint, requeueing on exit 75
// (the array task alone, and only while the job runs), a TERM to the batch shell reaching
// mirage, checkpoints removed after success, the refusals, and merged counts equal to a
// one-process run. docs/SLURM.md has the runs under a real Slurm.
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

// Big enough that one thread is still sampling when the first checkpoint appears.
const std::string SWEEP =
    "[run]\n"
    "scales = \"1e8:1e12:9\"\n"
    "lengths = [1, 2, 5]\n"
    "test-sizes = [10, 1000, 3000000]\n"
    "replicates = 16\n"
    "seed = 99\n"
    "backend = \"cpu\"\n";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

class SlurmScripts : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mirage_slurm_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    write_text(dir_ / "sweep.toml", SWEEP);
    // srun: log, skip srun's own options, run the command in its place (as the step, whose
    // pid scancel signals).
    shim("srun",
         "echo \"srun $*\" >> \"$SHIM_LOG\"\n"
         "echo $$ > \"$SHIM_LOG.step\"\n"
         "while [ $# -gt 0 ] && [ \"${1#-}\" != \"$1\" ]; do shift; done\n"
         "exec \"$@\"\n");
    shim("scancel",
         "echo \"scancel $*\" >> \"$SHIM_LOG\"\nkill -TERM \"$(cat \"$SHIM_LOG.step\")\"\n");
    shim("scontrol", "echo \"scontrol $*\" >> \"$SHIM_LOG\"\n");
    // squeue -o %T: the job's state, RUNNING unless $FAKE_STATE says otherwise.
    shim("squeue", "echo \"squeue $*\" >> \"$SHIM_LOG\"\necho \"${FAKE_STATE:-RUNNING}\"\n");
    // A mirage that only exits with $FAKE_EXIT, as a stopped run exits 75.
    shim("fake-mirage", "echo \"mirage $*\" >> \"$SHIM_LOG\"\nexit \"${FAKE_EXIT:-0}\"\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void shim(const std::string& name, const std::string& body) const {
    write_text(dir_ / "bin" / name, "#!/bin/bash\n" + body);
    fs::permissions(dir_ / "bin" / name, fs::perms::owner_all);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string log() const { return read_text(dir_ / "shim.log"); }

  // The environment of array task `k` (job 40, the task's own job id 41) and of the scripts.
  std::string env(const std::string& extra) const {
    return "env -u SLURM_STEP_NUM_TASKS PATH=" + path("bin") + ":$PATH SHIM_LOG=" +
           path("shim.log") + " SLURM_SUBMIT_DIR=" + dir_.string() +
           " SLURM_JOB_ID=41 SLURM_ARRAY_JOB_ID=40 SLURM_CPUS_PER_TASK=1 MIRAGE=" +
           MIRAGE_BINARY + " CONFIG=" + path("sweep.toml") + " OUT=" + path("out") +
           " SHARDS=3 CHECKPOINT_EVERY=0.01 " + extra;
  }
  std::string script(const std::string& name) const {
    return "bash " + std::string(MIRAGE_SOURCE_DIR) + "/scripts/slurm/" + name;
  }
  // Runs a command line; returns the exit code, stdout and stderr in *text.
  int shell(const std::string& command, std::string* text = nullptr) const {
    const int status = std::system((command + " > " + path("out.txt") + " 2>&1").c_str());
    if (text) *text = read_text(dir_ / "out.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int array_task(int k, const std::string& extra = "", std::string* text = nullptr) const {
    return shell(env("SLURM_ARRAY_TASK_ID=" + std::to_string(k) + " " + extra) + " " +
                     script("mirage-array.sbatch"),
                 text);
  }

  fs::path dir_;
};

TEST_F(SlurmScripts, ArrayTaskSamplesItsShardThenRemovesItsCheckpoint) {
  std::string text;
  ASSERT_EQ(array_task(1, "", &text), 0) << text;
  const std::string calls = log();
  EXPECT_NE(calls.find("srun --ntasks=1 --cpus-per-task=1 " + std::string(MIRAGE_BINARY) +
                       " run --config " + path("sweep.toml") + " --shard 1/3 --threads 1"),
            std::string::npos)
      << calls;
  EXPECT_EQ(calls.find("--resume"), std::string::npos) << calls;
  EXPECT_EQ(calls.find("scontrol"), std::string::npos) << calls;
  EXPECT_TRUE(fs::exists(path("out/parts/part-1.h5")));
  EXPECT_FALSE(fs::exists(path("out/parts/checkpoint-1.h5")));
  EXPECT_NE(text.find("job 40_1, shard 1/3"), std::string::npos) << text;
  // Kept on request.
  ASSERT_EQ(array_task(0, "KEEP_CHECKPOINTS=1", &text), 0) << text;
  EXPECT_TRUE(fs::exists(path("out/parts/checkpoint-0.h5")));
}

TEST_F(SlurmScripts, ExitCode75RequeuesTheArrayTaskAlone) {
  std::string text;
  EXPECT_EQ(array_task(2, "MIRAGE=" + path("bin/fake-mirage") + " FAKE_EXIT=75", &text), 75)
      << text;
  // 40 would name every task of the array.
  EXPECT_NE(log().find("scontrol requeue 40_2\n"), std::string::npos) << log();
  EXPECT_NE(text.find("requeueing 40_2"), std::string::npos) << text;
  // Not forever.
  fs::remove(path("shim.log"));
  EXPECT_EQ(array_task(2,
                       "MIRAGE=" + path("bin/fake-mirage") +
                           " FAKE_EXIT=75 SLURM_RESTART_COUNT=3 MAX_REQUEUES=3",
                       &text),
            75);
  EXPECT_EQ(log().find("scontrol"), std::string::npos) << log();
  EXPECT_NE(text.find("not requeued after 3 requeues"), std::string::npos) << text;
  // A job that is ending is left to Slurm: a plain scancel (which sends TERM too, so mirage
  // saves and exits 75) must not come back.
  fs::remove(path("shim.log"));
  EXPECT_EQ(array_task(2,
                       "MIRAGE=" + path("bin/fake-mirage") + " FAKE_EXIT=75 FAKE_STATE=COMPLETING",
                       &text),
            75);
  EXPECT_NE(log().find("squeue -h -j 40_2 -o %T"), std::string::npos) << log();
  EXPECT_EQ(log().find("scontrol"), std::string::npos) << log();
  EXPECT_NE(text.find("job 40_2 is COMPLETING, so Slurm decides"), std::string::npos) << text;
  // Other failures are not requeued.
  fs::remove(path("shim.log"));
  EXPECT_EQ(array_task(2, "MIRAGE=" + path("bin/fake-mirage") + " FAKE_EXIT=1", &text), 1);
  EXPECT_EQ(log().find("scontrol"), std::string::npos) << log();
}

TEST_F(SlurmScripts, TaskOutsideTheShardsIsRefused) {
  std::string text;
  // A 1-based array (--array=1-3) reaches task 3 of SHARDS=3.
  EXPECT_EQ(array_task(3, "", &text), 2);
  EXPECT_NE(text.find("task 3 is not a shard of SHARDS=3: the array must be 0-2"),
            std::string::npos)
      << text;
  EXPECT_FALSE(fs::exists(dir_ / "shim.log"));
  EXPECT_EQ(shell(env("") + " " + script("mirage-array.sbatch"), &text), 1);
  EXPECT_NE(text.find("not a job array task"), std::string::npos) << text;
}

// A TERM to the batch shell (sbatch --signal=B:TERM, scancel -b) reaches mirage, which saves
// its checkpoint; the task requeues; run again, it resumes; the merged parts give the counts
// of one process; the merge removes leftover checkpoints.
TEST_F(SlurmScripts, TermToTheShellCheckpointsRequeuesResumesAndMerges) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string command = "exec " + env("SLURM_ARRAY_TASK_ID=1") + " " +
                                script("mirage-array.sbatch") + " > " + path("task1.txt") +
                                " 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const fs::path checkpoint = dir_ / "out/parts/checkpoint-1.h5";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(fs::exists(checkpoint)) << "no checkpoint appeared";
  ::kill(child, SIGTERM);  // the batch shell: `exec env ... bash script`
  int status = 0;
  ::waitpid(child, &status, 0);
  const std::string task = read_text(dir_ / "task1.txt");
  ASSERT_TRUE(WIFEXITED(status)) << task;
  ASSERT_EQ(WEXITSTATUS(status), 75) << "the shard finished before TERM arrived?\n" << task;
  // Passed on to the step by scancel (srun would kill its step on a TERM), then requeued.
  EXPECT_NE(log().find("scancel -s TERM 40_1\n"), std::string::npos) << log();
  EXPECT_NE(log().find("scontrol requeue 40_1\n"), std::string::npos) << log();
  EXPECT_TRUE(fs::exists(checkpoint));
  EXPECT_FALSE(fs::exists(dir_ / "out/parts/part-1.h5"));

  std::string text;
  ASSERT_EQ(array_task(1, "SLURM_RESTART_COUNT=1", &text), 0) << text;
  EXPECT_NE(log().find("--resume " + checkpoint.string()), std::string::npos) << log();
  EXPECT_NE(text.find("run 2 on"), std::string::npos) << text;
  for (int k : {0, 2}) ASSERT_EQ(array_task(k, "KEEP_CHECKPOINTS=1", &text), 0) << text;
  EXPECT_TRUE(fs::exists(dir_ / "out/parts/checkpoint-0.h5"));
  // A part of another sweep left in OUT is not picked up.
  fs::copy_file(dir_ / "out/parts/part-0.h5", dir_ / "out/parts/part-3.h5");

  ASSERT_EQ(shell(env("") + " " + script("mirage-merge.sbatch"), &text), 0) << text;
  EXPECT_FALSE(fs::exists(dir_ / "out/parts/checkpoint-0.h5"));
  EXPECT_TRUE(fs::exists(dir_ / "out/summary.csv"));
  ASSERT_EQ(shell(std::string(MIRAGE_BINARY) + " run --config " + path("sweep.toml") +
                      " -q -o " + path("plain.h5"),
                  &text),
            0)
      << text;
  const h5::File merged = h5::File::open_read(path("out/mirage.h5"));
  const h5::File plain = h5::File::open_read(path("plain.h5"));
  for (const char* d : {"/counts/exact_match", "/counts/token_errors", "/counts/token_errors_sq"})
    EXPECT_EQ(merged.read_int64(d), plain.read_int64(d)) << d;

  // A missing part is named, with the command that samples it.
  fs::remove(dir_ / "out/parts/part-2.h5");
  EXPECT_EQ(shell(env("") + " " + script("mirage-merge.sbatch"), &text), 2);
  EXPECT_NE(text.find("missing part(s) 2 of SHARDS=3"), std::string::npos) << text;
  EXPECT_NE(text.find("sbatch --array=2 scripts/slurm/mirage-array.sbatch"), std::string::npos)
      << text;
}

// SHARDS=1: one task is the whole sweep and writes the result, which needs no merge.
TEST_F(SlurmScripts, OneShardWritesTheResult) {
  std::string text;
  ASSERT_EQ(array_task(0, "SHARDS=1", &text), 0) << text;
  EXPECT_NE(log().find("--shard 0/1"), std::string::npos) << log();
  EXPECT_EQ(h5::File::open_read(path("out/mirage.h5")).attr_string("/", "filetype"),
            "mirage-results");
  EXPECT_TRUE(fs::exists(dir_ / "out/summary.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "out/parts/checkpoint-0.h5"));
  EXPECT_EQ(shell(env("SHARDS=1") + " " + script("mirage-merge.sbatch"), &text), 0) << text;
  EXPECT_NE(text.find("needs no merge"), std::string::npos) << text;
}

TEST_F(SlurmScripts, MpiScriptAsksForPmixAndRequeuesItsJob) {
  std::string text;
  const std::string fake = "MIRAGE=" + path("bin/fake-mirage") + " ";
  ASSERT_EQ(shell(env(fake) + " " + script("mirage-mpi.sbatch"), &text), 0) << text;
  EXPECT_NE(log().find("srun --mpi=pmix --kill-on-bad-exit=1 --cpus-per-task=1 " +
                       path("bin/fake-mirage") + " run --config " + path("sweep.toml") +
                       " --threads 1 --checkpoint " + path("out/checkpoint.h5")),
            std::string::npos)
      << log();
  EXPECT_EQ(log().find("scontrol"), std::string::npos) << log();
  fs::remove(path("shim.log"));
  write_text(dir_ / "out/checkpoint.h5", "");  // resumed from, then removed after success
  ASSERT_EQ(shell(env(fake + "SRUN_MPI=pmi2") + " " + script("mirage-mpi.sbatch"), &text), 0);
  EXPECT_NE(log().find("srun --mpi=pmi2 "), std::string::npos) << log();
  EXPECT_NE(log().find("--resume " + path("out/checkpoint.h5")), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(dir_ / "out/checkpoint.h5"));
  fs::remove(path("shim.log"));
  EXPECT_EQ(shell(env(fake + "FAKE_EXIT=75") + " " + script("mirage-mpi.sbatch"), &text), 75);
  EXPECT_NE(log().find("scontrol requeue 41\n"), std::string::npos) << log();
}

}  // namespace
}  // namespace mirage
