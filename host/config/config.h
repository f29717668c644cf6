// Copyright (c) Mirage developers.
//! \file config.h
//! The resolved configuration of a run, its parsing from text and its validation.
//! `validate()` is the one place that decides whether input is acceptable; its messages name
//! the option, the offending value and what is allowed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mirage {

//! Everything that determines a run. Defaults are the default sweep of docs/DESIGN.md §7.1.
struct Config {
  // Model (docs/DESIGN.md §1).
  std::vector<double> scales;   //!< parameters, strictly increasing, > 0
  double loss_scale = 2e9;      //!< c in L(N) = (N / c)^alpha, > 0
  double loss_exponent = -0.5;  //!< alpha, < 0
  std::string preset;           //!< "" or a model family of config/presets.h (sets the scales)
  //! A measured loss curve (--loss-table, or loss-table-scales/-losses in a config file);
  //! when non-empty it replaces the power law.
  std::vector<double> loss_table_scales, loss_table_losses;
  bool extrapolate = false;  //!< allow scales outside the loss table's range
  //! Item difficulty (model/difficulty.h): "none" (every item equally hard, the paper's
  //! model), "normal:SIGMA", "logistic:S" or "kumaraswamy:A:B", in canonical form.
  std::string difficulty = "none";
  // Task.
  std::string task = "free-form";   //!< free-form | multiple-choice
  int32_t choices = 4;              //!< options of a multiple-choice item, 2..MAX_CHOICES
  std::vector<int32_t> lengths;     //!< strictly increasing target lengths, 1..MAX_LENGTH
  std::vector<int64_t> test_sizes;  //!< strictly increasing nested test sizes, 1..MAX_ITEMS
  int32_t replicates = 100;         //!< independent test sets, >= 1
  //! Independent attempts per item, 1..MAX_ATTEMPTS (free-form only); 1 is the paper's
  //! single attempt. The existing metrics use attempt 0 (docs/DESIGN.md §3.5).
  int32_t attempts = 1;
  //! Sampling until success (PassUntil, docs/DESIGN.md §3.6): attempt every item until its
  //! first exactly right answer, at most `budget` attempts (1..MAX_BUDGET; 0 = not given).
  //! Free-form only, with one attempt; the existing metrics still use attempt 0.
  bool until_success = false;
  int32_t budget = 0;
  //! Adaptive test-set size (docs/DESIGN.md §5.11): per (scale, length, replicate) the smallest
  //! step of adaptive_steps(max_items) whose exact-match interval has half-width at most
  //! target_relative_width times the estimate. 0 and 0 = not adaptive; when adaptive,
  //! test_sizes is the step grid.
  double target_relative_width = 0.0;
  int64_t max_items = 0;
  uint64_t seed = 2023;
  // Execution.
  std::string backend = "auto";    //!< auto | cpu | cuda
  int32_t threads = 0;             //!< CPU threads; 0 = all available
  //! The CPU sampler's inner loop: auto (the fastest this CPU runs) | portable | avx2 |
  //! avx512. Every kernel gives the same tallies, so it is not part of the sweep's identity.
  std::string cpu_kernel = "auto";
  std::vector<int32_t> devices;    //!< CUDA device indices; empty = all visible
  int64_t items_per_unit = 65536;  //!< work-unit size in items (multiple of 4)
  // Statistics.
  std::string interval = "wilson";          //!< exact_match interval method
  std::string mean_interval = "wilson-deff";  //!< interval for the linear metrics
  double confidence = 0.95;                 //!< in (0, 1)
  //! k of the pass@k metrics (each 1..attempts, strictly increasing); needs attempts > 1.
  std::vector<int32_t> pass_at;
  // Scale-out (not part of the sweep's identity: they change how, not what, is sampled).
  int32_t shard_index = 0;  //!< this process samples shard shard_index of shard_count
  int32_t shard_count = 1;  //!< 1 = no sharding; >1 writes a partial file for `mirage merge`
  std::string checkpoint;   //!< "" = no checkpoints
  double checkpoint_every = 600.0;  //!< seconds between checkpoints, > 0
  std::string resume;               //!< checkpoint to resume from ("" = start afresh)
  // Output.
  std::string output = "results/mirage.h5";
  std::string csv;  //!< "" = no CSV
  //! HDF5 compression of the result file: "none" (contiguous datasets, the default: on the
  //! machines measured, writing is faster than deflating), "gzip" (deflate level 1) or
  //! "gzip:LEVEL", LEVEL 1..9. It changes the file's storage, never a value in it.
  std::string compression = "none";
  //! The replicates whose per-replicate arrays (tallies, estimates and intervals, jump
  //! intervals, emergence scores, adaptive stops) the result file stores: the first
  //! keep_replicates of them, 1..replicates, or 0 for all. Summaries, coverage and every other
  //! statistic across replicates still use all of them. An output option: not part of the
  //! sampling identity.
  int32_t keep_replicates = 0;
  bool quiet = false;
};

