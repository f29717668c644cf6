// Copyright (c) Mirage developers.
//! \file commands.h
//! The subcommands behind the CLI: each takes validated input and does the whole job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "io/results.h"

namespace mirage {

//! Samples the sweep of a validated `config` and reduces it to metrics (no output written).
//! Progress goes to stderr unless config.quiet; `note` receives the backend choice.
Results simulate(const Config& config, const std::string& command_line, std::string* note);

//! `mirage run`: simulate, write the HDF5 file (and CSV), print the summary table to `out`.
//! Returns the process exit code.
int run_command(const Config& config, const std::string& command_line);

//! Options of `mirage merge`.
struct MergeOptions {
  std::vector<std::string> parts;  //!< shard files written by `mirage run --shard k/N`
  std::string output;
  std::string csv;
  std::string compression = "none";  //!< as Config::compression
  std::string keep_replicates = "all";  //!< as run's --keep-replicates (Config::keep_replicates)
  bool quiet = false;
  std::string command_line;
};
//! `mirage merge`: checks that the parts share one configuration and seed and together cover
//! every work unit exactly once, then writes the complete result with all statistics.
int merge_command(const MergeOptions& options);

//! `mirage info`: build, backends and devices.
int info_command();

//! Options of `mirage bench`.
struct BenchOptions {
  std::string backend = "cpu";  //!< cpu | cuda
  double draws = 0;             //!< token draws to time; 0 = backend default
  int32_t threads = 0;
  std::string json;  //!< "" = no JSON file
  bool quiet = false;
  std::string difficulty = "none";  //!< item difficulty of the bench sweep (canonical spec)
  std::string task = "free-form";   //!< free-form | multiple-choice
  int32_t choices = 4;              //!< options per item for multiple-choice
  //! "throughput": 8 scales x lengths 1..5 x 4 replicates with `draws` spread over as many
  //! items as that takes (sampling speed); "replicates": the coverage-study sweep of 21 scales
  //! 1e8..1e13, lengths 1..5, test sizes 10, 100, 1000 and 20,000 replicates (2.1e9 draws,
  //! 6.3e6 cells: reduction and output speed).
  std::string sweep = "throughput";
  std::string compression = "none";  //!< of the timed output, as Config::compression
  std::string keep_replicates = "all";  //!< of the timed output, as run's --keep-replicates
  //! Attempts per item (Config::attempts; with A > 1 also pass@1 and pass@A); --draws counts
  //! the draws of every attempt.
  int32_t attempts = 1;
  //! > 0: sampling until success with this budget (Config::until_success, Config::budget);
  //! the sweep is sized by the expected attempts per item, and the draws counted are those
  //! the outcomes used (until_draws).
  int32_t budget = 0;
};
//! `mirage bench`: token draws per second of one backend on a fixed synthetic sweep, plus
//! the time of the reduction and of writing the output.
int bench_command(const BenchOptions& options);

//! The short table `mirage run` prints: exact match and token edit distance against scale
//! at the longest length and largest test size.
std::string summary_table(const Results& results);

}  // namespace mirage
