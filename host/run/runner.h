// Copyright (c) Mirage developers.
//! \file runner.h
//! Executing a sweep: which work units this process samples (shard, MPI rank, what a
//! checkpoint already holds), sampling them in batches with progress and checkpoints, and
//! stopping cleanly on SIGTERM/SIGINT. Then reduction of segment tallies to Results.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "run/distributed.h"
#include "io/results.h"
#include "mirage/sweep.h"

namespace mirage {

//! Exit code of a run stopped by SIGTERM/SIGINT after saving its checkpoint (EX_TEMPFAIL:
//! resume it with --resume).
constexpr int EXIT_INTERRUPTED = 75;

//! How work units are dealt to shards and MPI ranks, as recorded in tally files
//! (`unit_dealing`): contiguous runs of unit ids cut at equal cumulative token draws. Files
//! without the attribute were dealt by id mod N; their shards hold other units.
constexpr const char* UNIT_DEALING = "draws";

//! Work units [first, last) of one shard.
struct UnitRange {
  int64_t first = 0;
  int64_t last = 0;
};

//! The part (0..parts-1) that gets an item spanning token draws [before, before + draws) of
//! `total`: the part whose equal share of [0, total) holds the item's midpoint. Dealing a
//! sequence in order this way gives every part a contiguous run within one item's draws of
//! total / parts.
int32_t part_by_draws(int64_t before, int64_t draws, int64_t total, int32_t parts);

//! The work units of shard `index` of `count`: a contiguous run of ids cut at equal cumulative
//! token draws (part_by_draws over the ids in order). Units differ in size (a chunk of
//! items-per-unit items, or a segment's remainder), so dealing by id mod N would not balance.
UnitRange shard_units(const UnitGrid& grid, int32_t index, int32_t count);

//! The units among `ids` (in order) that MPI rank `rank` of `ranks` samples: a contiguous run
//! of `ids` cut at equal cumulative token draws.
std::vector<int64_t> rank_units(const UnitGrid& grid, const std::vector<int64_t>& ids,
                                int32_t rank, int32_t ranks);

//! SIGTERM and SIGINT caught for as long as this object lives (when `enabled`), so that the
//! run can stop at a point of its choosing: between batches of sampling (saving a checkpoint)
//! or between the reduction and the output. The previous handlers are restored afterwards.
//! Objects nest: an inner one restores the outer one's handler.
class StopSignals {
 public:
  explicit StopSignals(bool enabled);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  //! Whether a signal arrived since the outermost enabled object was constructed.
  bool raised() const;
  //! The signal that arrived (SIGTERM or SIGINT), 0 when none.
  int signal() const;

 private:
  bool enabled_;
  void (*previous_term_)(int) = nullptr;
  void (*previous_int_)(int) = nullptr;
};

//! What sampling produced. On rank 0, `segment` and `done` cover the whole sweep (all ranks
//! and the resumed checkpoint); on other ranks they are unspecified.
struct SampledSweep {
  std::vector<int64_t> segment;  //!< num_tallies(spec) * S*K*T*R segment tallies
  std::vector<uint8_t> done;     //!< per unit id: 1 = sampled (now or before the resume)
  int64_t draws = 0;             //!< token draws sampled by this run (all ranks)
  bool interrupted = false;      //!< stopped by a signal; a checkpoint was written
  //! On rank 0: the checkpoint written at the end of sampling holds every unit (false when
  //! the run has no checkpoint or it could not be written).
  bool checkpoint_complete = false;
  std::string backend, devices;
  double elapsed_s = 0.0;
};

//! Samples this process's share of the sweep of a validated `config` (its shard, its rank's
//! units, minus what config.resume already holds), checkpointing to config.checkpoint every
//! config.checkpoint_every seconds and on SIGTERM/SIGINT. Collective under MPI.
SampledSweep sample_sweep(const Config& config, const Communicator& comm, std::string* note);

//! Seconds spent in each phase of reduce_tallies (for mirage bench).
struct ReductionTimes {
  double counts = 0;      //!< nested test-set counts from the segment tallies
  double metrics = 0;     //!< estimates, intervals and summaries of every metric
  double comparison = 0;  //!< every interval method's coverage and width, exact coverage
  double jumps = 0;       //!< intervals for the steps between adjacent scales
  double other = 0;       //!< resolution frontier and emergence scores
};

//! Results of a complete sweep from its segment tallies: counts, metrics, analyses. With
//! `times`, the seconds of each phase are stored there.
Results reduce_tallies(const Config& config, const std::vector<int64_t>& segment, RunInfo info,
                       ReductionTimes* times = nullptr);

//! reduce_tallies into `results`, which stays at its address throughout: once the counts and
//! every metric (with its summaries and the adaptive arrays) are made, `metrics_ready(results)`
//! is called, and the analyses that follow (interval comparison, jumps, frontier, emergence)
//! assign only those members. So `metrics_ready` may hand the finished part to another thread
//! (OverlappedResultWrite) while the analyses run.
void reduce_tallies_into(Results& results, const Config& config,
                         const std::vector<int64_t>& segment, RunInfo info, ReductionTimes* times,
                         const std::function<void(const Results&)>& metrics_ready);

}  // namespace mirage
