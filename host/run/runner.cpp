// Copyright (c) Mirage developers.
#include "run/runner.h"

#include <omp.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "stats/analysis.h"
#include "run/backend.h"
#include "cuda_backend.h"
#include "io/output.h"
#include "run/progress.h"
#include "stats/reduction.h"
#include "run/simulation.h"
#include "io/tally_file.h"

namespace mirage {
namespace {

// Set by the SIGTERM/SIGINT handler; read between batches and phases. A signal handler can
// touch nothing but a lock-free atomic, so this one flag is the only global of the program.
volatile std::sig_atomic_t g_stop_signal = 0;

// Enabled StopSignals objects alive; the outermost resets the flag.
int g_stop_depth = 0;

extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The first line where two TOML texts differ, for messages.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool ga = bool(std::getline(sa, la)), gb = bool(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga || !gb || la != lb)
      return "'" + (ga ? la : "(end)") + "' vs '" + (gb ? lb : "(end)") + "'";
  }
}

// Groups work units into batches worth at least `min_draws` token draws each; progress,
// checkpoints and signals are handled between batches.
std::vector<std::vector<int64_t>> make_batches(const UnitGrid& grid,
                                               const std::vector<int64_t>& ids, double min_draws) {
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> batch;
  double draws = 0;
  for (int64_t id : ids) {
    batch.push_back(id);
    draws += double(unit_draws(grid.spec, unit_at(grid, id)));
    if (draws >= min_draws) {
      batches.push_back(std::move(batch));
      batch.clear();
      draws = 0;
    }
  }
  if (!batch.empty()) batches.push_back(std::move(batch));
  return batches;
}

}  // namespace

StopSignals::StopSignals(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  if (g_stop_depth++ == 0) g_stop_signal = 0;
  previous_term_ = std::signal(SIGTERM, on_stop_signal);
  previous_int_ = std::signal(SIGINT, on_stop_signal);
}

StopSignals::~StopSignals() {
  if (!enabled_) return;
  --g_stop_depth;
  std::signal(SIGTERM, previous_term_);
  std::signal(SIGINT, previous_int_);
}

bool StopSignals::raised() const { return enabled_ && g_stop_signal != 0; }

int StopSignals::signal() const { return enabled_ ? int(g_stop_signal) : 0; }

int32_t part_by_draws(int64_t before, int64_t draws, int64_t total, int32_t parts) {
  if (total <= 0 || parts <= 1) return 0;
  // floor(midpoint * parts / total) in 128 bits: sweeps reach 1e15 draws and parts 2^20.
  const __int128 part = (__int128{2} * before + draws) * parts / (__int128{2} * total);
  return part < parts ? int32_t(part) : parts - 1;
}

