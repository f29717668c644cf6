// Copyright (c) Mirage developers.
#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "cli/commands.h"
#include "forecast/forecast.h"
#include "io/hdf5_file.h"
#include "meta/meta.h"
#include "config/config.h"
#include "config/presets.h"
#include "model/difficulty.h"
#include "model/loss_table.h"
#include "mirage/build_info.h"
#include "mirage/sweep.h"
#include "cli/summarize.h"
#include "run/cpu_backend.h"

namespace mirage {
namespace {

// CLI11's TOML reader splits an array by erasing from the front of its text: quadratic in the
// array's length (an inline loss table of 10^6 rows, stored in every shard's configuration,
// took minutes to read back). Its reader merges consecutive lines that set the same key, so a
// long array of plain values (no quotes, no brackets inside) is handed to it as one line per
// value instead: the same items, read in linear time. check_config_syntax has already checked
// the file's form, line by line.
class LinearConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    constexpr size_t LONG_LINE = 4096;
    std::string text, line;
    while (std::getline(input, line)) {
      const size_t equals = line.find('=');
      const size_t open = equals == std::string::npos ? std::string::npos
                                                      : line.find_first_not_of(" \t", equals + 1);
      const size_t close = line.find_last_of(']');
      if (line.size() < LONG_LINE || open == std::string::npos || line[open] != '[' ||
          close == std::string::npos || close <= open ||
          line.find_first_of("\"'[]#", open + 1) != close ||
          line.find_first_not_of(" \t\r", close + 1) != std::string::npos) {
        text += line;
        text += '\n';
        continue;
      }
      const std::string key = line.substr(0, equals);
      for (size_t begin = open + 1; begin <= close;) {
        size_t end = line.find(',', begin);
        if (end == std::string::npos || end > close) end = close;
        text += key + "= " + line.substr(begin, end - begin) + "\n";
        begin = end + 1;
      }
    }
    std::istringstream lines(text);
    return CLI::ConfigTOML::from_config(lines);
  }
};

// Raw text of every option: numbers are parsed by config.h so that every bad value gets the
// same kind of message, naming the option.
struct RunText {
  std::vector<std::string> scales, lengths, test_sizes, devices;
  std::string loss_scale, loss_exponent, replicates, seed, threads, items_per_unit, confidence;
  std::string shard, checkpoint_every, loss_table, difficulty, difficulty_sd, difficulty_bins,
      choices;
  std::vector<std::string> loss_table_scales, loss_table_losses;
  std::string cpu_kernel;
  std::string attempts;
  std::vector<std::string> pass_at;
  std::string budget;
  std::string target_relative_width, max_items;
  std::string keep_replicates;
};

std::string join_args(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    if (i) line += ' ';
    const std::string arg = argv[i];
    const bool plain = arg.find_first_of(" \t'\"\\$") == std::string::npos && !arg.empty();
    line += plain ? arg : "'" + arg + "'";
  }
  return line;
}

// The host's OpenMP loops (the reduction, the exact truth) use as many threads as --threads
// gives the sampler; 0 leaves OpenMP's default (all cores, or OMP_NUM_THREADS).
void use_threads(int32_t threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

std::string format_scale(double value) {
  std::ostringstream out;
  out << std::setprecision(17) << value;
  return out.str();
}

uint64_t parse_seed(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(begin, &end, 10);
  // Digits only: strtoull would also take leading blanks and a sign (" -1" -> 2^64 - 1).
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || end == begin || *end != '\0' || errno == ERANGE) {
    throw std::invalid_argument("--seed: value '" + text +
                                "' is not allowed; an integer from 0 to 2^64-1");
  }
  return value;
}

int32_t parse_int32(const std::string& option, const std::string& text, int64_t low, int64_t high) {
  const int64_t value = parse_integer(option, text);
  if (value < low || value > high) {
    throw std::invalid_argument(option + ": value '" + text + "' is not allowed; " +
                                std::to_string(low) + " to " + std::to_string(high));
  }
  return static_cast<int32_t>(value);
}

