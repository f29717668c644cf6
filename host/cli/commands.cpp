// Copyright (c) Mirage developers.
#include "cli/commands.h"

#include <H5public.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "stats/analysis.h"
#include "run/backend.h"
#include "run/cpu_backend.h"
#include "cuda_backend.h"
#include "run/distributed.h"
#include "mirage/build_info.h"
#include "mirage/model.h"
#include "model/truth.h"
#include "config/presets.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "run/progress.h"
#include "stats/reduction.h"
#include "run/runner.h"
#include "run/simulation.h"
#include "io/tally_file.h"

namespace mirage {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

namespace {

// Reduces a complete sweep's tallies to Results, with the provenance of the run.
// The reduction of a sampled sweep into `results`, with its provenance; `metrics_ready` as for
// reduce_tallies_into.
void finish_into(Results& results, const Config& config, const SampledSweep& sampled,
                 const std::string& command_line,
                 const std::function<void(const Results&)>& metrics_ready) {
  const auto start = std::chrono::steady_clock::now();
  RunInfo info;
  info.command_line = command_line;
  info.created_utc = utc_now();
  info.backend = sampled.backend;
  info.devices = sampled.devices;
  info.draws = sampled.draws;
  reduce_tallies_into(results, config, sampled.segment, std::move(info), nullptr, metrics_ready);
  results.info.elapsed_s = sampled.elapsed_s + seconds_since(start);
}

Results finish(const Config& config, const SampledSweep& sampled, const std::string& command_line) {
  Results results;
  finish_into(results, config, sampled, command_line, nullptr);
  return results;
}

}  // namespace

Results simulate(const Config& config, const std::string& command_line, std::string* note) {
  const SampledSweep sampled = sample_sweep(config, Communicator::world(), note);
  if (sampled.interrupted) throw std::runtime_error("sampling was interrupted by a signal");
  return finish(config, sampled, command_line);
}

std::string summary_table(const Results& results) {
  const MetricResult* exact = results.metric("exact_match");
  const MetricResult* edit = results.metric("token_edit_distance");
  const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes();
  const int32_t k = K - 1, t = T - 1;
  const int32_t L = results.config.lengths[k];
  const int64_t n = results.config.test_sizes[t];
  std::ostringstream out;
  out << "Exact match (nonlinear) vs token edit distance (linear) at target length L = " << L
      << ", test size n = " << n << ", " << results.config.replicates << " replicates\n"
      << "(mean over replicates [2.5%, 97.5%]; 'analytic' is p^L and L(1-p))\n\n";
  out << "     scale   p_token |  exact match              analytic |  edit distance   analytic\n";
  out << "  -------- --------- + ------------------------ -------- + --------------- --------\n";
  // At most ~16 rows: every step-th scale plus the last.
  const int32_t step = std::max(1, (S + 15) / 16);
  char line[256];
  for (int32_t s = 0; s < S; s += (s + step < S || s == S - 1) ? step : (S - 1 - s)) {
    const size_t g = (size_t(s) * K + k) * T + t;
    std::snprintf(line, sizeof(line),
                  "  %8.2e %9.4f | %7.4f [%6.4f, %6.4f] %8.4f | %6.3f [%5.3f,%5.3f] %8.3f\n",
                  results.model.scale[s], results.model.p_token[s], exact->summary.mean[g],
                  exact->summary.q025[g], exact->summary.q975[g],
                  exact->expected[size_t(s) * K + k], edit->summary.mean[g], edit->summary.q025[g],
                  edit->summary.q975[g], edit->expected[size_t(s) * K + k]);
    out << line;
    if (s == S - 1) break;
  }
  // Resolution frontier and emergence scores at the longest length, every test size.
  const Frontier& fr = results.frontier;
  if (!fr.simulated_scale.empty()) {
    out << "\nResolution frontier at L = " << L
        << " (smallest scale where at least half the replicates see a nonzero exact match):\n";
    out << "  test size  simulated  analytic (grid)  analytic (exact)\n";
    for (int32_t tt = 0; tt < T; ++tt) {
      const size_t kt = size_t(k) * T + tt;
      std::snprintf(line, sizeof(line), "  %9lld  %9.3g  %15.3g  %16.3g\n",
                    static_cast<long long>(results.config.test_sizes[tt]), fr.simulated_scale[kt],
                    fr.analytic_scale[kt], fr.analytic_scale_exact[kt]);
      out << line;
    }
  }
  const MetricResult* grade = results.metric("multiple_choice_grade");
  const MetricResult* brier = results.metric("brier_score");
  if (grade && brier) {
    out << "\nMultiple choice (" << results.config.choices << " options) at L = " << L
        << ", n = " << n << ": grade (nonlinear, discontinuous) vs Brier score (quadratic in p^L, continuous)\n";
    out << "     scale  grade mean  analytic  brier mean  analytic\n";
    for (int32_t s = 0; s < S; s += (s + step < S || s == S - 1) ? step : (S - 1 - s)) {
      const size_t g = (size_t(s) * K + k) * T + t;
      std::snprintf(line, sizeof(line), "  %8.2e  %10.4f  %8.4f  %10.4f  %8.4f\n",
                    results.model.scale[s], grade->summary.mean[g],
                    grade->expected[size_t(s) * K + k], brier->summary.mean[g],
                    brier->expected[size_t(s) * K + k]);
      out << line;
      if (s == S - 1) break;
    }
  }
  if (results.config.attempts > 1 && !results.config.pass_at.empty()) {
    out << "\npass@k at L = " << L << ", n = " << n << " from " << results.config.attempts
        << " attempts per item (mean over replicates; 'truth' is E[1 - (1 - p_i^L)^k]):\n";
    out << "     scale";
    for (int32_t pk : results.config.pass_at) {
      std::snprintf(line, sizeof(line), "  %9s  %8s", ("pass@" + std::to_string(pk)).c_str(),
                    "truth");
      out << line;
    }
    out << "\n";
    for (int32_t s = 0; s < S; s += (s + step < S || s == S - 1) ? step : (S - 1 - s)) {
      const size_t g = (size_t(s) * K + k) * T + t;
      std::snprintf(line, sizeof(line), "  %8.2e", results.model.scale[s]);
      out << line;
      for (int32_t pk : results.config.pass_at) {
        const MetricResult* m = results.metric(pass_at_name(pk));
        std::snprintf(line, sizeof(line), "  %9.4f  %8.4f", m->summary.mean[g],
                      m->expected[size_t(s) * K + k]);
        out << line;
      }
      out << "\n";
      if (s == S - 1) break;
    }
  }
  if (const MetricResult* u = results.metric("until_success")) {
    const MetricResult* em = results.metric("exact_match");
    out << "\nSampling until success at L = " << L << ", n = " << n << ", budget "
        << results.config.budget
        << " (pooled s / attempts; 'truth' E[p_i^L], 'limit' its large-n value):\n";
    out << "     scale     estimate  truth      limit      p_zero  coverage  exact-match p_zero\n";
    double frontier_until = NAN, frontier_exact = NAN;
    for (int32_t s = 0; s < S; ++s) {
      const size_t g = (size_t(s) * K + k) * T + t;
      if (std::isnan(frontier_until) && u->summary.p_zero[g] <= 0.5) {
        frontier_until = results.model.scale[s];
      }
      if (std::isnan(frontier_exact) && em && em->summary.p_zero[g] <= 0.5) {
        frontier_exact = results.model.scale[s];
      }
    }
    for (int32_t s = 0; s < S; s += (s + step < S || s == S - 1) ? step : (S - 1 - s)) {
      const size_t g = (size_t(s) * K + k) * T + t;
      std::snprintf(line, sizeof(line), "  %8.2e  %9.3e  %9.3e  %9.3e  %6.2f  %8.3f  %18.2f\n",
                    results.model.scale[s], u->summary.mean[g], u->expected[size_t(s) * K + k],
                    u->pooled_limit[size_t(s) * K + k], u->summary.p_zero[g],
                    u->summary.coverage[g], em ? em->summary.p_zero[g] : NAN);
      out << line;
      if (s == S - 1) break;
    }
    std::snprintf(line, sizeof(line),
                  "  frontier (smallest scale where at least half the replicates see a nonzero "
                  "estimate): %.3g until success, %.3g exact match\n",
                  frontier_until, frontier_exact);
    out << line;
  }
  const Adaptive& ad = results.adaptive;
  if (!ad.items_used.empty()) {
    out << "\nAdaptive test-set size at L = " << L << ": stop at the first of the steps 10, 20, "
        << "40, ..., " << results.config.max_items << " where the exact-match half-width <= "
        << results.config.target_relative_width << " x the estimate\n"
        << "(every cell sampled " << results.config.max_items
        << " items; coverage of the stopped intervals; 'all' counts every replicate):\n";
    out << "     scale  median items  stopped  coverage  coverage all  truth\n";
    for (int32_t s = 0; s < S; s += (s + step < S || s == S - 1) ? step : (S - 1 - s)) {
      const size_t sk = size_t(s) * K + k;
      std::snprintf(line, sizeof(line), "  %8.2e  %12.4g  %7.2f  %8.3f  %12.3f  %9.3e\n",
                    results.model.scale[s], ad.median_items_used[sk], ad.fraction_stopped[sk],
                    ad.coverage[sk], ad.coverage_all[sk], exact->expected[sk]);
      out << line;
      if (s == S - 1) break;
    }
  }
  const Emergence* e_exact = results.emergence_of("exact_match");
  const Emergence* e_edit = results.emergence_of("token_edit_distance");
  const Emergence* e_grade = results.emergence_of("multiple_choice_grade");
  const Emergence* e_brier = results.emergence_of("brier_score");
  if (e_exact && e_edit) {
    out << "\nEmergence score at L = " << L << " on this run's grid of " << S
        << " scales (median over replicates; large = looks emergent):\n";
    out << "  test size  exact match  edit distance" << (e_grade ? "  MC grade  Brier score" : "")
        << "\n";
    for (int32_t tt = 0; tt < T; ++tt) {
      const size_t kt = size_t(k) * T + tt;
      std::snprintf(line, sizeof(line), "  %9lld  %11.3g  %13.3g",
                    static_cast<long long>(results.config.test_sizes[tt]), e_exact->median[kt],
                    e_edit->median[kt]);
      out << line;
      if (e_grade && e_brier) {
        std::snprintf(line, sizeof(line), "  %8.3g  %11.3g", e_grade->median[kt],
                      e_brier->median[kt]);
        out << line;
      }
      out << "\n";
    }
    // The score only means something on the sparse grids of real model families: on a dense
    // grid every smooth monotone curve scores about its number of steps. So the noise-free
    // curves are also scored on each family's own scales.
    if (S > 8) {
      out << "  (caveat: on a grid of " << S << " scales every smooth monotone curve scores "
          << "about " << S - 1 << ", the number of steps, whatever the metric)\n";
    }
    const std::vector<std::string> names = metric_names(results.config);
    out << "Emergence score of the noise-free curves at L = " << L
        << " on the scales of real model families (mirage meta runs whole task populations):\n"
        << "  family      scales";
    for (const std::string& m : names) {
      if (m == "token_accuracy") continue;
      std::snprintf(line, sizeof(line), "  %13s",
                    m == "exact_match"           ? "exact match"
                    : m == "token_edit_distance" ? "edit distance"
                    : m == "multiple_choice_grade" ? "MC grade"
                                                   : "Brier score");
      out << line;
    }
    out << "\n";
    for (const FamilyEmergence& fe : family_emergence(results.config, L)) {
      std::snprintf(line, sizeof(line), "  %-10s  %6d", fe.family.c_str(), fe.scales);
      out << line;
      for (size_t m = 0; m < names.size(); ++m) {
        if (names[m] == "token_accuracy") continue;
        std::snprintf(line, sizeof(line), "  %13.3g", fe.score[m]);
        out << line;
      }
      out << "\n";
    }
  }
  return out.str();
}

namespace {

const char* signal_name(int signal) { return signal == SIGINT ? "SIGINT" : "SIGTERM"; }

// A stop signal after sampling, before the output: the run ends at once, with what the
// checkpoint holds.
int stopped_after_sampling(const Config& config, const SampledSweep& sampled, int signal) {
  if (sampled.checkpoint_complete) {
    std::cerr << "mirage: stopped by " << signal_name(signal) << " after sampling; the checkpoint "
              << config.checkpoint << " holds every work unit: the same command plus --resume "
              << config.checkpoint << " writes the result without sampling again\n";
    return EXIT_INTERRUPTED;
  }
  std::cerr << "mirage: stopped by " << signal_name(signal) << " after sampling; nothing was "
            << "written" << (config.checkpoint.empty() ? " (--checkpoint FILE keeps sampled work)"
                                                     : " (the checkpoint could not be saved)")
            << "\n";
  return 128 + signal;
}

// A stop signal that arrived while the files were written: they are complete.
void note_signal_while_writing(const StopSignals& signals) {
  if (!signals.raised()) return;
  std::cerr << "mirage: " << signal_name(signals.signal())
            << " arrived while the output was written; it is complete\n";
}

}  // namespace

int run_command(const Config& config, const std::string& command_line) {
  Communicator& comm = Communicator::world();
  std::string note;
  // SIGTERM and SIGINT end the run at a point of its choosing from here to the end: between
  // batches of sampling when it checkpoints (these handlers are then on from the start, so
  // no signal falls between sampling and the reduction), after the reduction, or after the
  // output (which is never left half-written; h5::DeferStopSignals).
  std::optional<StopSignals> signals;
  if (!config.checkpoint.empty()) signals.emplace(true);
  const SampledSweep sampled = sample_sweep(config, comm, &note);
  if (sampled.interrupted) {
    if (comm.is_root()) {
      std::cerr << "mirage: stopped by a signal; checkpoint saved to " << config.checkpoint
                << "; finish the sweep with the same command plus --resume " << config.checkpoint
                << "\n";
    }
    return EXIT_INTERRUPTED;
  }
  if (!comm.is_root()) return 0;
  if (!signals) signals.emplace(true);
  h5::signal_for_tests("after-sampling");
  if (config.shard_count > 1) {
    if (signals->raised()) return stopped_after_sampling(config, sampled, signals->signal());
    write_tally_file(make_tally_file("shard", config, sampled.segment, sampled.done),
                     config.output);
    note_signal_while_writing(*signals);
    if (!config.quiet) {
      std::cout << "sampled shard " << config.shard_index << "/" << config.shard_count << ": "
                << format_si(double(sampled.draws)) << " token draws in " << std::fixed
                << std::setprecision(2) << sampled.elapsed_s << " s; wrote " << config.output
                << " (combine the parts with mirage merge)\n";
    }
    return 0;
  }
  if (signals->raised()) return stopped_after_sampling(config, sampled, signals->signal());
  // The result file is written while the analyses run, from the moment the metrics exist
  // (OverlappedResultWrite: no HDF5 call here until writer->finish()). A stop signal before that
  // moment ends the run with its checkpoint; one after it waits for the complete file.
  Results results;
  std::optional<OverlappedResultWrite> writer;
  finish_into(results, config, sampled, command_line, [&](const Results& head) {
    if (!signals->raised()) writer.emplace(head, config.output);
  });
  if (!writer) return stopped_after_sampling(config, sampled, signals->signal());
  writer->finish();
  if (!config.csv.empty()) write_csv(results, config.csv);
  note_signal_while_writing(*signals);
  if (!config.quiet) {
    std::cout << summary_table(results) << "\n";
    std::cout << "sampled " << format_si(double(results.info.draws)) << " token draws in "
              << std::fixed << std::setprecision(2) << results.info.elapsed_s << " s ("
              << format_si(double(results.info.draws) / results.info.elapsed_s)
              << " draws/s including reduction) on " << results.info.backend << " ("
              << results.info.devices << ")\n";
    std::cout << "wrote " << config.output;
    if (!config.csv.empty()) std::cout << " and " << config.csv;
    std::cout << "\n";
  }
  return 0;
}

int merge_command(const MergeOptions& options) {
  if (options.parts.empty()) throw std::invalid_argument("merge: no part files given");
  parse_compression("--compression", options.compression);
  const int32_t keep_replicates =
      parse_keep_replicates("--keep-replicates", options.keep_replicates);
  check_writable("--output", options.output);
  if (!options.csv.empty()) check_writable("--csv", options.csv);
  {
    std::vector<std::pair<std::string, std::string>> inputs;
    for (const std::string& part : options.parts) inputs.emplace_back("part", part);
    check_distinct_files({{"--output", options.output}, {"--csv", options.csv}}, inputs);
  }
  std::vector<TallyFile> parts;
  for (const std::string& path : options.parts) {
    parts.push_back(read_tally_file("merge", path));
    const TallyFile& part = parts.back();
    if (part.kind != "shard") {
      throw std::invalid_argument(
          "merge: '" + path + "' is a " + part.kind +
          ", not a finished shard; resume it with mirage run --resume first");
    }
  }
  const TallyFile& first = parts.front();
  std::vector<std::string> by_shard(size_t(first.shard_count));
  for (size_t i = 0; i < parts.size(); ++i) {
    const TallyFile& part = parts[i];
    const std::string& path = options.parts[i];
    if (part.identity != first.identity) {
      throw std::invalid_argument("merge: '" + path +
                                  "' was sampled with a different configuration "
                                  "or seed than '" +
                                  options.parts[0] + "' (" +
                                  (part.config.seed != first.config.seed
                                       ? "seed " + std::to_string(part.config.seed) + " vs " +
                                             std::to_string(first.config.seed)
                                       : std::string("model, task or work units differ")) +
                                  ")");
    }
    if (part.shard_count != first.shard_count) {
      throw std::invalid_argument("merge: '" + path + "' is shard " +
                                  std::to_string(part.shard_index) + "/" +
                                  std::to_string(part.shard_count) + " but '" + options.parts[0] +
                                  "' is one of " + std::to_string(first.shard_count) + " shards");
    }
    std::string& owner = by_shard[size_t(part.shard_index)];
    if (!owner.empty()) {
      throw std::invalid_argument("merge: shard " + std::to_string(part.shard_index) + "/" +
                                  std::to_string(part.shard_count) + " is given twice: '" + owner +
                                  "' and '" + path + "'");
    }
    owner = path;
  }
  std::string missing;
  for (size_t k = 0; k < by_shard.size(); ++k) {
    if (by_shard[k].empty())
      missing += (missing.empty() ? "" : ", ") + std::to_string(k) + "/" +
                 std::to_string(first.shard_count);
  }
  if (!missing.empty()) throw std::invalid_argument("merge: missing shard(s) " + missing);
  // Every work unit exactly once.
  std::vector<int64_t> segment(first.segment.size(), 0);
  std::vector<int> cover(first.done.size(), 0);
  for (const TallyFile& part : parts) {
    for (size_t i = 0; i < segment.size(); ++i) segment[i] += part.segment[i];
    for (size_t u = 0; u < cover.size(); ++u) cover[u] += part.done[u];
  }
  for (size_t u = 0; u < cover.size(); ++u) {
    if (cover[u] != 1) {
      throw std::invalid_argument("merge: work unit " + std::to_string(u) + " is covered " +
                                  std::to_string(cover[u]) + " times by the parts (expected once)");
    }
  }
  Config config = first.config;
  config.output = options.output;
  config.csv = options.csv;
  config.compression = options.compression;
  config.keep_replicates = keep_replicates;
  if (config.keep_replicates > config.replicates) {
    throw std::invalid_argument("--keep-replicates: value " +
                                std::to_string(config.keep_replicates) +
                                " is not allowed; at most the parts' replicates (" +
                                std::to_string(config.replicates) + "), or all");
  }
  config.shard_index = 0;
  config.shard_count = 1;
  RunInfo info;
  info.command_line = options.command_line;
  info.created_utc = utc_now();
  info.backend = "merged";
  for (size_t i = 0; i < parts.size(); ++i) info.devices += (i ? ", " : "") + options.parts[i];
  Results results = reduce_tallies(config, segment, std::move(info));
  write_hdf5(results, options.output);
  if (!options.csv.empty()) write_csv(results, options.csv);
  if (!options.quiet) {
    std::cout << summary_table(results) << "\nmerged " << parts.size() << " shards into "
              << options.output << "\n";
  }
  return 0;
}

namespace {

// The model families of config/presets.h, for `mirage info`.
void print_presets(std::ostream& out) {
  out << "model families (--preset NAME, and the families of mirage meta):\n";
  for (const ModelFamily& f : model_families()) {
    std::ostringstream sizes;
    for (size_t i = 0; i < f.scales.size(); ++i) {
      sizes << (i ? ", " : "") << std::setprecision(3) << f.scales[i];
    }
    out << "  " << std::left << std::setw(10) << f.name << std::right << " " << f.scales.size()
        << " sizes: " << sizes.str() << "\n"
        << "             " << f.description << "\n"
        << "             source: " << f.source << "\n";
  }
}

}  // namespace

int info_command() {
  unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
  H5get_libversion(&h5_major, &h5_minor, &h5_release);
  std::cout << "mirage " << MIRAGE_VERSION_STRING << " (git " << MIRAGE_GIT_SHA << ", "
            << MIRAGE_BUILD_TYPE << ", " << MIRAGE_CXX_COMPILER << ")\n";
  std::cout << "HDF5 " << h5_major << "." << h5_minor << "." << h5_release << "\n";
  std::cout << "backends:\n";
  std::cout << "  cpu   OpenMP, " << omp_get_max_threads() << " threads available, "
            << cpu_kernel_name(CpuKernel::automatic) << " kernel\n";
  if (!cuda::built()) {
    std::string why;
    cuda::list_devices(&why);
    std::cout << "  cuda  unavailable: " << why << "\n";
  } else {
    std::cout << "  cuda  built for architectures " << MIRAGE_CUDA_ARCHITECTURES << "\n";
    std::string why;
    const auto devices = cuda::list_devices(&why);
    if (devices.empty()) {
      std::cout << "        no usable device: " << why << "\n";
    }
    for (const auto& d : devices) {
      std::cout << "        " << d.index << ": " << d.name << ", compute capability " << d.major
                << "." << d.minor << ", " << std::fixed << std::setprecision(1)
                << double(d.total_memory) / double(1ull << 30) << " GiB, " << d.multiprocessors
                << " SMs\n";
    }
    std::cout.unsetf(std::ios::fixed);
  }
  print_presets(std::cout);
  return 0;
}

namespace {

// Attempts an item uses on average when sampled until success with budget B on `config`'s
// scales and lengths 1..5 (the model's power law, no difficulty): until_success_attempts,
// averaged; B = 0 (no budget) gives 1.
double mean_attempts_until(const Config& config, int32_t budget) {
  if (budget <= 0) return 1.0;
  double sum = 0.0;
  int count = 0;
  for (double scale : config.scales) {
    const double p =
        token_probability(power_law_loss(scale, config.loss_scale, config.loss_exponent));
    for (int length = 1; length <= 5; ++length) {
      sum += until_success_attempts(p, length, budget, DifficultyModel{});
      ++count;
    }
  }
  return sum / count;
}

// The fixed synthetic sweep of `mirage bench`: 8 scales across the emergence range, lengths
// 1..5, 4 replicates, nested test sizes by decades up to the size that gives `draws`.
Config bench_config(const BenchOptions& options, double draws) {
  Config config = default_config();
  config.compression = options.compression;
  config.keep_replicates = parse_keep_replicates("--keep-replicates", options.keep_replicates);
  config.until_success = options.budget > 0;
  config.budget = options.budget;
  if (options.sweep == "replicates") config.scales = parse_scales("--scales", {"1e8:1e13:21"});
  else config.scales = parse_scales("--scales", {"1e8:1e13:8"});
  // Draws per item relative to one attempt: A attempts, or the mean attempts until success.
  const double per_attempt = double(options.attempts) * mean_attempts_until(config, options.budget);
  if (options.sweep == "replicates") {
    config.test_sizes = {10, 100, 1000};
    config.replicates = draws < 2.1e9 * per_attempt
                            ? std::max<int32_t>(1, int32_t(draws / (1.05e5 * per_attempt)))
                            : 20000;
    config.attempts = options.attempts;
    if (options.attempts > 1) config.pass_at = {1, options.attempts};
    config.backend = options.backend;
    config.threads = options.threads;
    config.quiet = true;
    config.difficulty = options.difficulty;
    config.task = options.task;
    config.choices = options.choices;
    return config;
  }
  config.replicates = 4;
  config.backend = options.backend;
  config.threads = options.threads;
  config.quiet = true;
  config.difficulty = options.difficulty;
  config.task = options.task;
  config.choices = options.choices;
  config.attempts = options.attempts;
  if (options.attempts > 1) config.pass_at = {1, options.attempts};
  const double per_item = double(config.scales.size()) * config.replicates * 5 * per_attempt;
  const int64_t n_max = std::max<int64_t>(16, int64_t(std::llround(draws / per_item)));
  config.test_sizes.clear();
  for (int64_t n = 10; n < n_max; n *= 10) config.test_sizes.push_back(n);
  config.test_sizes.push_back(n_max);
  // Large units amortize scheduling on big sweeps.
  config.items_per_unit = 1 << 20;
  return config;
}

}  // namespace

int bench_command(const BenchOptions& options) {
  if (options.sweep != "throughput" && options.sweep != "replicates") {
    throw std::invalid_argument("--sweep: value '" + options.sweep +
                                "' is not allowed; throughput or replicates");
  }
  parse_compression("--compression", options.compression);
  parse_keep_replicates("--keep-replicates", options.keep_replicates);
  const double draws = options.sweep == "replicates"
                           ? (options.draws > 0 ? options.draws : 2.1e9)
                           : options.draws > 0 ? options.draws
                                               : (options.backend == "cuda" ? 1e12 : 2e9);
  Config config = bench_config(options, draws);
  std::string note;
  std::unique_ptr<Backend> backend = make_backend(config, &note);
  Sweep sweep(config);
  const UnitGrid grid = sweep.grid();
  std::vector<int64_t> segment = sweep.zero_tallies();
  // Warm-up on a small sweep (thread pool, CUDA context and module load).
  {
    Config warm = bench_config(options, 1e7);
    Sweep warm_sweep(warm);
    std::vector<int64_t> warm_segment = warm_sweep.zero_tallies();
    sample_units(*backend, warm_sweep.grid(), all_unit_ids(warm_sweep.grid()), warm_segment, false);
  }
  auto start = std::chrono::steady_clock::now();
  int64_t done = sample_units(*backend, grid, all_unit_ids(grid), segment, !options.quiet);
  const double sampling_s = seconds_since(start);
  // Sampling until success draws what the outcomes ask for (as a run counts them).
  if (config.until_success) done = until_draws(sweep.spec(), segment);

  start = std::chrono::steady_clock::now();
  // The whole reduction a run does: counts, metrics and the analyses.
  ReductionTimes phases;
  Results results = reduce_tallies(config, segment, RunInfo{}, &phases);
  const double reduction_s = seconds_since(start);
  const double cells = double(config.scales.size()) * config.lengths.size() *
                       config.test_sizes.size() * config.replicates;

  start = std::chrono::steady_clock::now();
  const std::string tmp = (std::filesystem::temp_directory_path() /
                           ("mirage-bench-" + std::to_string(::getpid()) + ".h5"))
                              .string();
  results.info.backend = backend->name();
  results.info.devices = backend->devices();
  write_hdf5(results, tmp);
  const double output_s = seconds_since(start);
  const double output_bytes = double(std::filesystem::file_size(tmp));
  std::filesystem::remove(tmp);

  const double rate = double(done) / sampling_s;
  std::ostringstream json;
  json << std::setprecision(6) << "{\n"
       << "  \"mirage_version\": \"" << MIRAGE_VERSION_STRING << "\",\n"
       << "  \"git_sha\": \"" << MIRAGE_GIT_SHA << "\",\n"
       << "  \"created_utc\": \"" << utc_now() << "\",\n"
       << "  \"backend\": \"" << backend->name() << "\",\n"
       << "  \"device\": \"" << backend->devices() << "\",\n"
       << "  \"sweep\": {\"scales\": " << config.scales.size() << ", \"lengths\": [1, 2, 3, 4, 5]"
       << ", \"replicates\": " << config.replicates << ", \"items\": " << config.test_sizes.back()
       << ", \"difficulty\": \"" << config.difficulty << "\", \"task\": \"" << config.task << "\""
       << (config.task == "multiple-choice" ? ", \"choices\": " + std::to_string(config.choices)
                                            : std::string())
       << ", \"attempts\": " << config.attempts << ", \"budget\": " << config.budget
       << "},\n"
       << "  \"draws\": " << done << ",\n"
       << "  \"sampling_s\": " << sampling_s << ",\n"
       << "  \"draws_per_s\": " << rate << ",\n"
       << "  \"cells\": " << cells << ",\n"
       << "  \"reduction_s\": " << reduction_s << ",\n"
       << "  \"reduction_cells_per_s\": " << cells / reduction_s << ",\n"
       << "  \"reduction_phases_s\": {\"counts\": " << phases.counts
       << ", \"metrics\": " << phases.metrics << ", \"comparison\": " << phases.comparison
       << ", \"jumps\": " << phases.jumps << ", \"frontier_emergence\": " << phases.other
       << "},\n"
       << "  \"output_s\": " << output_s << ",\n"
       << "  \"output_bytes\": " << output_bytes << ",\n"
       << "  \"compression\": \"" << config.compression << "\",\n"
       << "  \"replicates_stored\": " << stored_replicates(config) << "\n}\n";
  if (!options.json.empty()) {
    std::ofstream out(options.json);
    out << json.str();
    if (!out) throw std::runtime_error("--json: cannot write '" + options.json + "'");
  }
  std::cout << "backend      " << backend->name() << " (" << backend->devices() << ")\n"
            << "sweep        " << (options.sweep == "replicates" ? "replicates: " : "")
            << config.scales.size() << " scales x lengths 1..5 x "
            << config.replicates << " replicates x " << config.test_sizes.back() << " items"
            << (config.difficulty != "none" ? ", difficulty " + config.difficulty : std::string())
            << (config.task == "multiple-choice"
                    ? ", multiple choice (" + std::to_string(config.choices) + " options)"
                    : std::string())
            << (config.attempts > 1 ? ", " + std::to_string(config.attempts) + " attempts"
                                    : std::string())
            << (config.until_success
                    ? ", until success (budget " + std::to_string(config.budget) + ")"
                    : std::string())
            << "\n"
            << "token draws  " << format_si(double(done)) << "\n"
            << "sampling     " << std::fixed << std::setprecision(3) << sampling_s << " s  ("
            << format_si(rate) << " draws/s)\n"
            << "reduction    " << reduction_s << " s  (" << format_si(cells / reduction_s)
            << " cells/s over " << format_si(cells) << " cells: counts " << phases.counts
            << ", metrics " << phases.metrics << ", interval comparison " << phases.comparison
            << ", jumps " << phases.jumps << ", frontier and emergence " << phases.other << ")\n"
            << "output       " << output_s << " s  (HDF5, " << format_si(output_bytes)
            << " bytes, " << format_si(output_bytes / output_s) << " B/s, compression "
            << config.compression
            << (stored_replicates(config) < config.replicates
                    ? ", replicates stored " + std::to_string(stored_replicates(config)) + " of " +
                          std::to_string(config.replicates)
                    : std::string())
            << ")\n";
  return 0;
}

}  // namespace mirage
