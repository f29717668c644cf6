// Copyright (c) Mirage developers.
#include "config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "config/presets.h"
#include "model/difficulty.h"
#include "model/loss_table.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"
#include "run/cpu_backend.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

std::string quote(const std::string& text) {
  return "'" + text + "'";
}

[[noreturn]] void fail(const std::string& option, const std::string& message) {
  throw std::invalid_argument(option + ": " + message);
}

// Shortest of %.15g..%.17g that reads back as the same double.
std::string format_double(double value) {
  for (int precision = 15; precision <= 17; ++precision) {
    std::ostringstream out;
    out << std::setprecision(precision) << value;
    if (precision == 17 || std::strtod(out.str().c_str(), nullptr) == value) return out.str();
  }
  return "";
}

template <class T>
std::string join(const std::vector<T>& values, const std::string& sep) {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out << sep;
    if constexpr (std::is_floating_point_v<T>) {
      out << format_double(values[i]);
    } else {
      out << values[i];
    }
  }
  return out.str();
}

std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<double> default_scales() {
  return parse_scales("--scales", {"1e8:1e13:41"});
}

std::vector<double> gpt3_scales() {
  return find_family("gpt3")->scales;
}

Config default_config() {
  Config config;
  config.scales = default_scales();
  config.lengths = {1, 2, 3, 4, 5};
  config.test_sizes = {10, 100, 1000, 10000, 100000};
  return config;
}

double parse_double(const std::string& option, const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(begin, &end);
  // Decimal only: strtod also reads hexadecimal floats ("0x10" = 16), which nobody means here.
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])) || end == begin ||
      *end != '\0' || text.find_first_of("xX") != std::string::npos) {
    fail(option, "value " + quote(text) + " is not a number");
  }
  if (!std::isfinite(value)) fail(option, "value " + quote(text) + " is not a finite number");
  if (errno == ERANGE && std::fabs(value) > 1.0) {
    fail(option, "value " + quote(text) + " is out of the range of a double");
  }
  return value;
}

int64_t parse_integer(const std::string& option, const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(begin, &end, 10);
  if (!text.empty() && !std::isspace(static_cast<unsigned char>(text[0])) && end != begin &&
      *end == '\0') {
    if (errno == ERANGE) fail(option, "value " + quote(text) + " is out of the 64-bit range");
    return value;
  }
  // Scientific notation such as 1e5, accepted only when it is an exact integer.
  const double real = parse_double(option, text);
  if (real != std::floor(real) || std::fabs(real) > 9.0e15) {
    fail(option, "value " + quote(text) + " is not an integer");
  }
  return static_cast<int64_t>(real);
}

std::vector<double> parse_scales(const std::string& option, const std::vector<std::string>& items) {
  std::vector<double> scales;
  for (const std::string& item : items) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos) {
      scales.push_back(parse_double(option, item));
      continue;
    }
    const size_t colon2 = item.find(':', colon + 1);
    if (colon2 == std::string::npos || item.find(':', colon2 + 1) != std::string::npos) {
      fail(option,
           "grid " + quote(item) + " must have the form FIRST:LAST:COUNT, e.g. 1e7:1e12:41");
    }
    const double first = parse_double(option, item.substr(0, colon));
    const double last = parse_double(option, item.substr(colon + 1, colon2 - colon - 1));
    const int64_t count = parse_integer(option, item.substr(colon2 + 1));
    if (!(first > 0.0) || !(last > first)) {
      fail(option, "grid " + quote(item) + " needs 0 < FIRST < LAST");
    }
    if (count < 2 || count > 100000) {
      fail(option, "grid " + quote(item) + " has COUNT " + std::to_string(count) +
                       "; allowed: 2 to 100000 points");
    }
    const double log_first = std::log(first);
    const double step = (std::log(last) - log_first) / static_cast<double>(count - 1);
    for (int64_t k = 0; k < count; ++k) {
      // The ends are exact; interior points are exp of the log grid.
      scales.push_back(k == 0           ? first
                       : k == count - 1 ? last
                                        : std::exp(log_first + step * static_cast<double>(k)));
    }
  }
  return scales;
}