//! The number of replicates whose per-replicate arrays a result file of `config` stores:
//! keep_replicates, or replicates when that is 0 (all) or more.
inline int32_t stored_replicates(const Config& config) {
  return config.keep_replicates > 0 && config.keep_replicates < config.replicates
             ? config.keep_replicates
             : config.replicates;
}

//! Parses `--keep-replicates`: "all" is 0, else an integer >= 1 (validate() checks it against
//! --replicates). Throws std::invalid_argument naming `option` and what is allowed otherwise.
int32_t parse_keep_replicates(const std::string& option, const std::string& text);

//! The deflate level `--compression` names: 0 for "none", 1 for "gzip", LEVEL for "gzip:LEVEL"
//! (1..9). Throws std::invalid_argument naming `option` and what is allowed otherwise.
int parse_compression(const std::string& option, const std::string& text);

//! The default scale grid (docs/DESIGN.md §7.1): 41 log-spaced scales from 1e8 to 1e13.
std::vector<double> default_scales();
//! The four GPT-3-family sizes of the paper's figure 2: 3.5e8, 1.3e9, 6.7e9, 2e11.
std::vector<double> gpt3_scales();

//! The first step of adaptive test-set sizes: the smallest test size of the default sweep.
constexpr int64_t ADAPTIVE_FIRST_STEP = 10;

//! The fixed steps of an adaptive test-set size up to `max_items`: 10, 20, 40, ... (10 x 2^j
//! below max_items), then max_items itself. Empty for max_items outside
//! ADAPTIVE_FIRST_STEP..MAX_ITEMS.
std::vector<int64_t> adaptive_steps(int64_t max_items);

//! A configuration with the default sweep (docs/DESIGN.md §7.1) filled in.
Config default_config();

//! Parses a finite double from the whole of `text` (no trailing characters); throws
//! std::invalid_argument naming `option` otherwise.
double parse_double(const std::string& option, const std::string& text);
//! Parses an integer from the whole of `text`; scientific notation (1e5) is accepted when it
//! is an exact integer. Throws std::invalid_argument naming `option` otherwise.
int64_t parse_integer(const std::string& option, const std::string& text);

//! Parses a list of scales: comma-separated items, each a number or a log grid `a:b:n` (n
//! points from a to b inclusive, log-spaced). Items are concatenated in order.
std::vector<double> parse_scales(const std::string& option, const std::vector<std::string>& items);

//! Throws std::invalid_argument for the first problem found, naming the option, the value
//! and what is allowed. Checks ranges, ordering, finiteness, names, the memory the tally and
//! metric arrays would need, and that the output path is writable (without creating it).
void validate(const Config& config);

//! Bytes of host memory per (scale, length, test size, replicate) cell: the segment tallies,
//! the nested counts, every metric's estimates and intervals and its jump intervals.
uint64_t bytes_per_cell(const Config& config);

//! Bytes of host memory that the tallies and result arrays of this sweep need at the end of
//! the reduction, when all of them are held (bytes_per_cell per cell, plus the per-replicate
//! emergence scores and the arrays per (scale, length, test size)).
uint64_t result_bytes(const Config& config);

//! Checks the TOML subset that --config accepts (tables, KEY = VALUE, single-line arrays,
//! comments) line by line, so that a malformed file is refused with its line number rather
//! than half-read. Throws std::invalid_argument naming --config.
void check_config_syntax(const std::string& path);

//! The configuration as TOML that `mirage run --config` reads back (a [run] table).
std::string to_toml(const Config& config);

//! The keys that determine the tallies (model, task, seed, work-unit size) as TOML: two runs
//! whose identities are equal sample the same numbers, so their tallies may be merged and a
//! checkpoint of one may be resumed by the other.
std::string sampling_identity(const Config& config);

//! Checks that `path` could be created or replaced: its directory exists and is writable and
//! `path` is not a directory. Throws std::invalid_argument naming `option`.
void check_writable(const std::string& option, const std::string& path);

//! Throws std::invalid_argument naming the option when two outputs (option, path) name the
//! same file, or an output names one of the inputs (compared after resolving the paths, and by
//! device and inode for files that exist). Empty paths are skipped.
void check_distinct_files(const std::vector<std::pair<std::string, std::string>>& outputs,
                          const std::vector<std::pair<std::string, std::string>>& inputs);

}  // namespace mirage