void add_run_options(CLI::App& run, Config& c, RunText& text) {
  run.add_option("--scales", text.scales,
                 "model scales in parameters: a list 1e8,1e9,... or a log grid FIRST:LAST:COUNT "
                 "[default 1e8:1e13:41]")
      ->delimiter(',')
      ->group("Model");
  run.add_option("--preset", c.preset,
                 "the scales of a real model family: " + family_names() +
                     " (mirage info lists their sizes and sources)")
      ->group("Model");
  run.add_option("--loss-scale", text.loss_scale, "c in L(N) = (N/c)^alpha [default 2e9]")
      ->group("Model");
  run.add_option("--loss-exponent", text.loss_exponent,
                 "alpha in L(N) = (N/c)^alpha [default -0.5]")
      ->group("Model");
  run.add_option("--loss-table", text.loss_table,
                 "CSV with columns scale,loss (header required): a measured loss curve, "
                 "interpolated in log N - log loss; replaces c and alpha")
      ->group("Model");
  run.add_flag("--extrapolate", c.extrapolate,
               "allow scales outside the loss table, extending its end segments' power laws")
      ->group("Model");
  // The same table inline, as config files and stored configurations hold it.
  run.add_option("--loss-table-scales", text.loss_table_scales)->delimiter(',')->group("");
  run.add_option("--loss-table-losses", text.loss_table_losses)->delimiter(',')->group("");
  run.add_option("--difficulty", text.difficulty,
                 "item difficulty, a law of each item's logit shift: none | normal:SIGMA | "
                 "logistic:S | kumaraswamy:A:B [default none: all items equally hard]")
      ->group("Model");
  run.add_option("--difficulty-sd", text.difficulty_sd, "SIGMA: the same as --difficulty normal:SIGMA")
      ->group("Model");
  // Gone with the bins (continuous difficulty); kept only to refuse it with a clear message.
  run.add_option("--difficulty-bins", text.difficulty_bins)->group("");
  run.add_option("--task", c.task, "free-form | multiple-choice [default free-form]")
      ->group("Task");
  run.add_option("--choices", text.choices, "options per multiple-choice item [default 4]")
      ->group("Task");
  run.add_option("--lengths", text.lengths,
                 "target lengths, strictly increasing [default 1,2,3,4,5]")
      ->delimiter(',')
      ->group("Task");
  run.add_option("--test-sizes", text.test_sizes,
                 "nested test-set sizes, strictly increasing [default 10,100,1000,10000,100000]")
      ->delimiter(',')
      ->group("Task");
  run.add_option("--replicates", text.replicates, "independent test sets [default 100]")
      ->group("Task");
  run.add_option("--attempts", text.attempts,
                 "independent attempts per item, 1..1024 (free-form tasks); the other metrics "
                 "use attempt 0 [default 1]")
      ->group("Task");
  run.add_flag("--until-success", c.until_success,
               "attempt each item until its first exactly right answer, at most --budget "
               "attempts (free-form tasks; PassUntil, Hu et al. 2024)")
      ->group("Task");
  run.add_option("--budget", text.budget,
                 "most attempts per item with --until-success, 1..16384")
      ->group("Task");
  run.add_option("--target-relative-width", text.target_relative_width,
                 "adaptive test-set size: per (scale, length, replicate) stop at the first step "
                 "10, 20, 40, ..., --max-items whose exact-match interval has half-width <= W x "
                 "the estimate (replaces --test-sizes)")
      ->group("Task");
  run.add_option("--max-items", text.max_items,
                 "the last step of --target-relative-width, 10..2^34 items")
      ->group("Task");
  run.add_option("--pass-at", text.pass_at,
                 "k of the pass@k metrics, strictly increasing, each <= --attempts [default "
                 "1,A with --attempts A > 1]")
      ->delimiter(',')
      ->group("Statistics");
  run.add_option("--seed", text.seed, "random seed, 0..2^64-1 [default 2023]")->group("Task");
  run.add_option("--backend", c.backend, "auto | cpu | cuda [default auto]")->group("Execution");
  run.add_option("--threads", text.threads, "CPU threads, 0 = all cores [default 0]")
      ->group("Execution");
  run.add_option("--cpu-kernel", text.cpu_kernel,
                 "CPU sampler kernel: auto | portable | avx2 | avx512, all with the same results "
                 "[default auto: the fastest this CPU runs]")
      ->group("Execution");
  run.add_option("--devices", text.devices, "CUDA device indices [default: all visible]")
      ->delimiter(',')
      ->group("Execution");
  run.add_option("--items-per-unit", text.items_per_unit,
                 "items per work unit (multiple of 4) [default 65536]")
      ->group("Execution");
  run.add_option("--interval", c.interval,
                 "exact-match interval: wilson | clopper-pearson | jeffreys | agresti-coull | wald "
                 "| logit | likelihood-ratio | blaker [default wilson]")
      ->group("Statistics");
  run.add_option("--mean-interval", c.mean_interval,
                 "interval for the linear metrics: wilson-deff | clopper-pearson-deff | student-t | "
                 "normal [default wilson-deff]")
      ->group("Statistics");
  run.add_option("--confidence", text.confidence, "interval confidence in (0,1) [default 0.95]")
      ->group("Statistics");
  run.add_option("--shard", text.shard,
                 "sample only shard K of N (K/N, 0 <= K < N) and write a partial file for "
                 "mirage merge")
      ->group("Scale-out");
  run.add_option("--checkpoint", c.checkpoint,
                 "save completed work here every --checkpoint-every seconds and on SIGTERM/SIGINT")
      ->group("Scale-out");
  run.add_option("--checkpoint-every", text.checkpoint_every, "seconds between checkpoints [600]")
      ->group("Scale-out");
  run.add_option("--resume", c.resume, "continue from this checkpoint (same configuration)")
      ->group("Scale-out");
  run.add_option("-o,--output", c.output, "HDF5 result file [default results/mirage.h5]")
      ->group("Output");
  run.add_option("--csv", c.csv, "also write the tidy summary CSV here")->group("Output");
  run.add_option("--compression", c.compression,
                 "HDF5 compression: none | gzip | gzip:LEVEL (1..9) [default none: writing "
                 "is faster than deflating]")
      ->group("Output");
  run.add_option("--keep-replicates", text.keep_replicates,
                 "store the per-replicate arrays of the first N replicates only (1..--replicates); "
                 "summaries and coverage still use every replicate [default all]")
      ->group("Output");
  run.add_flag("-q,--quiet", c.quiet, "no progress or summary table")->group("Output");
}

