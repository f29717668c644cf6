// Copyright (c) Mirage developers.
#include "meta/meta.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iomanip>
#include <iostream>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "config/config.h"
#include "cuda_backend.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "meta/distribution.h"
#include "mirage/build_info.h"
#include "mirage/item_model.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"
#include "model/difficulty.h"
#include "model/truth.h"
#include "run/backend.h"
#include "run/distributed.h"
#include "run/progress.h"
#include "run/simulation.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* META_FILETYPE = "mirage-meta";
constexpr const char* META_SHARD_FILETYPE = "mirage-meta-tallies";
//! Tallies kept per (task, family, scale, replicate): exact matches, token errors, graded
//! items, Brier units.
constexpr int META_TALLIES = 4;

std::string shortest(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

[[noreturn]] void fail(const std::string& option, const std::string& message) {
  throw std::invalid_argument(option + ": " + message);
}

const std::vector<std::string>& difficulty_families() {
  static const std::vector<std::string> names = {"none", "normal", "logistic", "kumaraswamy"};
  return names;
}

// The laws of a configuration, parsed (validate() has checked them).
struct Laws {
  Distribution length, loss_scale, loss_exponent, difficulty_family, difficulty_a, difficulty_b,
      choices, test_size;
};

Laws parse_laws(const MetaConfig& c) {
  Laws l;
  l.length = parse_distribution("--length", c.length, true);
  l.loss_scale = parse_distribution("--loss-scale", c.loss_scale, false);
  l.loss_exponent = parse_distribution("--loss-exponent", c.loss_exponent, false);
  l.difficulty_family =
      parse_name_distribution("--difficulty-family", c.difficulty_family, difficulty_families());
  l.difficulty_a = parse_distribution("--difficulty-a", c.difficulty_a, false);
  l.difficulty_b = parse_distribution("--difficulty-b", c.difficulty_b, false);
  l.choices = parse_distribution("--choices", c.choices, true);
  l.test_size = parse_distribution("--test-size", c.test_size, true);
  return l;
}

// The uniform (2m + 1) / 2^53 of parameter `parameter` of task `task` (stream.h's reserved
// meta stream: counter {task, parameter, STREAM_META, 0}, key = the seed).
double task_uniform(uint64_t seed, int32_t task, uint32_t parameter) {
  const PhiloxCounter x = philox4x32_10(
      philox_counter(static_cast<uint32_t>(task), parameter, STREAM_META, 0u, 0u), philox_key(seed));
  return open_uniform(x.v[0], x.v[1]).u;
}

// Where the tallies of (task, family) start in the flat tally array, and its size.
struct TallyLayout {
  std::vector<int64_t> family_offset;  // [F]: sum of the scales of the families before
  int64_t scales_per_task = 0;         // sum over families of their scales
  int32_t replicates = 0;
  int64_t offset(int32_t task, int32_t family) const {
    return (int64_t{task} * scales_per_task + family_offset[size_t(family)]) * replicates *
           META_TALLIES;
  }
  int64_t size(int32_t tasks) const {
    return int64_t{tasks} * scales_per_task * replicates * META_TALLIES;
  }
};

TallyLayout tally_layout(const std::vector<ModelFamily>& families, int32_t replicates) {
  TallyLayout layout;
  layout.replicates = replicates;
  for (const ModelFamily& f : families) {
    layout.family_offset.push_back(layout.scales_per_task);
    layout.scales_per_task += int64_t(f.scales.size());
  }
  return layout;
}

std::vector<ModelFamily> resolve_families(const MetaConfig& c) {
  std::vector<ModelFamily> out;
  for (const std::string& name : c.families) out.push_back(*find_family(name));
  return out;
}

uint64_t fnv1a(const void* data, size_t bytes, uint64_t hash = 14695981039346656037ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

uint64_t tally_checksum(const std::vector<uint8_t>& done, const std::vector<int64_t>& tallies) {
  return fnv1a(tallies.data(), tallies.size() * sizeof(int64_t), fnv1a(done.data(), done.size()));
}

// Lower is better for these: their curves are negated before scoring (as mirage run does).
double metric_sign(const std::string& metric) {
  return metric == "token_edit_distance" || metric == "brier_score" ? -1.0 : 1.0;
}

}  // namespace

const std::vector<std::string>& meta_metrics() {
  static const std::vector<std::string> names = {"exact_match", "token_edit_distance",
                                                 "token_accuracy", "multiple_choice_grade",
                                                 "brier_score"};
  return names;
}

void validate(const MetaConfig& c) {
  if (c.tasks < 1 || c.tasks > 100000) {
    fail("--tasks", "value " + std::to_string(c.tasks) + " is not allowed; 1 to 100000 tasks");
  }
  if (c.replicates < 1 || c.replicates > 100000) {
    fail("--replicates",
         "value " + std::to_string(c.replicates) + " is not allowed; 1 to 100000 replicates");
  }
  if (c.families.empty()) fail("--families", "at least one model family is required");
  for (size_t i = 0; i < c.families.size(); ++i) {
    if (find_family(c.families[i]) == nullptr) {
      fail("--families", "unknown family '" + c.families[i] + "'; allowed: " + family_names());
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.families[j] == c.families[i]) {
        fail("--families", "family '" + c.families[i] + "' is given twice");
      }
    }
  }
  if (!std::isfinite(c.threshold)) {
    fail("--threshold", "value " + shortest(c.threshold) + " is not a finite number");
  }
  if (!std::isfinite(c.relative_threshold) || !(c.relative_threshold > 0.0)) {
    fail("--relative-threshold",
         "value " + shortest(c.relative_threshold) + " is not allowed; a finite number > 0");
  }
  const Laws l = parse_laws(c);
  auto range = [](const std::string& option, const Distribution& d, double low, double high,
                  const std::string& allowed) {
    if (!(d.min() >= low) || !(d.max() <= high)) {
      fail(option, "value '" + d.text + "' reaches [" + shortest(d.min()) + ", " +
                       shortest(d.max()) + "]; allowed: " + allowed);
    }
  };
  range("--length", l.length, 1, MAX_LENGTH, "target lengths 1 to " + std::to_string(MAX_LENGTH));
  range("--loss-scale", l.loss_scale, std::numeric_limits<double>::min(),
        std::numeric_limits<double>::max(), "c > 0");
  if (!(l.loss_exponent.max() < 0.0)) {
    fail("--loss-exponent", "value '" + l.loss_exponent.text + "' reaches " +
                                shortest(l.loss_exponent.max()) +
                                "; alpha must be < 0 (loss falls with scale)");
  }
  bool shift_family = false, kumaraswamy = false;
  for (const std::string& name : l.difficulty_family.names) {
    shift_family = shift_family || name == "normal" || name == "logistic";
    kumaraswamy = kumaraswamy || name == "kumaraswamy";
  }
  if (shift_family) range("--difficulty-a", l.difficulty_a, 0.0, 50.0, "a scale of 0 to 50 logits");
  if (kumaraswamy) {
    range("--difficulty-a", l.difficulty_a, 0.01, 100.0, "a Kumaraswamy shape A of 0.01 to 100");
    range("--difficulty-b", l.difficulty_b, 0.01, 100.0, "a Kumaraswamy shape B of 0.01 to 100");
  }
  // Choices: 0 (free-form) or 2..MAX_CHOICES options.
  const std::string choices_allowed =
      "0 (a free-form task) or 2 to " + std::to_string(MAX_CHOICES) + " options";
  if (l.choices.kind == Distribution::Kind::CHOICE ||
      l.choices.kind == Distribution::Kind::CONSTANT) {
    const std::vector<double> values =
        l.choices.kind == Distribution::Kind::CHOICE ? l.choices.values
                                                     : std::vector<double>{l.choices.low};
    for (double v : values) {
      if (!(v == 0.0 || (v >= 2.0 && v <= MAX_CHOICES))) {
        fail("--choices", "value '" + l.choices.text + "' holds " + shortest(v) + "; allowed: " +
                              choices_allowed);
      }
    }
  } else {
    range("--choices", l.choices, 2, MAX_CHOICES, choices_allowed);
  }
  range("--test-size", l.test_size, 1, double(MAX_ITEMS),
        "test sizes 1 to " + std::to_string(MAX_ITEMS));
  if (c.shard_count < 1 || c.shard_index < 0 || c.shard_index >= c.shard_count) {
    fail("--shard", "value " + std::to_string(c.shard_index) + "/" + std::to_string(c.shard_count) +
                        " is not allowed; K/N with N >= 1 and 0 <= K < N");
  }
  // Memory: the tallies and the curves of every (task, family, scale, replicate).
  int64_t scales = 0;
  for (const std::string& name : c.families) scales += int64_t(find_family(name)->scales.size());
  const long double bytes = static_cast<long double>(c.tasks) * scales * c.replicates *
                            (META_TALLIES * 8 + 2 * 5 * 8);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  const long double physical =
      pages > 0 && page_size > 0 ? static_cast<long double>(pages) * page_size : 16.0L * (1 << 30);
  if (bytes > physical / 2) {
    std::ostringstream msg;
    msg << std::setprecision(3) << "the meta-analysis needs " << double(bytes / (1 << 30))
        << " GiB (" << c.tasks << " tasks x " << scales << " scales x " << c.replicates
        << " replicates); at most half of this machine's memory is allowed";
    fail("--tasks", msg.str());
  }
  // The execution options as mirage run checks them.
  if (c.backend != "auto" && c.backend != "cpu" && c.backend != "cuda") {
    fail("--backend", "unknown backend '" + c.backend + "'; allowed: auto, cpu, cuda");
  }
  if (c.threads < 0 || c.threads > 4096) {
    fail("--threads", "value " + std::to_string(c.threads) + " is not allowed; 0 (all cores) to 4096");
  }
  check_writable("--output", c.output);
  if (!c.csv.empty()) check_writable("--csv", c.csv);
  check_distinct_files({{"--output", c.output}, {"--csv", c.csv}}, {});
}