UnitRange shard_units(const UnitGrid& grid, int32_t index, int32_t count) {
  const int64_t units = num_units(grid);
  if (count <= 1) return {0, units};
  // Every (replicate, scale) is cut into the same chunks, so the draws before unit id are
  // (id / chunks) * whole + before[id % chunks]: no pass over all units is needed.
  const int64_t chunks = chunks_per_replicate_scale(grid);
  std::vector<int64_t> before(size_t(chunks) + 1, 0);
  for (int64_t c = 0; c < chunks; ++c)
    before[size_t(c) + 1] = before[size_t(c)] + unit_draws(grid.spec, unit_at(grid, c));
  const int64_t whole = before[size_t(chunks)];
  const int64_t total = units / chunks * whole;
  auto part = [&](int64_t id) {
    const size_t c = size_t(id % chunks);
    return part_by_draws(id / chunks * whole + before[c], before[c + 1] - before[c], total, count);
  };
  // Parts never decrease along the ids, so each part's first unit is a binary search away.
  auto first_of = [&](int32_t k) {
    int64_t lo = 0, hi = units;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (part(mid) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {first_of(index), index + 1 == count ? units : first_of(index + 1)};
}

std::vector<int64_t> rank_units(const UnitGrid& grid, const std::vector<int64_t>& ids,
                                int32_t rank, int32_t ranks) {
  if (ranks <= 1) return ids;
  int64_t total = 0;
  for (int64_t id : ids) total += unit_draws(grid.spec, unit_at(grid, id));
  std::vector<int64_t> mine;
  int64_t before = 0;
  for (int64_t id : ids) {
    const int64_t draws = unit_draws(grid.spec, unit_at(grid, id));
    if (part_by_draws(before, draws, total, ranks) == rank) mine.push_back(id);
    before += draws;
  }
  return mine;
}

SampledSweep sample_sweep(const Config& input, const Communicator& comm, std::string* note) {
  const auto start = std::chrono::steady_clock::now();
  if (!comm.unsupported_launch().empty()) throw std::invalid_argument(comm.unsupported_launch());
  Config config = input;
  // Under MPI each rank takes the GPU of its local rank unless --devices says otherwise.
  if (comm.distributed() && config.devices.empty() && config.backend != "cpu") {
    const auto devices = cuda::list_devices(nullptr);
    if (!devices.empty())
      config.devices = {devices[size_t(comm.local_rank()) % devices.size()].index};
  }
  std::unique_ptr<Backend> backend = make_backend(config, note);
  if (!config.quiet && note && comm.is_root()) std::cerr << "mirage: " << *note << "\n";

  Sweep sweep(config);
  const UnitGrid grid = sweep.grid();
  const int64_t units = num_units(grid);
  const size_t tally_size = size_t(segment_tally_size(sweep.spec()));

  SampledSweep out;
  out.backend = backend->name();
  out.devices = backend->devices();
  if (comm.distributed()) out.devices += " x " + std::to_string(comm.size()) + " MPI ranks";

  // What a checkpoint already holds (rank 0 keeps it and adds it at the end); none without one.
  std::vector<int64_t> base;
  std::vector<uint8_t> base_done(size_t(units), 0);
  if (!config.resume.empty()) {
    TallyFile checkpoint = read_tally_file("--resume", config.resume);
    if (checkpoint.identity != sampling_identity(config)) {
      throw std::invalid_argument("--resume: checkpoint '" + config.resume +
                                  "' was written for a different configuration (" +
                                  first_difference(checkpoint.identity, sampling_identity(config)) +
                                  "); run it with the configuration that wrote it");
    }
    if (checkpoint.shard_index != config.shard_index ||
        checkpoint.shard_count != config.shard_count) {
      throw std::invalid_argument("--resume: checkpoint '" + config.resume + "' belongs to shard " +
                                  std::to_string(checkpoint.shard_index) + "/" +
                                  std::to_string(checkpoint.shard_count));
    }
    if (checkpoint.done.size() != size_t(units)) {
      throw std::invalid_argument("--resume: checkpoint '" + config.resume + "' has " +
                                  std::to_string(checkpoint.done.size()) +
                                  " work units, this run " + std::to_string(units));
    }
    base = std::move(checkpoint.segment);
    base_done = std::move(checkpoint.done);
  }

  // This process's units: those of its shard's run not yet done, cut into runs of equal token
  // draws for the ranks (every rank computes the same cut from the same checkpoint).
  const UnitRange range = shard_units(grid, config.shard_index, config.shard_count);
  std::vector<int64_t> pending;
  for (int64_t id = range.first; id < range.last; ++id) {
    if (!base_done[size_t(id)]) pending.push_back(id);
  }
  const std::vector<int64_t> mine = rank_units(grid, pending, comm.rank(), comm.size());
  const double min_draws = backend->name() == "cuda" ? 2e11 : 2e8;
  const std::vector<std::vector<int64_t>> batches = make_batches(grid, mine, min_draws);
  const int64_t rounds = comm.max_all(int64_t(batches.size()));

  int64_t my_draws = 0;
  for (int64_t id : mine) my_draws += unit_draws(grid.spec, unit_at(grid, id));
  // A long run says how long before it starts (a multi-day sweep should not start without a
  // word): the draws, and the time at a rate this backend reaches (docs/BENCHMARKS.md, GPU.md).
  if (!config.quiet && comm.is_root() && my_draws >= int64_t{100'000'000'000}) {
    const bool cuda = backend->name() == "cuda";
    const double rate = cuda ? 1e12 : 1.5e9 * omp_get_max_threads();
    std::cerr << "mirage: this rank samples " << format_si(double(my_draws))
              << " token draws: about " << format_si(double(my_draws) / rate / 3600.0)
              << " hours at " << format_si(rate) << " draws/s ("
              << (cuda ? "an H200's target" : "1.5e9 per CPU thread")
              << "); progress with the measured rate follows\n";
  }
  // Progress shows this rank's share (rank 0 alone draws it).
  Progress progress("sampling", my_draws, !config.quiet && comm.is_root());

  std::vector<int64_t> local(tally_size, 0);
  std::vector<uint8_t> local_done(size_t(units), 0);
  const bool can_checkpoint = !config.checkpoint.empty();
  StopSignals signals(can_checkpoint);
  auto last_checkpoint = std::chrono::steady_clock::now();

  // Sums every rank's tallies and unit records with the checkpoint's into rank 0's `out`.
  // `last`: sampling is over and nothing reads `local` again, so it becomes the segment (a
  // copy of 150 MB fewer on the 20,000-replicate sweep).
  auto gather = [&](std::vector<int64_t>& segment, std::vector<uint8_t>& done, bool last) {
    if (last) {
      segment = std::move(local);
    } else {
      segment = local;
    }
    comm.sum_to_root(segment);
    done = local_done;
    comm.max_all(done);
    if (comm.is_root()) {
      if (!base.empty()) {
        for (size_t i = 0; i < segment.size(); ++i) segment[i] += base[i];
      }
      for (size_t i = 0; i < done.size(); ++i) done[i] = done[i] | base_done[i];
    }
  };
  // A checkpoint that cannot be written (a full disk) stops the run only when the run is
  // stopping anyway; otherwise sampling goes on and the last checkpoint written stays.
  auto save_checkpoint = [&](bool stopping) {
    std::vector<int64_t> segment;
    std::vector<uint8_t> done;
    gather(segment, done, false);
    if (!comm.is_root()) return false;
    try {
      write_tally_file(
          make_tally_file("checkpoint", config, std::move(segment), std::move(done)),
          config.checkpoint);
      return true;
    } catch (const std::runtime_error& e) {
      if (stopping) throw;
      std::cerr << "mirage: warning: the checkpoint was not saved (" << e.what()
                << "); sampling goes on, and the last checkpoint saved, if any, stays\n";
      return false;
    }
  };

  for (int64_t round = 0; round < rounds; ++round) {
    if (round < int64_t(batches.size())) {
      const std::vector<int64_t>& batch = batches[size_t(round)];
      backend->sample(grid, batch.data(), int64_t(batch.size()), local.data(),
                      [&](int64_t draws) {
                        progress.add(draws);
                        h5::signal_for_tests("unit");
                      });
      for (int64_t id : batch) local_done[size_t(id)] = 1;
    }
    if (!can_checkpoint || round + 1 == rounds) continue;
    const bool stop = comm.any(signals.raised());
    const bool due =
        comm.any(comm.is_root() && seconds_since(last_checkpoint) >= config.checkpoint_every);
    if (stop || due) {
      save_checkpoint(stop);
      last_checkpoint = std::chrono::steady_clock::now();
    }
    if (stop) {
      // No rank leaves before rank 0 has written the checkpoint: a launcher that ends the step
      // when one task exits (srun --kill-on-bad-exit) would otherwise kill it mid-write.
      comm.any(false);
      progress.finish();
      out.interrupted = true;
      out.elapsed_s = seconds_since(start);
      return out;
    }
  }
  progress.finish();
  // Now the backend can say which path it took (attempts, until success).
  out.devices = backend->devices() + (comm.distributed()
                                          ? " x " + std::to_string(comm.size()) + " MPI ranks"
                                          : "");
  // The last checkpoint first: the last gather takes `local` over.
  if (can_checkpoint) out.checkpoint_complete = save_checkpoint(false);
  gather(out.segment, out.done, true);
  std::vector<int64_t> draws = {progress.done()};
  comm.sum_to_root(draws);
  out.draws = draws[0];
  out.elapsed_s = seconds_since(start);
  return out;
}

Results reduce_tallies(const Config& config, const std::vector<int64_t>& segment, RunInfo info,
                       ReductionTimes* times) {
  Results results;
  reduce_tallies_into(results, config, segment, std::move(info), times, nullptr);
  return results;
}

void reduce_tallies_into(Results& results, const Config& config,
                         const std::vector<int64_t>& segment, RunInfo info, ReductionTimes* times,
                         const std::function<void(const Results&)>& metrics_ready) {
  ReductionTimes local;
  ReductionTimes& t = times ? *times : local;
  auto start = std::chrono::steady_clock::now();
  auto lap = [&start](double* into) {
    *into = seconds_since(start);
    start = std::chrono::steady_clock::now();
    h5::signal_for_tests("reduction");
  };
  Sweep sweep(config);
  results = Results{};
  results.config = config;
  results.info = std::move(info);
  results.model = sweep.model();
  results.counts = nested_counts(sweep.spec(), segment);
  // Sampling until success draws what the outcomes ask for: the draws used, from the tallies
  // (the same for any split into threads, units, ranks, shards or resumed runs).
  if (sweep.spec().budget > 0) results.info.draws = until_draws(sweep.spec(), segment);
  lap(&t.counts);
  compute_metrics(results);
  lap(&t.metrics);
  if (metrics_ready) metrics_ready(results);
  // The analyses of analyze() (stats/analysis.h), timed one by one. Each assigns its own
  // member of `results` and only reads the others.
  results.interval_comparison = compare_intervals(results);
  lap(&t.comparison);
  results.jumps = jump_intervals(results);
  lap(&t.jumps);
  results.frontier = resolution_frontier(results);
  results.emergence = emergence_scores(results);
  lap(&t.other);
}

}  // namespace mirage