// Turns the raw option text into typed config values (defaults stay where nothing was given).
// Refuses what CLI11 lets through silently: an option given with an empty value (which would
// otherwise mean "the default": `--replicates ""`, `--resume ""` starting afresh), an empty
// element of a list (`--scales 1e8,,1e9`), and options that have no effect in context.
void check_given_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || option->get_expected_max() == 0) continue;  // absent, or a flag
    for (const std::string& value : option->results()) {
      if (value.empty() || value.find_first_not_of(" \t") == std::string::npos) {
        throw std::invalid_argument(option->get_name() + ": value '" + value +
                                    "' is empty; give a value or leave the option out");
      }
    }
  }
}

void check_no_effect(const CLI::App& run, const Config& c) {
  if (run.count("--choices") > 0 && c.task != "multiple-choice") {
    throw std::invalid_argument("--choices: has no effect on a " + c.task +
                                " task; add --task multiple-choice or leave it out");
  }
  if (c.extrapolate && c.loss_table_scales.empty()) {
    throw std::invalid_argument(
        "--extrapolate: has no effect without a loss table (--loss-table); leave it out");
  }
  if (run.count("--checkpoint-every") > 0 && c.checkpoint.empty()) {
    throw std::invalid_argument(
        "--checkpoint-every: has no effect without --checkpoint FILE; give one or leave it out");
  }
  if (c.keep_replicates != 0 && c.shard_count > 1) {
    throw std::invalid_argument(
        "--keep-replicates: has no effect on a shard, which writes tallies; give it to "
        "mirage merge");
  }
}