std::string sampling_identity(const MetaConfig& c) {
  std::ostringstream out;
  out << "tasks = " << c.tasks << "\n"
      << "replicates = " << c.replicates << "\n"
      << "seed = " << c.seed << "\n"
      << "families = [";
  for (size_t i = 0; i < c.families.size(); ++i) out << (i ? ", " : "") << toml_string(c.families[i]);
  out << "]\n"
      << "length = " << toml_string(c.length) << "\n"
      << "loss-scale = " << toml_string(c.loss_scale) << "\n"
      << "loss-exponent = " << toml_string(c.loss_exponent) << "\n"
      << "difficulty-family = " << toml_string(c.difficulty_family) << "\n"
      << "difficulty-a = " << toml_string(c.difficulty_a) << "\n"
      << "difficulty-b = " << toml_string(c.difficulty_b) << "\n"
      << "choices = " << toml_string(c.choices) << "\n"
      << "test-size = " << toml_string(c.test_size) << "\n";
  return out.str();
}

std::string to_toml(const MetaConfig& c) {
  std::ostringstream out;
  out << "# Mirage meta-analysis (mirage meta --config FILE reads this)\n[meta]\n"
      << sampling_identity(c) << "threshold = " << shortest(c.threshold) << "\n"
      << "relative-threshold = " << shortest(c.relative_threshold) << "\n"
      << "backend = " << toml_string(c.backend) << "\n"
      << "threads = " << c.threads << "\n"
      << "output = " << toml_string(c.output) << "\n";
  if (!c.csv.empty()) out << "csv = " << toml_string(c.csv) << "\n";
  return out.str();
}