std::vector<int64_t> adaptive_steps(int64_t max_items) {
  std::vector<int64_t> steps;
  if (max_items < ADAPTIVE_FIRST_STEP || static_cast<uint64_t>(max_items) > MAX_ITEMS) return steps;
  for (int64_t n = ADAPTIVE_FIRST_STEP; n < max_items; n *= 2) steps.push_back(n);
  steps.push_back(max_items);
  return steps;
}

namespace {

// Metrics a run makes: exact match, edit distance, token accuracy (and for multiple choice the
// grade and the Brier score), one per --pass-at k, and until_success.
uint64_t metric_count(const Config& config) {
  return (config.task == "multiple-choice" ? 5 : 3) + uint64_t(config.pass_at.size()) +
         (config.until_success ? 1 : 0);
}

}  // namespace

uint64_t bytes_per_cell(const Config& config) {
  // Tallies per cell: the item tallies (exact match, E, E2; for multiple choice also the grade
  // and the Brier sums), the attempt histogram's A + 1 bins, the four sums of sampling until
  // success. Each is held twice, as segment tallies and as nested counts.
  const uint64_t tallies = (config.task == "multiple-choice" ? 6 : 3) +
                           (config.attempts > 1 ? uint64_t(config.attempts) + 1 : 0) +
                           (config.until_success ? NUM_UNTIL_TALLIES : 0);
  // Per metric: the estimate and the interval's ends (3 doubles) and the jump interval to the
  // next scale (2 doubles and the significance flag; one per pair of scales, so at most one per
  // cell).
  return 2 * 8 * tallies + metric_count(config) * (3 * 8 + 2 * 8 + 1);
}

uint64_t result_bytes(const Config& config) {
  const long double S = static_cast<long double>(config.scales.size());
  const long double K = static_cast<long double>(config.lengths.size());
  const long double T = static_cast<long double>(config.test_sizes.size());
  const long double R = static_cast<long double>(config.replicates);
  const long double M = static_cast<long double>(metric_count(config));
  // Each metric's estimates and intervals and its jump intervals are held for the replicates
  // the file stores only (every replicate's values are computed, then dropped).
  const long double kept = static_cast<long double>(stored_replicates(config));
  const long double per_kept = M * (3 * 8 + 2 * 8 + 1);
  // Per (scale, length, test size, replicate): bytes_per_cell. Per (length, test size,
  // replicate): each metric's emergence score. Per (scale, length, test size): each metric's
  // 8 summaries and its jump fraction and coverage, and the interval comparison (coverage,
  // width, exact coverage of 8 proportion methods, and of 4 mean methods for each of the two
  // token metrics). Adaptive runs: per (scale, length, replicate) the steps used (2 int64), the
  // stop flag and the estimate and interval (3 doubles).
  long double bytes = S * K * T * (R * (bytes_per_cell(config) - per_kept) + kept * per_kept) +
                      K * T * R * M * 8 +
                      S * K * T * (M * 10 + (8 + 2 * 4) * 3) * 8;
  if (config.target_relative_width > 0.0) bytes += S * K * R * (2 * 8 + 1 + 3 * 8);
  return bytes > 1.8e19L ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(bytes);
}