void resolve(const CLI::App& run, Config& c, const RunText& text) {
  check_given_options(run);
  const bool scales_given = run.count("--scales") > 0;
  if (!c.preset.empty() && scales_given) {
    throw std::invalid_argument("--preset: '" + c.preset +
                                "' sets the scales; do not also give --scales");
  }
  if (!c.preset.empty()) {
    const ModelFamily* family = find_family(c.preset);
    if (family == nullptr) {
      throw std::invalid_argument("--preset: unknown preset '" + c.preset + "'; allowed: " +
                                  family_names());
    }
    c.scales = family->scales;
  }
  if (scales_given) c.scales = parse_scales("--scales", text.scales);
  const bool inline_table = run.count("--loss-table-scales") + run.count("--loss-table-losses") > 0;
  if (!text.loss_table.empty() || inline_table) {
    if (!text.loss_scale.empty() || !text.loss_exponent.empty()) {
      throw std::invalid_argument(
          "--loss-table: a loss table replaces the power law; do not also "
          "give --loss-scale or --loss-exponent");
    }
    if (!text.loss_table.empty() && inline_table) {
      throw std::invalid_argument("--loss-table: give the table as a file or inline, not both");
    }
  }
  if (!text.loss_table.empty()) {
    const LossTable table = read_loss_table(text.loss_table);
    c.loss_table_scales = table.scale;
    c.loss_table_losses = table.loss;
  }
  for (const auto& t : text.loss_table_scales) {
    c.loss_table_scales.push_back(parse_double("--loss-table-scales", t));
  }
  for (const auto& t : text.loss_table_losses) {
    c.loss_table_losses.push_back(parse_double("--loss-table-losses", t));
  }
  // With a table and no scales given, sweep the table's own range (41 log-spaced points).
  if (!c.loss_table_scales.empty() && !scales_given && c.preset.empty()) {
    c.scales = parse_scales("--loss-table", {format_scale(c.loss_table_scales.front()) + ":" +
                                             format_scale(c.loss_table_scales.back()) + ":41"});
  }
  if (!text.loss_scale.empty()) c.loss_scale = parse_double("--loss-scale", text.loss_scale);
  if (!text.loss_exponent.empty())
    c.loss_exponent = parse_double("--loss-exponent", text.loss_exponent);
  if (run.count("--lengths") > 0) {
    c.lengths.clear();
    for (const auto& t : text.lengths)
      c.lengths.push_back(parse_int32("--lengths", t, 1, MAX_LENGTH));
  }
  if (run.count("--test-sizes") > 0) {
    c.test_sizes.clear();
    for (const auto& t : text.test_sizes) c.test_sizes.push_back(parse_integer("--test-sizes", t));
  }
  if (!text.difficulty_bins.empty()) {
    throw std::invalid_argument("--difficulty-bins: value '" + text.difficulty_bins +
                                "' is not allowed; item difficulty is continuous (every item has "
                                "its own threshold), so there are no bins to set");
  }
  if (!text.difficulty.empty() && !text.difficulty_sd.empty()) {
    throw std::invalid_argument("--difficulty-sd: value '" + text.difficulty_sd +
                                "' repeats --difficulty '" + text.difficulty +
                                "'; give one of them (--difficulty-sd S is --difficulty normal:S)");
  }
  if (!text.difficulty.empty()) {
    c.difficulty = to_string(parse_difficulty("--difficulty", text.difficulty));
  }
  if (!text.difficulty_sd.empty()) {
    const double sd = parse_double("--difficulty-sd", text.difficulty_sd);
    if (sd < 0.0 || sd > 50.0) {
      throw std::invalid_argument("--difficulty-sd: value '" + text.difficulty_sd +
                                  "' is not allowed; a standard deviation in logits from 0 to 50");
    }
    c.difficulty = to_string(parse_difficulty("--difficulty-sd", "normal:" + text.difficulty_sd));
  }
  if (!text.choices.empty())
    c.choices = parse_int32("--choices", text.choices, 2, MAX_CHOICES);
  if (!text.replicates.empty()) {
    c.replicates =
        parse_int32("--replicates", text.replicates, 1, std::numeric_limits<int32_t>::max());
  }
  if (!text.seed.empty()) c.seed = parse_seed(text.seed);
  if (!text.attempts.empty()) {
    c.attempts = parse_int32("--attempts", text.attempts, std::numeric_limits<int32_t>::min(),
                             std::numeric_limits<int32_t>::max());  // validate() says why
  }
  if (!text.budget.empty()) {
    c.budget = parse_int32("--budget", text.budget, std::numeric_limits<int32_t>::min(),
                           std::numeric_limits<int32_t>::max());  // validate() says why
  }
  if (!text.target_relative_width.empty()) {
    c.target_relative_width =
        parse_double("--target-relative-width", text.target_relative_width);  // validate()
  }
  if (!text.max_items.empty()) c.max_items = parse_integer("--max-items", text.max_items);
  // Adaptive mode samples its fixed steps as the nested test sizes; --test-sizes given too is
  // refused by validate() unless it is exactly those steps (as a stored configuration has it).
  if ((c.target_relative_width != 0.0 || c.max_items != 0) && run.count("--test-sizes") == 0 &&
      !adaptive_steps(c.max_items).empty()) {
    c.test_sizes = adaptive_steps(c.max_items);
  }
  if (run.count("--pass-at") > 0) {
    c.pass_at.clear();
    for (const auto& t : text.pass_at) {
      c.pass_at.push_back(parse_int32("--pass-at", t, std::numeric_limits<int32_t>::min(),
                                      std::numeric_limits<int32_t>::max()));  // validate()
    }
  } else if (c.attempts > 1 && c.pass_at.empty()) {
    c.pass_at = {1, c.attempts};  // one attempt, and all of them
  }
  if (!text.threads.empty()) c.threads = parse_int32("--threads", text.threads, 0, 4096);
  if (!text.cpu_kernel.empty()) {
    parse_cpu_kernel("--cpu-kernel", text.cpu_kernel);  // a known name, or refused here
    c.cpu_kernel = text.cpu_kernel;
  }
  if (run.count("--devices") > 0) {
    c.devices.clear();
    for (const auto& t : text.devices) c.devices.push_back(parse_int32("--devices", t, 0, 1023));
  }
  if (!text.items_per_unit.empty())
    c.items_per_unit = parse_integer("--items-per-unit", text.items_per_unit);
  if (!text.confidence.empty()) c.confidence = parse_double("--confidence", text.confidence);
  if (!text.shard.empty()) {
    const size_t slash = text.shard.find('/');
    if (slash == std::string::npos) {
      throw std::invalid_argument("--shard: value '" + text.shard +
                                  "' is not allowed; K/N, e.g. 0/4");
    }
    c.shard_index = parse_int32("--shard", text.shard.substr(0, slash), 0, 1 << 20);
    c.shard_count = parse_int32("--shard", text.shard.substr(slash + 1), 1, 1 << 20);
  }
  if (!text.checkpoint_every.empty()) {
    c.checkpoint_every = parse_double("--checkpoint-every", text.checkpoint_every);
  }
  if (!text.keep_replicates.empty()) {
    c.keep_replicates = parse_keep_replicates("--keep-replicates", text.keep_replicates);
  }
  check_no_effect(run, c);
}

// Raw text of the options of `meta` (parsed by meta/, config/ and this file's helpers).
struct MetaText {
  std::vector<std::string> families, devices;
  std::string tasks, replicates, seed, threshold, relative_threshold, threads, shard;
};