std::vector<MetaTask> draw_tasks(const MetaConfig& c) {
  const Laws l = parse_laws(c);
  std::vector<MetaTask> tasks(size_t(c.tasks));
  for (int32_t t = 0; t < c.tasks; ++t) {
    MetaTask& task = tasks[size_t(t)];
    task.length = int32_t(l.length.draw(task_uniform(c.seed, t, 0)));
    task.loss_scale = l.loss_scale.draw(task_uniform(c.seed, t, 1));
    task.loss_exponent = l.loss_exponent.draw(task_uniform(c.seed, t, 2));
    const std::string& family = l.difficulty_family.draw_name(task_uniform(c.seed, t, 3));
    const double a = l.difficulty_a.draw(task_uniform(c.seed, t, 4));
    const double b = l.difficulty_b.draw(task_uniform(c.seed, t, 5));
    std::string spec = "none";
    if (family == "normal" || family == "logistic") spec = family + ":" + shortest(a);
    if (family == "kumaraswamy") spec = "kumaraswamy:" + shortest(a) + ":" + shortest(b);
    task.difficulty = to_string(parse_difficulty("--difficulty", spec));
    task.choices = int32_t(l.choices.draw(task_uniform(c.seed, t, 6)));
    task.test_size = int64_t(l.test_size.draw(task_uniform(c.seed, t, 7)));
  }
  return tasks;
}

uint64_t task_seed(uint64_t seed, int32_t task, int32_t family) {
  const PhiloxCounter x =
      philox4x32_10(philox_counter(static_cast<uint32_t>(task), 64u + static_cast<uint32_t>(family),
                                   STREAM_META, 1u, 0u),
                    philox_key(seed));
  return (uint64_t{x.v[0]} << 32) | x.v[1];
}

Config task_config(const MetaConfig& meta, const MetaTask& task, int32_t task_index,
                   int32_t family_index) {
  Config c = default_config();
  c.scales = find_family(meta.families[size_t(family_index)])->scales;
  c.preset = meta.families[size_t(family_index)];
  c.loss_scale = task.loss_scale;
  c.loss_exponent = task.loss_exponent;
  c.difficulty = task.difficulty;
  c.task = task.choices > 0 ? "multiple-choice" : "free-form";
  if (task.choices > 0) c.choices = task.choices;
  c.lengths = {task.length};
  c.test_sizes = {task.test_size};
  c.replicates = meta.replicates;
  c.seed = task_seed(meta.seed, task_index, family_index);
  c.backend = meta.backend;
  c.threads = meta.threads;
  c.devices = meta.devices;
  c.output = meta.output;
  c.quiet = true;
  return c;
}