void check_writable(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) fail(option, "the output path is empty");
  std::error_code ec;
  const fs::path target(path);
  if (fs::is_directory(target, ec)) fail(option, quote(path) + " is a directory, not a file");
  if (target.filename().empty() || target.filename() == "." || target.filename() == "..") {
    fail(option, quote(path) + " names a directory; give a file name");
  }
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // The directory may be created at write time; what must exist is a writable ancestor.
  while (!fs::exists(dir, ec)) {
    const fs::path parent = dir.parent_path();
    if (parent.empty() || parent == dir) {
      dir = ".";
      break;
    }
    dir = parent;
  }
  if (!fs::is_directory(dir, ec)) {
    fail(option,
         "cannot write " + quote(path) + ": " + quote(dir.string()) + " is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    fail(option,
         "cannot write " + quote(path) + ": directory " + quote(dir.string()) + " is not writable");
  }
  // The file is written to a temporary name and renamed onto the target: a symbolic link
  // would be replaced (its target left stale) and a device, pipe or /proc entry turned into a
  // regular file. Refuse them rather than guess.
  if (fs::is_symlink(target, ec)) {
    fail(option, "cannot write " + quote(path) +
                     ": it is a symbolic link; give the path of the file it points to");
  }
  if (fs::exists(target, ec) && !fs::is_regular_file(target, ec)) {
    fail(option, "cannot write " + quote(path) + ": it exists and is not a regular file");
  }
  if (fs::exists(target, ec) && ::access(target.c_str(), W_OK) != 0) {
    fail(option, "cannot write " + quote(path) + ": the file exists and is not writable");
  }
  // Where the directory exists, try what the writer will do: create a file next to the target
  // (root passes access() on /proc and read-only mounts, and fails only at the end otherwise).
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (fs::is_directory(parent, ec)) {
    const fs::path probe = parent / (".mirage-probe-" + std::to_string(::getpid()));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      fail(option, "cannot write " + quote(path) + ": cannot create a file in " +
                       quote(parent.string()) + " (" + std::strerror(errno) + ")");
    }
    ::close(fd);
    ::unlink(probe.c_str());
  }
  // The temporary name (.NAME.tmp-PID-HOST-RANDOM, h5::temporary_path) must fit the file
  // system's 255-byte name limit.
  if (target.filename().string().size() + 32 > 255) {
    fail(option, "cannot write " + quote(path) + ": the file name is longer than " +
                     std::to_string(255 - 32) + " bytes");
  }
}

void check_distinct_files(const std::vector<std::pair<std::string, std::string>>& outputs,
                          const std::vector<std::pair<std::string, std::string>>& inputs) {
  namespace fs = std::filesystem;
  // Two names are the same file when their resolved paths agree, or (for files that exist)
  // when they are the same inode: hard links, bind mounts, "./a" and "a".
  auto same = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::weakly_canonical(fs::absolute(a), ec).lexically_normal() ==
           fs::weakly_canonical(fs::absolute(b), ec).lexically_normal();
  };
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].second.empty()) continue;
    for (size_t j = i + 1; j < outputs.size(); ++j) {
      if (!outputs[j].second.empty() && same(outputs[i].second, outputs[j].second)) {
        fail(outputs[j].first, quote(outputs[j].second) + " is also the " + outputs[i].first +
                                   " file; every output needs its own path");
      }
    }
    for (const auto& [option, path] : inputs) {
      if (!path.empty() && same(outputs[i].second, path)) {
        fail(outputs[i].first, quote(outputs[i].second) + " is the " + option +
                                   " file this command reads; writing it would destroy it");
      }
    }
  }
}

int32_t parse_keep_replicates(const std::string& option, const std::string& text) {
  if (text == "all") return 0;
  int64_t value = 0;
  try {
    value = parse_integer(option, text);
  } catch (const std::invalid_argument&) {
    value = 0;
  }
  if (value < 1 || value > std::numeric_limits<int32_t>::max()) {
    fail(option, "value " + quote(text) +
                     " is not allowed; a number of replicates from 1 to --replicates, or all");
  }
  return static_cast<int32_t>(value);
}

int parse_compression(const std::string& option, const std::string& text) {
  if (text == "none") return 0;
  if (text == "gzip") return 1;
  if (text.rfind("gzip:", 0) == 0) {
    const std::string level = text.substr(5);
    if (level.size() == 1 && level[0] >= '1' && level[0] <= '9') return level[0] - '0';
  }
  throw std::invalid_argument(option + ": value '" + text +
                              "' is not allowed; none, gzip (deflate level 1) or gzip:LEVEL "
                              "with LEVEL 1..9");
}