void add_meta_options(CLI::App& meta, MetaConfig& c, MetaText& text) {
  meta.add_option("--tasks", text.tasks, "synthetic tasks [default 200]")->group("Population");
  meta.add_option("--replicates", text.replicates,
                  "test sets per (task, family) for the spread [default 10]")
      ->group("Population");
  meta.add_option("--seed", text.seed, "random seed, 0..2^64-1 [default 2023]")->group("Population");
  meta.add_option("--families", text.families,
                  "model families to evaluate every task on: " + family_names() +
                      " [default gpt3,gpt3-full,big-g]")
      ->delimiter(',')
      ->group("Population");
  meta.add_option("--length", c.length, "law of the target length [default int:1:8]")
      ->group("Task laws");
  meta.add_option("--loss-scale", c.loss_scale,
                  "law of c in L(N) = (N/c)^alpha [default loguniform:3e8:3e10]")
      ->group("Task laws");
  meta.add_option("--loss-exponent", c.loss_exponent,
                  "law of alpha [default uniform:-0.8:-0.3]")
      ->group("Task laws");
  meta.add_option("--difficulty-family", c.difficulty_family,
                  "law of the difficulty family: const:NAME or choice:N1,N2 of none, normal, "
                  "logistic, kumaraswamy [default choice:none,normal,kumaraswamy]")
      ->group("Task laws");
  meta.add_option("--difficulty-a", c.difficulty_a,
                  "law of the difficulty scale (normal, logistic) or shape A (kumaraswamy) "
                  "[default uniform:0.3:1.5]")
      ->group("Task laws");
  meta.add_option("--difficulty-b", c.difficulty_b,
                  "law of the Kumaraswamy shape B [default uniform:0.5:3]")
      ->group("Task laws");
  meta.add_option("--choices", c.choices,
                  "law of the options of a task, 0 = free-form [default choice:0,0,4]")
      ->group("Task laws");
  meta.add_option("--test-size", c.test_size,
                  "law of the test-set size [default int-log:100:1000]")
      ->group("Task laws");
  meta.add_option("--threshold", text.threshold,
                  "emergence score above which a curve counts as emergent [default 5]")
      ->group("Analysis");
  meta.add_option("--relative-threshold", text.relative_threshold,
                  "the same relative to a straight line on the family's grid: a curve counts "
                  "when its score exceeds this times (S - 1) [default 2]")
      ->group("Analysis");
  meta.add_option("--backend", c.backend, "auto | cpu | cuda [default auto]")->group("Execution");
  meta.add_option("--threads", text.threads, "CPU threads, 0 = all cores [default 0]")
      ->group("Execution");
  meta.add_option("--devices", text.devices, "CUDA device indices [default: all visible]")
      ->delimiter(',')
      ->group("Execution");
  meta.add_option("--shard", text.shard,
                  "run only the tasks of shard K of N (task mod N = K) and write a partial "
                  "file for mirage merge")
      ->group("Execution");
  meta.add_option("-o,--output", c.output, "HDF5 meta file [default results/meta.h5]")
      ->group("Output");
  meta.add_option("--csv", c.csv, "also write one row per (task, family, metric) here")
      ->group("Output");
  meta.add_flag("-q,--quiet", c.quiet, "no progress or summary table")->group("Output");
}

// K/N of --shard.
void parse_shard(const std::string& text, int32_t* index, int32_t* count) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) {
    throw std::invalid_argument("--shard: value '" + text + "' is not allowed; K/N, e.g. 0/4");
  }
  *index = parse_int32("--shard", text.substr(0, slash), 0, 1 << 20);
  *count = parse_int32("--shard", text.substr(slash + 1), 1, 1 << 20);
}

void resolve_meta(const CLI::App& meta, MetaConfig& c, const MetaText& text) {
  check_given_options(meta);
  if (!text.tasks.empty()) c.tasks = parse_int32("--tasks", text.tasks, 1, 100000);
  if (!text.replicates.empty()) {
    c.replicates = parse_int32("--replicates", text.replicates, 1, 100000);
  }
  if (!text.seed.empty()) c.seed = parse_seed(text.seed);
  if (meta.count("--families") > 0) c.families = text.families;
  if (!text.threshold.empty()) c.threshold = parse_double("--threshold", text.threshold);
  if (!text.relative_threshold.empty()) {
    c.relative_threshold = parse_double("--relative-threshold", text.relative_threshold);
  }
  if (!text.threads.empty()) c.threads = parse_int32("--threads", text.threads, 0, 4096);
  if (meta.count("--devices") > 0) {
    c.devices.clear();
    for (const auto& t : text.devices) c.devices.push_back(parse_int32("--devices", t, 0, 1023));
  }
  if (!text.shard.empty()) parse_shard(text.shard, &c.shard_index, &c.shard_count);
}

// The top-level app with `run` and its options; `mirage` and config_from_toml share it.
struct RunParser {
  CLI::App app{
      "Mirage: Monte Carlo simulation of emergent abilities and the metrics that "
      "measure them (Schaeffer, Miranda & Koyejo, NeurIPS 2023)",
      "mirage"};
  Config config = default_config();
  RunText text;
  CLI::App* run = nullptr;
  MetaConfig meta_config;
  MetaText meta_text;
  CLI::App* meta = nullptr;

  RunParser() {
    // The config file belongs to `run` or `meta`; CLI11 reads it on the top-level app and
    // maps its [run] or [meta] table onto that subcommand's options. Flags on the command line
    // win. LinearConfig keeps the reading linear in long arrays (inline loss tables).
    app.config_formatter(std::make_shared<LinearConfig>());
    app.set_config("--config", "",
                   "TOML config file with a [run] table (mirage run) or a [meta] table (mirage "
                   "meta); see README");
    app.allow_config_extras(CLI::config_extras_mode::error);
    run = app.add_subcommand("run", "sample a sweep and write the HDF5 result file");
    run->fallthrough();
    add_run_options(*run, config, text);
    meta = app.add_subcommand(
        "meta", "a synthetic BIG-bench: how often tasks look emergent, per metric and family");
    meta->fallthrough();
    add_meta_options(*meta, meta_config, meta_text);
  }
};