namespace {

// The results of the whole population from its integer tallies: curves, truths, scores and
// fractions. Deterministic (the same on every process).
MetaResults finish(const MetaConfig& config, const std::vector<int64_t>& tallies, RunInfo info) {
  MetaResults r;
  r.config = config;
  r.info = std::move(info);
  r.tasks = draw_tasks(config);
  r.families = resolve_families(config);
  const TallyLayout layout = tally_layout(r.families, config.replicates);
  const int32_t T = config.tasks, F = int32_t(r.families.size()), R = config.replicates;
  const std::vector<std::string>& metrics = meta_metrics();
  const size_t M = metrics.size();
  r.curve.assign(M, std::vector<std::vector<double>>(size_t(F)));
  r.expected.assign(M, std::vector<std::vector<double>>(size_t(F)));
  for (size_t m = 0; m < M; ++m) {
    for (int32_t f = 0; f < F; ++f) {
      const size_t S = r.families[size_t(f)].scales.size();
      r.curve[m][size_t(f)].assign(size_t(T) * R * S, NaN);
      r.expected[m][size_t(f)].assign(size_t(T) * S, NaN);
    }
  }
  std::exception_ptr error;  // nothing may escape the parallel loop: kept, rethrown after it
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int32_t t = 0; t < T; ++t) {
    for (int32_t f = 0; f < F; ++f) {
     try {
      const MetaTask& task = r.tasks[size_t(t)];
      const ModelFamily& family = r.families[size_t(f)];
      const size_t S = family.scales.size();
      const double n = double(task.test_size), L = task.length;
      const bool choice = task.choices > 0;
      const int64_t base = layout.offset(t, f);
      const DifficultyModel difficulty = parse_difficulty("--difficulty", task.difficulty);
      for (size_t s = 0; s < S; ++s) {
        for (int32_t rep = 0; rep < R; ++rep) {
          const int64_t* cell = &tallies[size_t(base + (int64_t(s) * R + rep) * META_TALLIES)];
          const double values[5] = {
              double(cell[0]) / n, double(cell[1]) / n, 1.0 - double(cell[1]) / (n * L),
              choice ? double(cell[2]) / n : NaN,
              choice ? double(static_cast<long double>(cell[3]) * BRIER_UNIT / n) : NaN};
          for (size_t m = 0; m < M; ++m) r.curve[m][size_t(f)][(size_t(t) * R + rep) * S + s] = values[m];
        }
        const double p = token_probability(power_law_loss(family.scales[s], task.loss_scale,
                                                          task.loss_exponent));
        const MetricTruth truth = metric_truth(p, task.length, difficulty, task.choices);
        const double truths[5] = {truth.exact_match, truth.token_edit_distance,
                                  truth.token_accuracy, truth.multiple_choice_grade,
                                  truth.brier_score};
        for (size_t m = 0; m < M; ++m) r.expected[m][size_t(f)][size_t(t) * S + s] = truths[m];
      }
     } catch (...) {
#pragma omp critical(mirage_meta_error)
      if (!error) error = std::current_exception();
     }
    }
  }
  if (error) std::rethrow_exception(error);
  // Scores of every curve, and the fractions above the threshold.
  r.score.assign(M, std::vector<double>(size_t(T) * F * R, NaN));
  r.score_expected.assign(M, std::vector<double>(size_t(T) * F, NaN));
  r.fraction.assign(M, std::vector<double>(size_t(F), NaN));
  r.fraction_expected.assign(M, std::vector<double>(size_t(F), NaN));
  r.fraction_replicate.assign(M, std::vector<double>(size_t(F) * R, NaN));
  r.fraction_relative.assign(M, std::vector<double>(size_t(F), NaN));
  r.fraction_relative_expected.assign(M, std::vector<double>(size_t(F), NaN));
  for (size_t m = 0; m < M; ++m) {
    const double sign = metric_sign(metrics[m]);
    for (int32_t f = 0; f < F; ++f) {
      const size_t S = r.families[size_t(f)].scales.size();
      std::vector<double> curve(S);
      int64_t applicable = 0, above_expected = 0, above_relative = 0, above_relative_expected = 0;
      std::vector<int64_t> above(size_t(R), 0);
      // A straight line over S scales scores S - 1.
      const double relative = config.relative_threshold * double(S - 1);
      for (int32_t t = 0; t < T; ++t) {
        const bool applies = metrics[m] == "multiple_choice_grade" || metrics[m] == "brier_score"
                                 ? r.tasks[size_t(t)].choices > 0
                                 : true;
        if (!applies) continue;
        ++applicable;
        for (int32_t rep = 0; rep < R; ++rep) {
          for (size_t s = 0; s < S; ++s) {
            curve[s] = sign * r.curve[m][size_t(f)][(size_t(t) * R + rep) * S + s];
          }
          const double score = emergence_score(curve.data(), S);
          r.score[m][(size_t(t) * F + f) * R + rep] = score;
          above[size_t(rep)] += score > config.threshold ? 1 : 0;
          above_relative += score > relative ? 1 : 0;
        }
        for (size_t s = 0; s < S; ++s) curve[s] = sign * r.expected[m][size_t(f)][size_t(t) * S + s];
        const double score = emergence_score(curve.data(), S);
        r.score_expected[m][size_t(t) * F + f] = score;
        above_expected += score > config.threshold ? 1 : 0;
        above_relative_expected += score > relative ? 1 : 0;
      }
      if (applicable == 0) continue;
      int64_t above_all = 0;
      for (int32_t rep = 0; rep < R; ++rep) {
        r.fraction_replicate[m][size_t(f) * R + rep] = double(above[size_t(rep)]) / double(applicable);
        above_all += above[size_t(rep)];
      }
      r.fraction[m][size_t(f)] = double(above_all) / (double(applicable) * R);
      r.fraction_expected[m][size_t(f)] = double(above_expected) / double(applicable);
      r.fraction_relative[m][size_t(f)] = double(above_relative) / (double(applicable) * R);
      r.fraction_relative_expected[m][size_t(f)] =
          double(above_relative_expected) / double(applicable);
    }
  }
  return r;
}