void validate(const Config& config) {
  // Model.
  if (config.scales.empty()) fail("--scales", "at least one scale is required");
  for (size_t i = 0; i < config.scales.size(); ++i) {
    const double s = config.scales[i];
    if (!std::isfinite(s) || !(s > 0.0)) {
      fail("--scales",
           "value " + format_double(s) + " is not allowed; scales must be finite and > 0");
    }
    if (i > 0 && !(s > config.scales[i - 1])) {
      fail("--scales", "value " + format_double(s) + " follows " +
                           format_double(config.scales[i - 1]) +
                           "; scales must be strictly increasing");
    }
  }
  if (!std::isfinite(config.loss_scale) || !(config.loss_scale > 0.0)) {
    fail("--loss-scale",
         "value " + format_double(config.loss_scale) + " is not allowed; c must be finite and > 0");
  }
  if (!std::isfinite(config.loss_exponent) || !(config.loss_exponent < 0.0)) {
    fail("--loss-exponent",
         "value " + format_double(config.loss_exponent) +
             " is not allowed; alpha must be finite and < 0 (loss falls with scale)");
  }
  if (!config.loss_table_scales.empty() || !config.loss_table_losses.empty()) {
    const LossTable table{config.loss_table_scales, config.loss_table_losses};
    validate_loss_table(table, "the loss table");
    for (double s : config.scales) {
      if (!config.extrapolate && (s < table.scale.front() || s > table.scale.back())) {
        fail("--scales", "value " + format_double(s) + " is outside the loss table's range [" +
                             format_double(table.scale.front()) + ", " +
                             format_double(table.scale.back()) +
                             "]; give --extrapolate to extend its end segments' power laws");
      }
    }
  }
  parse_difficulty("--difficulty", config.difficulty);
  if (config.task != "free-form" && config.task != "multiple-choice") {
    fail("--task", "unknown task " + quote(config.task) + "; allowed: free-form, multiple-choice");
  }
  if (config.choices < 2 || config.choices > MAX_CHOICES) {
    fail("--choices", "value " + std::to_string(config.choices) + " is not allowed; 2 to " +
                          std::to_string(MAX_CHOICES) + " options");
  }
  if (!config.preset.empty() && find_family(config.preset) == nullptr) {
    fail("--preset", "unknown preset " + quote(config.preset) + "; allowed: " + family_names());
  }
  // Task.
  if (config.lengths.empty()) fail("--lengths", "at least one target length is required");
  for (size_t i = 0; i < config.lengths.size(); ++i) {
    const int32_t L = config.lengths[i];
    if (L < 1 || L > MAX_LENGTH) {
      fail("--lengths", "value " + std::to_string(L) + " is not allowed; lengths must be 1 to " +
                            std::to_string(MAX_LENGTH));
    }
    if (i > 0 && L <= config.lengths[i - 1]) {
      fail("--lengths", "value " + std::to_string(L) + " follows " +
                            std::to_string(config.lengths[i - 1]) +
                            "; lengths must be strictly increasing");
    }
  }
  if (config.test_sizes.empty()) fail("--test-sizes", "at least one test size is required");
  for (size_t i = 0; i < config.test_sizes.size(); ++i) {
    const int64_t n = config.test_sizes[i];
    if (n < 1 || static_cast<uint64_t>(n) > MAX_ITEMS) {
      fail("--test-sizes", "value " + std::to_string(n) +
                               " is not allowed; test sizes must be 1 to " +
                               std::to_string(MAX_ITEMS) + " (2^34)");
    }
    if (i > 0 && n <= config.test_sizes[i - 1]) {
      fail("--test-sizes", "value " + std::to_string(n) + " follows " +
                               std::to_string(config.test_sizes[i - 1]) +
                               "; test sets are nested, so sizes must be strictly increasing");
    }
  }
  if (config.replicates < 1) {
    fail("--replicates",
         "value " + std::to_string(config.replicates) + " is not allowed; at least 1 replicate");
  }
  if (config.scales.size() > 0x7fffffffu) fail("--scales", "too many scales");
  if (config.attempts < 1 || config.attempts > MAX_ATTEMPTS) {
    fail("--attempts", "value " + std::to_string(config.attempts) + " is not allowed; 1 to " +
                           std::to_string(MAX_ATTEMPTS) +
                           " attempts per item (the histogram of correct attempts keeps A + 1 "
                           "counts per cell)");
  }
  if (config.attempts > 1 && config.task != "free-form") {
    fail("--attempts", "value " + std::to_string(config.attempts) + " is not allowed with --task " +
                           config.task +
                           "; repeated attempts are implemented for free-form tasks only");
  }
  if (config.attempts > 1 && config.lengths.size() > size_t(MAX_ATTEMPT_LENGTHS)) {
    fail("--lengths", std::to_string(config.lengths.size()) +
                          " target lengths are not allowed with --attempts; at most " +
                          std::to_string(MAX_ATTEMPT_LENGTHS));
  }
  if (!config.pass_at.empty() && config.attempts < 2) {
    fail("--pass-at", "value " + std::to_string(config.pass_at.front()) +
                          " needs repeated attempts; give --attempts A with A >= k (A > 1)");
  }
  for (size_t i = 0; i < config.pass_at.size(); ++i) {
    const int32_t k = config.pass_at[i];
    if (k < 1 || k > config.attempts) {
      fail("--pass-at", "value " + std::to_string(k) + " is not allowed; k must be 1 to --attempts (" +
                            std::to_string(config.attempts) + ")");
    }
    if (i > 0 && k <= config.pass_at[i - 1]) {
      fail("--pass-at", "value " + std::to_string(k) + " follows " +
                            std::to_string(config.pass_at[i - 1]) +
                            "; k must be strictly increasing");
    }
  }
  if (config.until_success) {
    if (config.budget < 1 || config.budget > MAX_BUDGET) {
      fail("--budget", "value " + std::to_string(config.budget) +
                           " is not allowed; --until-success needs a budget of 1 to " +
                           std::to_string(MAX_BUDGET) +
                           " attempts per item (2^14: the sum of squared attempts of 2^34 items "
                           "stays an exact int64, and the attempts fit their Philox streams)");
    }
    if (config.task != "free-form") {
      fail("--until-success", "is not allowed with --task " + config.task +
                                  "; sampling until success is implemented for free-form tasks "
                                  "only");
    }
    if (config.attempts != 1) {
      fail("--until-success", "is not allowed with --attempts " + std::to_string(config.attempts) +
                                  "; the budget sets the attempts (give one of the two)");
    }
    if (config.lengths.size() > size_t(MAX_ATTEMPT_LENGTHS)) {
      fail("--lengths", std::to_string(config.lengths.size()) +
                            " target lengths are not allowed with --until-success; at most " +
                            std::to_string(MAX_ATTEMPT_LENGTHS));
    }
  } else if (config.budget != 0) {
    fail("--budget", "value " + std::to_string(config.budget) +
                         " is not allowed without --until-success; the budget caps the attempts "
                         "of sampling until success");
  }
  // Adaptive test-set size.
  const bool adaptive = config.target_relative_width != 0.0 || config.max_items != 0;
  if (adaptive) {
    const double w = config.target_relative_width;
    if (!(w > 0.0) || !std::isfinite(w)) {
      fail("--target-relative-width",
           "value " + format_double(w) + " is not allowed" +
               (w == 0.0 ? std::string(" (or missing: --max-items needs it)") : std::string()) +
               "; a finite number > 0, the largest half-width of the exact-match interval as a "
               "fraction of the estimate (e.g. 0.5)");
    }
    if (config.max_items < ADAPTIVE_FIRST_STEP ||
        static_cast<uint64_t>(config.max_items) > MAX_ITEMS) {
      fail("--max-items",
           "value " + std::to_string(config.max_items) + " is not allowed" +
               (config.max_items == 0
                    ? std::string(" (or missing: --target-relative-width needs it)")
                    : std::string()) +
               "; " + std::to_string(ADAPTIVE_FIRST_STEP) + " (the first step) to " +
               std::to_string(MAX_ITEMS) + " (2^34) items");
    }
    if (config.test_sizes != adaptive_steps(config.max_items)) {
      fail("--test-sizes", "value " + join(config.test_sizes, ",") +
                               " is not allowed with --target-relative-width; adaptive mode "
                               "samples the fixed steps " +
                               join(adaptive_steps(config.max_items), ",") +
                               " (10 x 2^j, then --max-items); leave --test-sizes out");
    }
  }
  // Execution.
  if (config.backend != "auto" && config.backend != "cpu" && config.backend != "cuda") {
    fail("--backend", "unknown backend " + quote(config.backend) + "; allowed: auto, cpu, cuda");
  }
  if (config.threads < 0 || config.threads > 4096) {
    fail("--threads",
         "value " + std::to_string(config.threads) + " is not allowed; 0 (all cores) to 4096");
  }
  require_cpu_kernel(parse_cpu_kernel("--cpu-kernel", config.cpu_kernel));
  parse_compression("--compression", config.compression);
  if (config.keep_replicates < 0 || config.keep_replicates > config.replicates) {
    fail("--keep-replicates", "value " + std::to_string(config.keep_replicates) +
                                  " is not allowed; at most --replicates (" +
                                  std::to_string(config.replicates) + "), or all");
  }
  for (int32_t d : config.devices) {
    if (d < 0)
      fail("--devices", "value " + std::to_string(d) + " is not allowed; device indices are >= 0");
  }
  if (config.items_per_unit < ITEMS_PER_GROUP || config.items_per_unit % ITEMS_PER_GROUP != 0 ||
      config.items_per_unit > (int64_t{1} << 30)) {
    fail("--items-per-unit", "value " + std::to_string(config.items_per_unit) +
                                 " is not allowed; a multiple of 4 from 4 to 2^30");
  }
  if (config.shard_count < 1 || config.shard_index < 0 ||
      config.shard_index >= config.shard_count) {
    fail("--shard", "value " + std::to_string(config.shard_index) + "/" +
                        std::to_string(config.shard_count) +
                        " is not allowed; K/N with N >= 1 and 0 <= K < N");
  }
  if (!(config.checkpoint_every > 0.0) || !std::isfinite(config.checkpoint_every)) {
    fail("--checkpoint-every",
         "value " + format_double(config.checkpoint_every) + " is not allowed; seconds > 0");
  }
  if (!config.checkpoint.empty()) check_writable("--checkpoint", config.checkpoint);
  if (!config.resume.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config.resume, ec)) {
      fail("--resume", "checkpoint " + quote(config.resume) + " does not exist");
    }
  }
  // Statistics.
  parse_interval_method(config.interval);
  parse_mean_interval_method(config.mean_interval);
  if (!(config.confidence > 0.0 && config.confidence < 1.0)) {
    fail("--confidence",
         "value " + format_double(config.confidence) + " is not allowed; must be in (0, 1)");
  }
  // Memory: the result arrays are O(S*K*T*R); refuse what cannot fit in this machine.
  const uint64_t bytes = result_bytes(config);
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  const uint64_t physical =
      pages > 0 && page_size > 0 ? uint64_t(pages) * uint64_t(page_size) : (uint64_t{16} << 30);
  if (bytes > physical / 2) {
    std::ostringstream msg;
    msg << std::setprecision(3) << "the sweep needs " << static_cast<double>(bytes) / (1 << 30)
        << " GiB for its tallies and result arrays (" << config.scales.size() << " scales x "
        << config.lengths.size() << " lengths x " << config.test_sizes.size() << " test sizes x "
        << config.replicates << " replicates x " << bytes_per_cell(config)
        << " bytes); at most "
        << static_cast<double>(physical / 2) / (1 << 30)
        << " GiB (half of this machine's memory) is allowed";
    fail("--replicates", msg.str());
  }
  // Memory: the record of work units (done flags on every rank and in the checkpoint, unit
  // ids in the queues of pending, own and batched units: about 32 bytes each) is
  // O(S*R*n/items-per-unit).
  long double units_per_test_set = 0;
  int64_t previous = 0;
  for (int64_t n : config.test_sizes) {
    units_per_test_set += std::ceil(static_cast<long double>(n - previous) /
                                    static_cast<long double>(config.items_per_unit));
    previous = n;
  }
  const long double units = units_per_test_set * static_cast<long double>(config.scales.size()) *
                            static_cast<long double>(config.replicates);
  if (units * 32 > static_cast<long double>(physical / 2)) {
    std::ostringstream msg;
    msg << std::setprecision(3) << "the sweep has " << static_cast<double>(units)
        << " work units (" << config.scales.size() << " scales x " << config.replicates
        << " replicates x " << static_cast<double>(units_per_test_set)
        << " units per test set of " << config.test_sizes.back() << " items at "
        << config.items_per_unit << " items per unit), whose records need "
        << static_cast<double>(units * 32 / (1 << 30)) << " GiB; at most "
        << static_cast<double>(physical / 2) / (1 << 30)
        << " GiB (half of this machine's memory) is allowed: raise --items-per-unit";
    fail("--items-per-unit", msg.str());
  }
  // Output.
  check_writable("--output", config.output);
  if (!config.csv.empty()) check_writable("--csv", config.csv);
  // A checkpoint may be resumed from and written to under one name; nothing else may share.
  check_distinct_files({{"--output", config.output}, {"--csv", config.csv},
                        {"--checkpoint", config.checkpoint}},
                       {});
  check_distinct_files({{"--output", config.output}, {"--csv", config.csv}},
                       {{"--resume", config.resume}});
}