// CLI11's reader is lenient with malformed lines; check a config file's syntax first.
// The file given to --config, or "" (the inputs a run must not overwrite).
std::string config_file_argument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.rfind("--config=", 0) == 0) return arg.substr(9);
  }
  return "";
}

// CLI11 splits list values at commas and drops empty elements, so "--scales 1e8,,1e9" would
// pass as two scales: refuse an empty element (and a leading or trailing comma) before parsing.
void check_list_arguments(int argc, char** argv) {
  static const char* const LISTS[] = {"--scales", "--lengths", "--test-sizes", "--devices",
                                      "--families", "--loss-table-scales",
                                      "--loss-table-losses"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    for (const char* name : LISTS) {
      std::string value;
      const std::string prefix = std::string(name) + "=";
      if (arg == name && i + 1 < argc) {
        value = argv[i + 1];
      } else if (arg.rfind(prefix, 0) == 0) {
        value = arg.substr(prefix.size());
      } else {
        continue;
      }
      if (value.find(",,") != std::string::npos ||
          (!value.empty() && (value.front() == ',' || value.back() == ','))) {
        throw std::invalid_argument(std::string(name) + ": value '" + value +
                                    "' has an empty element; separate values by single commas");
      }
    }
  }
}

void check_config_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) check_config_syntax(argv[i + 1]);
    if (arg.rfind("--config=", 0) == 0) check_config_syntax(arg.substr(9));
  }
}

// Runs CLI11's parser, turning its errors into std::invalid_argument; returns false when
// help or the version was printed (exit code in *exit_code).
bool parse_or_throw(CLI::App& app, int argc, char** argv, int* exit_code) {
  try {
    app.parse(argc, argv);
    return true;
  } catch (const CLI::CallForHelp& e) {
    *exit_code = app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    *exit_code = app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    *exit_code = app.exit(e);
  } catch (const CLI::ConfigError& e) {
    throw std::invalid_argument("--config: " + std::string(e.what()) +
                                " (the file needs a [run] or [meta] table whose keys are the "
                                "subcommand's long options without dashes, e.g. lengths = [1, 2, "
                                "5])");
  } catch (const CLI::RequiredError& e) {
    // "A subcommand is required" names nothing a user can act on.
    if (std::string(e.what()).find("subcommand") != std::string::npos) {
      throw std::invalid_argument(
          "a subcommand is required: run, meta, merge, summarize, forecast, info or bench "
          "(mirage --help lists them)");
    }
    throw std::invalid_argument(e.what());
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 says "--replicates: At Most 1 required but received 2" for an option given twice.
    const std::string what = e.what();
    const size_t colon = what.find(':');
    if (what.find("At Most 1 required") != std::string::npos && colon != std::string::npos) {
      throw std::invalid_argument(what.substr(0, colon) +
                                  ": given more than once; give it once");
    }
    throw std::invalid_argument(what);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
  return false;
}

}  // namespace

namespace {

// A stored configuration as a file CLI11 can read: created with mkstemps (a name nobody can
// predict, opened exclusively, so no symbolic link is followed) and removed however the
// parse ends.
class TemporaryConfig {
 public:
  explicit TemporaryConfig(const std::string& text) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mirage-config-XXXXXX.toml").string();
    const int fd = ::mkstemps(pattern.data(), 5);
    if (fd < 0) {
      throw std::runtime_error("cannot create a temporary file in " +
                               std::filesystem::temp_directory_path().string() + ": " +
                               std::strerror(errno));
    }
    path_ = pattern;
    size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
      if (n <= 0) {
        const int error = errno;
        ::close(fd);
        std::filesystem::remove(path_);
        throw std::runtime_error("cannot write the temporary file " + path_ + ": " +
                                 std::strerror(error));
      }
      written += size_t(n);
    }
    ::close(fd);
  }
  ~TemporaryConfig() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TemporaryConfig(const TemporaryConfig&) = delete;
  TemporaryConfig& operator=(const TemporaryConfig&) = delete;
  const std::string& path() const { return path_; }

  //! `what` with the temporary name replaced by `source`, for messages.
  std::string named(const std::string& what, const std::string& source) const {
    return h5::replace_temporary_name(what, path_, source);
  }

 private:
  std::string path_;
};

}  // namespace