void write_meta_file(const MetaResults& r, const std::string& path) {
  const hsize_t T = hsize_t(r.config.tasks), F = r.families.size(), R = hsize_t(r.config.replicates);
  const std::vector<std::string>& metrics = meta_metrics();
  h5::write_atomically(path, [&](h5::File& f) {
    f.attr("/", "filetype", std::string(META_FILETYPE));
    f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR});
    f.attr("/", "mirage_version", std::string(MIRAGE_VERSION_STRING));
    f.attr("/", "git_sha", std::string(MIRAGE_GIT_SHA));
    f.attr("/", "created_utc", r.info.created_utc);
    f.attr("/", "command_line", r.info.command_line);
    f.attr("/", "seed", r.config.seed);
    f.attr("/", "backend", r.info.backend);
    f.attr("/", "devices", r.info.devices);
    f.attr("/", "elapsed_s", r.info.elapsed_s);
    f.attr("/", "token_draws", r.info.draws);
    f.create_group("/config");
    f.attr("/config", "config_toml", to_toml(r.config));

    // Named dimensions with their coordinates (docs/FORMAT.md §4.3): every group holds copies
    // of those its datasets use, so that netCDF-4 readers (xarray) label them.
    h5::Dimensions dims(f);
    std::vector<int64_t> task_index(T), replicate(R);
    std::iota(task_index.begin(), task_index.end(), int64_t{0});
    std::iota(replicate.begin(), replicate.end(), int64_t{0});
    std::vector<std::string> family_names;
    for (const ModelFamily& fam : r.families) family_names.push_back(fam.name);
    dims.define("task", task_index, "1", "task", "index of the task in the population, 0..N-1");
    dims.define("family", family_names, "", "model family",
                "model family, in the order of /meta@families");
    dims.define("replicate", replicate, "1", "replicate",
                "index of the replicate test set of each task, 0..R-1");
    for (const ModelFamily& fam : r.families) {
      dims.define("scale_" + fam.name, fam.scales, "parameters", "model size (" + fam.name + ")",
                  "model sizes of family " + fam.name + " in parameters, increasing (the values "
                  "of /meta/family/" + fam.name + "/scale)");
    }

    // The population.
    std::vector<int32_t> length, choices;
    std::vector<int64_t> test_size;
    std::vector<double> loss_scale, loss_exponent, difficulty_a, difficulty_b;
    std::vector<int32_t> difficulty_family;
    for (const MetaTask& t : r.tasks) {
      length.push_back(t.length);
      choices.push_back(t.choices);
      test_size.push_back(t.test_size);
      loss_scale.push_back(t.loss_scale);
      loss_exponent.push_back(t.loss_exponent);
      const DifficultyModel d = parse_difficulty("--difficulty", t.difficulty);
      difficulty_family.push_back(d.family);
      difficulty_a.push_back(d.none() ? NaN : d.a);
      difficulty_b.push_back(d.family == DIFFICULTY_KUMARASWAMY ? d.b : NaN);
    }
    dims.write("/meta/task/length", length, {"task"});
    dims.write("/meta/task/loss_scale", loss_scale, {"task"});
    dims.write("/meta/task/loss_exponent", loss_exponent, {"task"});
    dims.write("/meta/task/difficulty_family", difficulty_family, {"task"});
    f.attr("/meta/task/difficulty_family", "names",
           std::string("0 none, 1 normal, 2 logistic, 3 kumaraswamy"));
    dims.write("/meta/task/difficulty_a", difficulty_a, {"task"});
    dims.write("/meta/task/difficulty_b", difficulty_b, {"task"});
    dims.write("/meta/task/choices", choices, {"task"});
    f.attr("/meta/task/choices", "definition",
           std::string("options of a multiple-choice task; 0 = a free-form task"));
    dims.write("/meta/task/test_size", test_size, {"task"});

    std::string family_list;
    for (size_t fi = 0; fi < F; ++fi) {
      const ModelFamily& fam = r.families[fi];
      const std::string group = "/meta/family/" + fam.name;
      // The same dimension as the family's curves, so that the two align in xarray.
      dims.write(group + "/scale", fam.scales, {"scale_" + fam.name});
      f.attr(group, "description", fam.description);
      f.attr(group, "source", fam.source);
      f.attr(group, "index", int64_t(fi));
      family_list += (fi ? "," : "") + fam.name;
    }
    for (size_t m = 0; m < metrics.size(); ++m) {
      for (size_t fi = 0; fi < F; ++fi) {
        const std::string& name = r.families[fi].name;
        dims.write("/meta/curve/" + metrics[m] + "/" + name, r.curve[m][fi],
                   {"task", "replicate", "scale_" + name});
        dims.write("/meta/expected/" + metrics[m] + "/" + name, r.expected[m][fi],
                   {"task", "scale_" + name});
      }
      dims.write("/meta/score/" + metrics[m], r.score[m], {"task", "family", "replicate"});
      dims.write("/meta/score_expected/" + metrics[m], r.score_expected[m], {"task", "family"});
      dims.write("/meta/fraction/" + metrics[m], r.fraction[m], {"family"});
      dims.write("/meta/fraction_expected/" + metrics[m], r.fraction_expected[m], {"family"});
      dims.write("/meta/fraction_replicate/" + metrics[m], r.fraction_replicate[m],
                 {"family", "replicate"});
      dims.write("/meta/fraction_relative/" + metrics[m], r.fraction_relative[m], {"family"});
      dims.write("/meta/fraction_relative_expected/" + metrics[m],
                 r.fraction_relative_expected[m], {"family"});
      for (const char* name : {"/meta/fraction/", "/meta/fraction_expected/"}) {
        f.attr(name + metrics[m], "threshold", r.config.threshold);
      }
      for (const char* name : {"/meta/fraction_relative/", "/meta/fraction_relative_expected/"}) {
        f.attr(name + metrics[m], "relative_threshold", r.config.relative_threshold);
      }
      const bool lower_is_better = metric_sign(metrics[m]) < 0;
      f.attr("/meta/score/" + metrics[m], "curve",
             std::string(lower_is_better ? "-estimate" : "estimate"));
    }
    f.attr("/meta", "families", family_list);
    f.attr("/meta", "threshold", r.config.threshold);
    f.attr("/meta", "relative_threshold", r.config.relative_threshold);
    f.attr("/meta", "tasks", int64_t(T));
    f.attr("/meta", "replicates", int64_t(R));
    f.attr("/meta", "definition",
           std::string("curve[task][replicate][scale]: one test set of the task per replicate "
                       "on the family's scales; score: BIG-bench's emergence score (Srivastava "
                       "et al. 2022) of each curve, with -estimate for lower-is-better metrics; "
                       "fraction[family]: share of (task, replicate) curves, among tasks the "
                       "metric applies to, scoring above `threshold`; fraction_relative: scoring "
                       "above relative_threshold x (S - 1), the score of a straight line on the "
                       "family's S scales; *_expected: the same for the noise-free curves"));
  });
}