namespace {

// The length of the valid UTF-8 sequence at text[at], 0 when it is not one.
size_t utf8_sequence(const std::string& text, size_t at) {
  const unsigned char c = static_cast<unsigned char>(text[at]);
  const size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                                     : (c >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || at + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[at + k]) >> 6) != 0x2) return 0;
  }
  return length;
}

}  // namespace

void check_config_syntax(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("--config", "cannot read " + quote(path) + " (missing or unreadable)");
  std::stringstream whole;
  whole << file.rdbuf();
  const std::string content = whole.str();
  // A binary file (an HDF5 result given by mistake) is named as such, not echoed.
  int line_number = 1;
  for (size_t at = 0; at < content.size();) {
    const unsigned char c = static_cast<unsigned char>(content[at]);
    const size_t length = utf8_sequence(content, at);
    if (length == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F) {
      char code[8];
      std::snprintf(code, sizeof(code), "0x%02x", unsigned(c));
      fail("--config", path + " line " + std::to_string(line_number) + " holds the byte " +
                           code + ": not a TOML text file (UTF-8)");
    }
    if (c == '\n') ++line_number;
    at += length;
  }
  // The lines of the same bytes.
  std::istringstream in(content);
  std::string line;
  int number = 0;
  auto bad = [&](const std::string& why) {
    fail("--config", path + " line " + std::to_string(number) + ": " + why + ": " + quote(line));
  };
  std::set<std::string> tables;
  std::set<std::string> keys;  // of the current table
  std::string table = "(top level)";
  while (std::getline(in, line)) {
    ++number;
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) {
      fail("--config", path + " starts with a UTF-8 byte-order mark; save it as plain UTF-8 "
                              "without one");
    }
    // Strip comments outside strings and surrounding blanks.
    std::string text;
    bool in_string = false;
    for (char c : line) {
      if (c == '"') in_string = !in_string;
      if (c == '#' && !in_string) break;
      text += c;
    }
    if (in_string) bad("unterminated string");
    const size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    text = text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
    if (text.front() == '[') {
      if (text.back() != ']' || text.size() < 3) bad("malformed table header");
      table = text;
      // CLI11 would merge the two silently, the later key winning.
      if (!tables.insert(table).second) bad("table " + table + " appears twice; give it once");
      keys.clear();
      continue;
    }
    const size_t eq = text.find('=');
    if (eq == std::string::npos) bad("expected KEY = VALUE");
    std::string key = text.substr(0, eq);
    key = key.substr(0, key.find_last_not_of(" \t") + 1);
    if (key.empty() ||
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") != std::string::npos) {
      bad("malformed key");
    }
    if (!keys.insert(key).second) bad("key '" + key + "' is given twice in " + table);
    std::string value = text.substr(eq + 1);
    const size_t v = value.find_first_not_of(" \t");
    if (v == std::string::npos) bad("missing value");
    value = value.substr(v);
    int depth = 0;
    in_string = false;
    for (char c : value) {
      if (c == '"') in_string = !in_string;
      if (in_string) continue;
      if (c == '[') ++depth;
      if (c == ']' && --depth < 0) bad("unbalanced ']'");
    }
    if (depth != 0) bad("unterminated array (arrays must close on the line they open)");
  }
}

