// Copyright (c) Mirage developers.
//! \file runner.h
//! Executing a sweep: which work units this process samples (shard, MPI rank, what a
//! checkpoint already holds), sampling them in batches with progress and checkpoints, and
//! stopping cleanly on SIGTERM/SIGINT. Then reduction of segment tallies to Results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "run/distributed.h"
#include "io/results.h"

namespace mirage {

//! Exit code of a run stopped by SIGTERM/SIGINT after saving its checkpoint (EX_TEMPFAIL:
//! resume it with --resume).
constexpr int EXIT_INTERRUPTED = 75;

//! What sampling produced. On rank 0, `segment` and `done` cover the whole sweep (all ranks
//! and the resumed checkpoint); on other ranks they are unspecified.
struct SampledSweep {
  std::vector<int64_t> segment;  //!< num_tallies(spec) * S*K*T*R segment tallies
  std::vector<uint8_t> done;     //!< per unit id: 1 = sampled (now or before the resume)
  int64_t draws = 0;             //!< token draws sampled by this run (all ranks)
  bool interrupted = false;      //!< stopped by a signal; a checkpoint was written
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

}  // namespace mirage