void write_meta_csv(const MetaResults& r, const std::string& path) {
  std::ostringstream out;
  out << std::setprecision(10);
  out << "task,family,metric,scales,length,test_size,choices,difficulty,loss_scale,loss_exponent,"
         "score_median,score_q025,score_q975,score_expected,fraction_above_threshold,threshold\n";
  const std::vector<std::string>& metrics = meta_metrics();
  const int32_t F = int32_t(r.families.size()), R = r.config.replicates;
  for (int32_t t = 0; t < r.config.tasks; ++t) {
    const MetaTask& task = r.tasks[size_t(t)];
    for (int32_t f = 0; f < F; ++f) {
      for (size_t m = 0; m < metrics.size(); ++m) {
        std::vector<double> scores;
        int64_t above = 0;
        for (int32_t rep = 0; rep < R; ++rep) {
          const double s = r.score[m][(size_t(t) * F + f) * R + rep];
          if (!std::isnan(s)) scores.push_back(s);
          above += s > r.config.threshold ? 1 : 0;
        }
        if (scores.empty()) continue;  // the metric does not apply to this task
        std::sort(scores.begin(), scores.end());
        out << t << ',' << r.families[size_t(f)].name << ',' << metrics[m] << ','
            << r.families[size_t(f)].scales.size() << ',' << task.length << ',' << task.test_size
            << ',' << task.choices << ',' << task.difficulty << ',' << task.loss_scale << ','
            << task.loss_exponent << ',' << quantile_sorted(scores.data(), scores.size(), 0.5)
            << ',' << quantile_sorted(scores.data(), scores.size(), 0.025) << ','
            << quantile_sorted(scores.data(), scores.size(), 0.975) << ','
            << r.score_expected[m][size_t(t) * F + f] << ',' << double(above) / R << ','
            << r.config.threshold << '\n';
      }
    }
  }
  h5::write_text_atomically(path, out.str());
}

// A partial meta-analysis: the tallies of one shard's tasks.
struct MetaShard {
  MetaConfig config;
  std::string identity;
  int32_t shard_index = 0, shard_count = 1;
  std::vector<uint8_t> done;     // [tasks]
  std::vector<int64_t> tallies;  // tally layout
};

void write_meta_shard(const MetaShard& shard, const std::string& path) {
  h5::write_atomically(path, [&](h5::File& f) {
    f.attr("/", "filetype", std::string(META_SHARD_FILETYPE));
    f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR});
    f.attr("/", "kind", std::string("shard"));
    f.attr("/", "mirage_version", std::string(MIRAGE_VERSION_STRING));
    f.attr("/", "git_sha", std::string(MIRAGE_GIT_SHA));
    f.attr("/", "created_utc", utc_now());
    f.attr("/", "shard_index", int64_t{shard.shard_index});
    f.attr("/", "shard_count", int64_t{shard.shard_count});
    f.attr("/", "checksum", tally_checksum(shard.done, shard.tallies));
    f.create_group("/config");
    f.attr("/config", "config_toml", to_toml(shard.config));
    f.attr("/config", "sampling_identity", shard.identity);
    f.write("/tasks/done", shard.done, {hsize_t(shard.done.size())});
    f.write("/tallies", shard.tallies, {hsize_t(shard.tallies.size())});
  });
}

MetaShard read_meta_shard(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return std::invalid_argument("merge: '" + path + "' " + why);
  };
  try {
    const h5::File f = h5::File::open_read(path);
    if (!f.has_attr("/", "filetype") || f.attr_string("/", "filetype") != META_SHARD_FILETYPE) {
      throw refuse("is not a mirage meta shard");
    }
    const std::vector<int32_t> version = f.attr_int32s("/", "format_version");
    if (version.empty() || version[0] != FORMAT_VERSION_MAJOR) {
      throw refuse("has a format version this mirage cannot read");
    }
    MetaShard shard;
    shard.shard_index = int32_t(f.attr_int64("/", "shard_index"));
    shard.shard_count = int32_t(f.attr_int64("/", "shard_count"));
    shard.identity = f.attr_string("/config", "sampling_identity");
    shard.done = f.read_uint8("/tasks/done");
    shard.tallies = f.read_int64("/tallies");
    if (tally_checksum(shard.done, shard.tallies) != f.attr_uint64("/", "checksum")) {
      throw refuse("is corrupted: its checksum does not match its contents");
    }
    shard.config = meta_config_from_toml(f.attr_string("/config", "config_toml"),
                                         "merge '" + path + "'");
    const TallyLayout layout = tally_layout(resolve_families(shard.config), shard.config.replicates);
    if (sampling_identity(shard.config) != shard.identity ||
        int64_t(shard.done.size()) != shard.config.tasks ||
        int64_t(shard.tallies.size()) != layout.size(shard.config.tasks) ||
        shard.shard_count < 1 || shard.shard_index < 0 || shard.shard_index >= shard.shard_count) {
      throw refuse("is corrupted: its tallies do not match its configuration");
    }
    return shard;
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw refuse(std::string("cannot be read (truncated or corrupted?): ") + e.what());
  }
}