std::string sampling_identity(const Config& config) {
  std::ostringstream out;
  out << "scales = [" << join(config.scales, ", ") << "]\n";
  if (config.loss_table_scales.empty()) {
    out << "loss-scale = " << format_double(config.loss_scale) << "\n";
    out << "loss-exponent = " << format_double(config.loss_exponent) << "\n";
  } else {
    out << "loss-table-scales = [" << join(config.loss_table_scales, ", ") << "]\n";
    out << "loss-table-losses = [" << join(config.loss_table_losses, ", ") << "]\n";
    out << "extrapolate = " << (config.extrapolate ? "true" : "false") << "\n";
  }
  if (config.difficulty != "none") out << "difficulty = " << toml_string(config.difficulty) << "\n";
  out << "task = " << toml_string(config.task) << "\n";
  if (config.task == "multiple-choice") out << "choices = " << config.choices << "\n";
  out << "lengths = [" << join(config.lengths, ", ") << "]\n";
  out << "test-sizes = [" << join(config.test_sizes, ", ") << "]\n";
  out << "replicates = " << config.replicates << "\n";
  // One attempt is the default and the identity of every sweep before attempts existed.
  if (config.attempts > 1) out << "attempts = " << config.attempts << "\n";
  if (config.until_success) {
    out << "until-success = true\n";
    out << "budget = " << config.budget << "\n";
  }
  out << "seed = " << config.seed << "\n";
  out << "items-per-unit = " << config.items_per_unit << "\n";
  return out.str();
}

