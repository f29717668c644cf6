// Copyright (c) Mirage developers.
//! \file output.h
//! Writing results: the HDF5 file of docs/DESIGN.md §6 (atomically) and the tidy CSV.
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "io/hdf5_file.h"
#include "io/results.h"

namespace mirage {

//! Writes `results` to `path` as a Mirage HDF5 result file, via a temporary file renamed on
//! completion, so a crash never leaves a truncated file under `path`.
void write_hdf5(const Results& results, const std::string& path);

//! Writes a result file while the reduction still runs (`mirage run`: the kernel's copying of
//! hundreds of MB into the page cache then overlaps the analyses). The constructor starts a
//! thread that writes, via a temporary file as write_hdf5, the head of the file: provenance,
//! configuration, model, task, counts, metrics and summaries, which must be complete then
//! (reduce_tallies_into's `metrics_ready`). finish(), once `results` is complete, lets it write
//! the analyses and commit. The file holds what write_hdf5 would write. HDF5 is not
//! thread-safe: until finish() returns, the caller must not use it. `results` must stay at its
//! address and its head unchanged until then.
class OverlappedResultWrite {
 public:
  OverlappedResultWrite(const Results& results, std::string path);
  //! Writes the rest and commits the file; rethrows the writing thread's error (its temporary
  //! file then removed, `path` untouched).
  void finish();
  //! Without finish(): stops the thread and removes the temporary file.
  ~OverlappedResultWrite();
  OverlappedResultWrite(const OverlappedResultWrite&) = delete;
  OverlappedResultWrite& operator=(const OverlappedResultWrite&) = delete;

 private:
  void wait_for_the_rest();
  std::mutex mutex_;
  std::condition_variable ready_or_abandoned_;
  bool ready_ = false, abandoned_ = false, joined_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

//! Writes the tidy CSV: one row per (scale, length, test size, metric) with the analytic
//! value and the cross-replicate summary. Also written atomically.
void write_csv(const Results& results, const std::string& path);

//! Opens an existing Mirage result file for reading, refusing (std::invalid_argument naming
//! `option`) a file that is missing, not HDF5, of another filetype, or of an unknown major
//! format version.
h5::File open_result_file(const std::string& option, const std::string& path);

//! Current time as ISO 8601 UTC, e.g. 2026-11-30T03:19:56Z.
std::string utc_now();

}  // namespace mirage