void print_and_write(const MetaResults& results) {
  write_meta_file(results, results.config.output);
  if (!results.config.csv.empty()) write_meta_csv(results, results.config.csv);
  if (!results.config.quiet) {
    std::cout << meta_summary(results) << "\nsampled " << format_si(double(results.info.draws))
              << " token draws in " << std::fixed << std::setprecision(2)
              << results.info.elapsed_s << " s on " << results.info.backend << " ("
              << results.info.devices << ")\nwrote " << results.config.output;
    if (!results.config.csv.empty()) std::cout << " and " << results.config.csv;
    std::cout << "\n";
  }
}

}  // namespace

std::string meta_summary(const MetaResults& r) {
  std::ostringstream out;
  char line[256];
  const std::vector<std::string>& metrics = meta_metrics();
  const char* labels[] = {"exact match", "edit distance", "token accuracy", "MC grade",
                          "Brier score"};
  auto table = [&](const std::vector<std::vector<double>>& observed,
                   const std::vector<std::vector<double>>& expected) {
    out << "  family      scales";
    for (const char* label : labels) {
      std::snprintf(line, sizeof(line), "  %15s", label);
      out << line;
    }
    out << "\n";
    for (size_t f = 0; f < r.families.size(); ++f) {
      std::snprintf(line, sizeof(line), "  %-10s  %6zu", r.families[f].name.c_str(),
                    r.families[f].scales.size());
      out << line;
      for (size_t m = 0; m < metrics.size(); ++m) {
        std::snprintf(line, sizeof(line), "  %6.3f (%5.3f)", observed[m][f], expected[m][f]);
        out << line;
      }
      out << "\n";
    }
  };
  out << "Meta-analysis: " << r.config.tasks << " synthetic tasks x " << r.families.size()
      << " model families x " << r.config.replicates << " replicate test sets (seed "
      << r.config.seed << ")\n"
      << "Fraction of (task, replicate) curves whose emergence score exceeds " << r.config.threshold
      << " (noise-free curves in parentheses):\n";
  table(r.fraction, r.fraction_expected);
  out << "The same with the threshold " << r.config.relative_threshold
      << " x (S - 1), relative to a straight line over the family's S scales (which scores S - "
         "1):\n";
  table(r.fraction_relative, r.fraction_relative_expected);
  int64_t choice_tasks = 0;
  for (const MetaTask& t : r.tasks) choice_tasks += t.choices > 0 ? 1 : 0;
  out << "(" << choice_tasks << " of " << r.config.tasks
      << " tasks are multiple choice; MC grade and Brier score are over those only.)\n";
  return out.str();
}

int meta_command(const MetaConfig& config, const std::string& command_line) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& comm = Communicator::world();
  if (comm.unsupported_launch_size() > 1) {
    throw std::invalid_argument(
        "mpirun: this mirage was built without MPI, so each of the " +
        std::to_string(comm.unsupported_launch_size()) +
        " ranks would run the whole meta-analysis; use --shard k/N and mirage merge");
  }
  const std::vector<MetaTask> tasks = draw_tasks(config);
  const std::vector<ModelFamily> families = resolve_families(config);
  const TallyLayout layout = tally_layout(families, config.replicates);
  const int32_t F = int32_t(families.size()), R = config.replicates;

  // One backend for every sweep (a GPU per local rank under MPI, as mirage run does).
  Config exec = task_config(config, tasks[0], 0, 0);
  if (comm.distributed() && exec.devices.empty() && exec.backend != "cpu") {
    const auto devices = cuda::list_devices(nullptr);
    if (!devices.empty()) exec.devices = {devices[size_t(comm.local_rank()) % devices.size()].index};
  }
  std::string note;
  std::unique_ptr<Backend> backend = make_backend(exec, &note);
  if (!config.quiet && comm.is_root()) std::cerr << "mirage: " << note << "\n";

  // This process's tasks: its shard's (task mod N = k), dealt round-robin to ranks.
  std::vector<int32_t> mine;
  int64_t position = 0, my_draws = 0;
  for (int32_t t = 0; t < config.tasks; ++t) {
    if (t % config.shard_count != config.shard_index) continue;
    if (position++ % comm.size() != comm.rank()) continue;
    mine.push_back(t);
    for (const ModelFamily& f : families) {
      my_draws += int64_t(f.scales.size()) * R * tasks[size_t(t)].test_size * tasks[size_t(t)].length;
    }
  }
  Progress progress("meta", my_draws, !config.quiet && comm.is_root());
  std::vector<int64_t> tallies(size_t(layout.size(config.tasks)), 0);
  std::vector<uint8_t> done(size_t(config.tasks), 0);
  for (int32_t t : mine) {
    for (int32_t f = 0; f < F; ++f) {
      Config c = task_config(config, tasks[size_t(t)], t, f);
      c.devices = exec.devices;
      const Sweep sweep(c);
      const UnitGrid grid = sweep.grid();
      std::vector<int64_t> segment = sweep.zero_tallies();
      const std::vector<int64_t> ids = all_unit_ids(grid);
      backend->sample(grid, ids.data(), int64_t(ids.size()), segment.data(),
                      [&](int64_t draws) { progress.add(draws); });
      // One length, one test size: segment tallies are the test set's tallies.
      const SweepSpec& spec = sweep.spec();
      const int64_t base = layout.offset(t, f);
      for (int32_t s = 0; s < spec.num_scales; ++s) {
        for (int32_t r = 0; r < R; ++r) {
          int64_t* cell = &tallies[size_t(base + (int64_t(s) * R + r) * META_TALLIES)];
          cell[0] = segment[size_t(tally_array_index(spec, TALLY_EXACT_MATCH, s, 0, 0, r))];
          cell[1] = segment[size_t(tally_array_index(spec, TALLY_TOKEN_ERRORS, s, 0, 0, r))];
          if (spec.choices > 0) {
            cell[2] = segment[size_t(tally_array_index(spec, TALLY_CHOICE_GRADE, s, 0, 0, r))];
            cell[3] = segment[size_t(tally_array_index(spec, TALLY_BRIER, s, 0, 0, r))];
          }
        }
      }
    }
    done[size_t(t)] = 1;
  }
  progress.finish();
  comm.sum_to_root(tallies);
  comm.max_all(done);
  std::vector<int64_t> draws = {progress.done()};
  comm.sum_to_root(draws);
  if (!comm.is_root()) return 0;

  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (config.shard_count > 1) {
    MetaShard shard;
    shard.config = config;
    shard.identity = sampling_identity(config);
    shard.shard_index = config.shard_index;
    shard.shard_count = config.shard_count;
    shard.done = std::move(done);
    shard.tallies = std::move(tallies);
    write_meta_shard(shard, config.output);
    if (!config.quiet) {
      std::cout << "sampled meta shard " << config.shard_index << "/" << config.shard_count << ": "
                << format_si(double(draws[0])) << " token draws in " << std::fixed
                << std::setprecision(2) << elapsed << " s; wrote " << config.output
                << " (combine the parts with mirage merge)\n";
    }
    return 0;
  }
  RunInfo info;
  info.command_line = command_line;
  info.created_utc = utc_now();
  info.backend = backend->name();
  info.devices = backend->devices();
  if (comm.distributed()) info.devices += " x " + std::to_string(comm.size()) + " MPI ranks";
  info.draws = draws[0];
  MetaResults results = finish(config, tallies, std::move(info));
  results.info.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_and_write(results);
  return 0;
}

