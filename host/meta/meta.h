// Copyright (c) Mirage developers.
//! \file meta.h
//! `mirage meta`: a synthetic BIG-bench. A population of tasks, each with its own target
//! length, loss law, item difficulty, number of choices and test-set size drawn from the laws
//! of the configuration (meta/distribution.h), is evaluated on each model family's own scales
//! (config/presets.h), one test set per (task, family) as a benchmark has it, plus replicates
//! for the spread. For every (task, family, metric) the observed curve over the family's
//! scales and its emergence score; for every (family, metric) the fraction of tasks whose
//! score exceeds a threshold: the analysis of Schaeffer, Miranda & Koyejo (2023), section 4
//! and figure 5, on tasks whose truth is known.
//!
//! Determinism: a task's parameters and the seed of each of its sweeps derive from the meta
//! seed and the task's index alone (Philox words of a reserved stream), and every sweep's
//! tallies are the integers of sample_unit_reference; so the results are bit for bit the
//! same for any number of threads, MPI ranks or shards (--shard k/N and mirage merge).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/presets.h"
#include "io/results.h"

namespace mirage {

//! Everything that determines a meta-analysis, as `mirage meta` takes it (a [meta] table).
struct MetaConfig {
  int32_t tasks = 200;      //!< synthetic tasks, 1..100000
  int32_t replicates = 10;  //!< test sets per (task, family), >= 1
  uint64_t seed = 2023;
  std::vector<std::string> families = {"gpt3", "gpt3-full", "big-g"};
  //! A curve "looks emergent" when its emergence score exceeds this (the fraction per
  //! family and metric). Scores depend on the number of scales: a straight line over S scales
  //! scores S - 1.
  double threshold = 5.0;
  //! The same on a per-step scale: a curve counts when its score exceeds this many times the
  //! score of a straight line on the family's grid, S - 1 (comparable across families).
  double relative_threshold = 2.0;
  // Laws of the task parameters (meta/distribution.h).
  std::string length = "int:1:8";                     //!< target length in tokens
  std::string loss_scale = "loguniform:3e8:3e10";     //!< c of L(N) = (N / c)^alpha
  std::string loss_exponent = "uniform:-0.8:-0.3";    //!< alpha
  std::string difficulty_family = "choice:none,normal,kumaraswamy";
  std::string difficulty_a = "uniform:0.3:1.5";  //!< normal/logistic scale, Kumaraswamy A
  std::string difficulty_b = "uniform:0.5:3";    //!< Kumaraswamy B
  std::string choices = "choice:0,0,4";          //!< options; 0 = a free-form task
  std::string test_size = "int-log:100:1000";    //!< items of the task's one test set
  // Execution (not part of what is sampled).
  std::string backend = "auto";
  int32_t threads = 0;
  std::vector<int32_t> devices;
  int32_t shard_index = 0;
  int32_t shard_count = 1;
  std::string output = "results/meta.h5";
  std::string csv;
  bool quiet = false;
};

//! One synthetic task, as drawn.
struct MetaTask {
  int32_t length = 1;
  double loss_scale = 0.0;
  double loss_exponent = 0.0;
  std::string difficulty = "none";  //!< canonical difficulty spec (model/difficulty.h)
  int32_t choices = 0;              //!< 0: free-form
  int64_t test_size = 0;
};

//! Throws std::invalid_argument naming the option, the value and what is allowed, for the
//! first problem of `config`: counts out of range, unknown families, a malformed law, or a
//! law whose range leaves what its parameter allows (e.g. a loss exponent >= 0); and whether
//! the output paths are writable.
void validate(const MetaConfig& config);

//! The configuration as TOML that `mirage meta --config` reads back (a [meta] table).
std::string to_toml(const MetaConfig& config);

//! The keys that determine what is sampled (tasks, replicates, seed, families, laws): shards
//! of one meta-analysis share it.
std::string sampling_identity(const MetaConfig& config);

//! The task population of `config` (the same for every process and machine).
std::vector<MetaTask> draw_tasks(const MetaConfig& config);

//! The seed of the sweep of task `task` on family number `family` (in config.families).
uint64_t task_seed(uint64_t seed, int32_t task, int32_t family);

//! The run configuration of task `task` on `family`: its model, task and test set on the
//! family's scales, with the execution options of `meta`.
Config task_config(const MetaConfig& meta, const MetaTask& task, int32_t task_index,
                   int32_t family_index);

//! The metrics of the meta-analysis, in output order.
const std::vector<std::string>& meta_metrics();

//! A finished meta-analysis: the population, the curves, their scores and the fractions.
struct MetaResults {
  MetaConfig config;
  RunInfo info;
  std::vector<MetaTask> tasks;
  std::vector<ModelFamily> families;
  //! [metric][family]: [tasks][replicates][scales] observed curves (NaN where the metric does
  //! not apply: the multiple-choice metrics of free-form tasks).
  std::vector<std::vector<std::vector<double>>> curve;
  //! [metric][family]: [tasks][scales] the noise-free curves (model/truth.h).
  std::vector<std::vector<std::vector<double>>> expected;
  std::vector<std::vector<double>> score;               //!< [metric]: [tasks][families][replicates]
  std::vector<std::vector<double>> score_expected;      //!< [metric]: [tasks][families]
  std::vector<std::vector<double>> fraction;            //!< [metric]: [families]
  std::vector<std::vector<double>> fraction_expected;   //!< [metric]: [families]
  std::vector<std::vector<double>> fraction_replicate;  //!< [metric]: [families][replicates]
  std::vector<std::vector<double>> fraction_relative;   //!< [metric]: [families], relative threshold
  std::vector<std::vector<double>> fraction_relative_expected;  //!< [metric]: [families]
};

//! `mirage meta`: draws the tasks, samples them (this shard's, this rank's), and on rank 0
//! writes the meta file (or, with --shard, a partial file for mirage merge), the CSV and a
//! summary. Returns the exit code.
int meta_command(const MetaConfig& config, const std::string& command_line);

//! Whether `path` is a partial meta file written by `mirage meta --shard`.
bool is_meta_shard(const std::string& path);

//! `mirage merge` of meta shards: checks that they share one configuration and cover every
//! task once, then writes the complete meta file (and CSV).
int merge_meta_shards(const std::vector<std::string>& parts, const std::string& output,
                      const std::string& csv, bool quiet, const std::string& command_line);

//! The summary table `mirage meta` prints.
std::string meta_summary(const MetaResults& results);

//! The [meta] configuration that `config_toml` (as written by to_toml) describes, parsed as
//! `mirage meta --config` would. Implemented in cli/cli.cpp (the one CLI11 parser).
MetaConfig meta_config_from_toml(const std::string& config_toml, const std::string& source);

}  // namespace mirage