Config config_from_toml(const std::string& config_toml, const std::string& source) {
  const TemporaryConfig file(config_toml);
  RunParser parser;
  std::string args[] = {"mirage", "run", "--config", file.path()};
  char* argv[] = {args[0].data(), args[1].data(), args[2].data(), args[3].data()};
  int exit_code = 0;
  try {
    check_config_syntax(file.path());
    parse_or_throw(parser.app, 4, argv, &exit_code);
    resolve(*parser.run, parser.config, parser.text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(source + ": stored configuration is invalid: " +
                                file.named(e.what(), source));
  }
  return parser.config;
}

MetaConfig meta_config_from_toml(const std::string& config_toml, const std::string& source) {
  const TemporaryConfig file(config_toml);
  RunParser parser;
  std::string args[] = {"mirage", "meta", "--config", file.path()};
  char* argv[] = {args[0].data(), args[1].data(), args[2].data(), args[3].data()};
  int exit_code = 0;
  try {
    check_config_syntax(file.path());
    parse_or_throw(parser.app, 4, argv, &exit_code);
    resolve_meta(*parser.meta, parser.meta_config, parser.meta_text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(source + ": stored configuration is invalid: " +
                                file.named(e.what(), source));
  }
  return parser.meta_config;
}

int cli_main(int argc, char** argv) {
  RunParser parser;
  CLI::App& app = parser.app;
  app.set_version_flag("--version", std::string("mirage ") + MIRAGE_VERSION_STRING + " (git " +
                                        MIRAGE_GIT_SHA + ")");
  app.require_subcommand(1);
  CLI::App* run = parser.run;
  Config& config = parser.config;

  CLI::App* info = app.add_subcommand("info", "build, backends and devices");

  BenchOptions bench_options;
  std::string bench_draws, bench_threads;
  CLI::App* bench = app.add_subcommand("bench", "token draws per second of a backend");
  bench->add_option("--backend", bench_options.backend, "cpu | cuda [default cpu]");
  bench->add_option("--draws", bench_draws, "token draws to time [default 2e9 cpu, 1e12 cuda]");
  bench->add_option("--threads", bench_threads, "CPU threads, 0 = all cores [default 0]");
  std::string bench_cpu_kernel;
  bench->add_option("--cpu-kernel", bench_cpu_kernel,
                    "CPU sampler kernel: auto | portable | avx2 | avx512 [default auto]");
  bench->add_option("--json", bench_options.json, "also write the figures as JSON here");
  bench->add_flag("-q,--quiet", bench_options.quiet, "no progress");
  std::string bench_difficulty, bench_choices;
  bench->add_option("--difficulty", bench_difficulty,
                    "item difficulty of the bench sweep, as for run [default none]");
  bench->add_option("--task", bench_options.task, "free-form | multiple-choice [default free-form]");
  bench->add_option("--choices", bench_choices, "options per multiple-choice item [default 4]");
  bench->add_option("--sweep", bench_options.sweep,
                    "throughput (8 scales x 4 replicates, --draws spread over the items) | "
                    "replicates (21 scales, n = 10, 100, 1000, 20000 replicates: reduction and "
                    "output speed) [default throughput]");
  std::string bench_attempts;
  bench->add_option("--attempts", bench_attempts,
                    "attempts per item, as for run (pass@1 and pass@A are reduced) [default 1]");
  bool bench_until = false;
  std::string bench_budget;
  bench->add_flag("--until-success", bench_until,
                  "sample until success, as for run (the draws counted are those the outcomes "
                  "used)");
  bench->add_option("--budget", bench_budget,
                    "most attempts per item with --until-success, 1..16384");
  bench->add_option("--compression", bench_options.compression,
                    "HDF5 compression of the timed output, as for run [default none]");
  bench->add_option("--keep-replicates", bench_options.keep_replicates,
                    "per-replicate arrays stored in the timed output, as for run [default all]");

  SummarizeOptions summarize_options;
  std::string summarize_length, summarize_test_size;
  CLI::App* summary = app.add_subcommand("summarize", "print a table from an existing result file");
  summary->add_option("file", summarize_options.path, "Mirage HDF5 result file")->required();
  summary->add_option("--metric", summarize_options.metric,
                      "exact_match | token_edit_distance | token_accuracy | multiple_choice_grade | "
                      "brier_score [default exact_match]");
  summary->add_option("--length", summarize_length, "target length [default: the longest]");
  summary->add_option("--test-size", summarize_test_size, "test size [default: the largest]");

  MergeOptions merge_options;
  CLI::App* merge = app.add_subcommand("merge", "combine shard files into one complete result");
  merge->add_option("parts", merge_options.parts, "files written by mirage run --shard K/N")
      ->required();
  merge->add_option("-o,--output", merge_options.output, "HDF5 result file")->required();
  merge->add_option("--csv", merge_options.csv, "also write the tidy summary CSV here");
  merge->add_option("--compression", merge_options.compression,
                    "HDF5 compression: none | gzip | gzip:LEVEL (1..9) [default none]");
  merge->add_option("--keep-replicates", merge_options.keep_replicates,
                    "store the per-replicate arrays of the first N replicates only, as for run "
                    "[default all]");
  merge->add_flag("-q,--quiet", merge_options.quiet, "no summary table");

  ForecastArgs forecast_args;
  CLI::App* forecast = app.add_subcommand(
      "forecast", "fit the small scales of a result file, predict the large ones (intervals)");
  add_forecast_options(*forecast, forecast_args);

  check_config_arguments(argc, argv);
  check_list_arguments(argc, argv);
  int exit_code = 0;
  if (!parse_or_throw(app, argc, argv, &exit_code)) return exit_code;

  if (*run) {
    resolve(*run, config, parser.text);
    validate(config);
    check_distinct_files({{"--output", config.output}, {"--csv", config.csv},
                          {"--checkpoint", config.checkpoint}},
                         {{"--loss-table", parser.text.loss_table},
                          {"--config", config_file_argument(argc, argv)}});
    force_cpu_kernel(parse_cpu_kernel("--cpu-kernel", config.cpu_kernel));
    use_threads(config.threads);
    return run_command(config, join_args(argc, argv));
  }
  if (*parser.meta) {
    resolve_meta(*parser.meta, parser.meta_config, parser.meta_text);
    validate(parser.meta_config);
    use_threads(parser.meta_config.threads);
    return meta_command(parser.meta_config, join_args(argc, argv));
  }
  if (*merge) {
    check_given_options(*merge);
    merge_options.command_line = join_args(argc, argv);
    if (!merge_options.parts.empty() && is_meta_shard(merge_options.parts.front())) {
      check_writable("--output", merge_options.output);
      if (!merge_options.csv.empty()) check_writable("--csv", merge_options.csv);
      std::vector<std::pair<std::string, std::string>> inputs;
      for (const std::string& part : merge_options.parts) inputs.emplace_back("part", part);
      check_distinct_files({{"--output", merge_options.output}, {"--csv", merge_options.csv}},
                           inputs);
      return merge_meta_shards(merge_options.parts, merge_options.output, merge_options.csv,
                               merge_options.quiet, merge_options.command_line);
    }
    return merge_command(merge_options);
  }
  if (*info) return info_command();
  if (*forecast) {
    check_given_options(*forecast);
    return forecast_command(forecast_args, join_args(argc, argv));
  }
  if (*summary) {
    check_given_options(*summary);
    if (!summarize_length.empty())
      summarize_options.length = parse_integer("--length", summarize_length);
    if (!summarize_test_size.empty()) {
      summarize_options.test_size = parse_integer("--test-size", summarize_test_size);
    }
    std::cout << summarize(summarize_options);
    return 0;
  }
  if (*bench) {
    check_given_options(*bench);
    if (bench_options.backend != "cpu" && bench_options.backend != "cuda") {
      throw std::invalid_argument("--backend: unknown backend '" + bench_options.backend +
                                  "'; allowed for bench: cpu, cuda");
    }
    if (!bench_draws.empty()) {
      bench_options.draws = parse_double("--draws", bench_draws);
      if (!(bench_options.draws >= 1e6 && bench_options.draws <= 1e15)) {
        throw std::invalid_argument("--draws: value '" + bench_draws +
                                    "' is not allowed; 1e6 to 1e15");
      }
    }
    if (!bench_threads.empty())
      bench_options.threads = parse_int32("--threads", bench_threads, 0, 4096);
    if (!bench_cpu_kernel.empty()) {
      force_cpu_kernel(parse_cpu_kernel("--cpu-kernel", bench_cpu_kernel));
    }
    if (!bench_difficulty.empty()) {
      bench_options.difficulty = to_string(parse_difficulty("--difficulty", bench_difficulty));
    }
    if (bench_options.task != "free-form" && bench_options.task != "multiple-choice") {
      throw std::invalid_argument("--task: unknown task '" + bench_options.task +
                                  "'; allowed: free-form, multiple-choice");
    }
    if (!bench_choices.empty()) {
      bench_options.choices = parse_int32("--choices", bench_choices, 2, MAX_CHOICES);
    }
    if (!bench_attempts.empty()) {
      bench_options.attempts = parse_int32("--attempts", bench_attempts, 1, MAX_ATTEMPTS);
      if (bench_options.attempts > 1 && bench_options.task != "free-form") {
        throw std::invalid_argument("--attempts: value '" + bench_attempts +
                                    "' is not allowed with --task " + bench_options.task +
                                    "; repeated attempts are implemented for free-form tasks only");
      }
    }
    if (bench_until != !bench_budget.empty()) {
      throw std::invalid_argument(
          bench_until ? "--until-success: needs --budget B (most attempts per item, 1..16384)"
                      : "--budget: value '" + bench_budget +
                            "' has no effect without --until-success");
    }
    if (bench_until) {
      bench_options.budget = parse_int32("--budget", bench_budget, 1, MAX_BUDGET);
      if (bench_options.attempts > 1 || bench_options.task != "free-form") {
        throw std::invalid_argument(
            "--until-success: not allowed with " +
            std::string(bench_options.attempts > 1 ? "--attempts" : "--task multiple-choice") +
            "; sampling until success is implemented for free-form tasks with one attempt "
            "per draw");
      }
    }
    use_threads(bench_options.threads);
    return bench_command(bench_options);
  }
  return 2;
}

CliOutcome run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> text = args;
  std::vector<char*> argv;
  for (std::string& arg : text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int threads = omp_get_max_threads();
  CliOutcome outcome;
  try {
    outcome.exit_code = cli_main(static_cast<int>(text.size()), argv.data());
  } catch (const std::invalid_argument& e) {
    outcome = {2, e.what()};
  } catch (const std::exception& e) {
    outcome = {1, e.what()};
  }
  omp_set_num_threads(threads);
  return outcome;
}

}  // namespace mirage