bool is_meta_shard(const std::string& path) {
  try {
    const h5::File f = h5::File::open_read(path);
    return f.has_attr("/", "filetype") && f.attr_string("/", "filetype") == META_SHARD_FILETYPE;
  } catch (const std::exception&) {
    return false;
  }
}

int merge_meta_shards(const std::vector<std::string>& parts, const std::string& output,
                      const std::string& csv, bool quiet, const std::string& command_line) {
  std::vector<MetaShard> shards;
  for (const std::string& path : parts) shards.push_back(read_meta_shard(path));
  const MetaShard& first = shards.front();
  std::vector<std::string> owner(size_t(first.shard_count));
  for (size_t i = 0; i < shards.size(); ++i) {
    const MetaShard& s = shards[i];
    if (s.identity != first.identity) {
      throw std::invalid_argument("merge: '" + parts[i] +
                                  "' is a shard of a different meta-analysis than '" + parts[0] +
                                  "' (tasks, seed, families or laws differ)");
    }
    if (s.shard_count != first.shard_count) {
      throw std::invalid_argument("merge: '" + parts[i] + "' is shard " +
                                  std::to_string(s.shard_index) + "/" +
                                  std::to_string(s.shard_count) + " but '" + parts[0] +
                                  "' is one of " + std::to_string(first.shard_count) + " shards");
    }
    if (!owner[size_t(s.shard_index)].empty()) {
      throw std::invalid_argument("merge: shard " + std::to_string(s.shard_index) + "/" +
                                  std::to_string(s.shard_count) + " is given twice: '" +
                                  owner[size_t(s.shard_index)] + "' and '" + parts[i] + "'");
    }
    owner[size_t(s.shard_index)] = parts[i];
  }
  std::string missing;
  for (size_t k = 0; k < owner.size(); ++k) {
    if (owner[k].empty()) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(k) + "/" +
                 std::to_string(first.shard_count);
    }
  }
  if (!missing.empty()) throw std::invalid_argument("merge: missing meta shard(s) " + missing);
  std::vector<int64_t> tallies(first.tallies.size(), 0);
  std::vector<int> cover(first.done.size(), 0);
  for (const MetaShard& s : shards) {
    for (size_t i = 0; i < tallies.size(); ++i) tallies[i] += s.tallies[i];
    for (size_t t = 0; t < cover.size(); ++t) cover[t] += s.done[t];
  }
  for (size_t t = 0; t < cover.size(); ++t) {
    if (cover[t] != 1) {
      throw std::invalid_argument("merge: task " + std::to_string(t) + " is covered " +
                                  std::to_string(cover[t]) + " times by the parts (expected once)");
    }
  }
  MetaConfig config = first.config;
  config.output = output;
  config.csv = csv;
  config.quiet = quiet;
  config.shard_index = 0;
  config.shard_count = 1;
  RunInfo info;
  info.command_line = command_line;
  info.created_utc = utc_now();
  info.backend = "merged";
  for (size_t i = 0; i < parts.size(); ++i) info.devices += (i ? ", " : "") + parts[i];
  MetaResults results = finish(config, tallies, std::move(info));
  print_and_write(results);
  return 0;
}

}  // namespace mirage