std::string to_toml(const Config& config) {
  std::ostringstream out;
  out << "# Mirage configuration (mirage run --config FILE reads this)\n[run]\n";
  out << sampling_identity(config);
  out << "backend = " << toml_string(config.backend) << "\n";
  out << "threads = " << config.threads << "\n";
  if (config.cpu_kernel != "auto") out << "cpu-kernel = " << toml_string(config.cpu_kernel) << "\n";
  if (!config.devices.empty()) out << "devices = [" << join(config.devices, ", ") << "]\n";
  out << "interval = " << toml_string(config.interval) << "\n";
  out << "mean-interval = " << toml_string(config.mean_interval) << "\n";
  out << "confidence = " << format_double(config.confidence) << "\n";
  if (!config.pass_at.empty()) out << "pass-at = [" << join(config.pass_at, ", ") << "]\n";
  if (config.target_relative_width != 0.0 || config.max_items != 0) {
    out << "target-relative-width = " << format_double(config.target_relative_width) << "\n";
    out << "max-items = " << config.max_items << "\n";
  }
  out << "output = " << toml_string(config.output) << "\n";
  if (!config.csv.empty()) out << "csv = " << toml_string(config.csv) << "\n";
  if (config.compression != "none") {
    out << "compression = " << toml_string(config.compression) << "\n";
  }
  if (config.keep_replicates != 0) out << "keep-replicates = " << config.keep_replicates << "\n";
  return out.str();
}

}  // namespace mirage
