// Copyright (c) Mirage developers.
//! \file distributed.h
//! The process group of a run: one process, or the ranks of `mpirun -np K mirage run ...`
//! when Mirage is built with MPI and started by an MPI launcher. Work units are dealt to
//! ranks; integer tallies are summed to rank 0, which alone writes files and prints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mirage {

class Communicator {
 public:
  //! Joins the MPI job when this build has MPI and the process was started by an MPI
  //! launcher (Open MPI, MPICH/PMI or PMIx environment); otherwise a group of one.
  static Communicator& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  //! This process's index among the ranks on its node (for choosing a local GPU).
  int local_rank() const { return local_rank_; }
  bool is_root() const { return rank_ == 0; }
  //! Tasks that a launcher (mpirun, srun) started although they are not ranks of one MPI job
  //! (this build has no MPI, or srun gave them no PMI); 0 when none. Each would sample the
  //! whole sweep, so runs refuse this.
  int unsupported_launch_size() const { return unsupported_launch_size_; }
  //! The refusal for such a launch, one line naming what to do; empty when none.
  const std::string& unsupported_launch() const { return unsupported_launch_; }
  //! True when running under MPI with more than one rank.
  bool distributed() const { return size_ > 1; }

  //! Sums `values` element-wise over all ranks into rank 0's `values` (other ranks' values
  //! are left unspecified). Collective.
  void sum_to_root(std::vector<int64_t>& values) const;
  //! Element-wise max over all ranks, result on every rank. Collective.
  void max_all(std::vector<uint8_t>& values) const;
  //! Largest of `value` over all ranks, on every rank. Collective.
  int64_t max_all(int64_t value) const;
  //! Whether `flag` is set on any rank, on every rank. Collective.
  bool any(bool flag) const;
  //! Whether every rank reaches this call within `seconds` (a non-blocking barrier on a
  //! communicator of its own, so it cannot be confused with a collective that ranks still
  //! running are in). Bad input fails on every rank alike; then all can end cleanly,
  //! without MPI_Abort and its banner. True when not distributed.
  bool all_fail_together(double seconds) const;
  //! Aborts every rank with `code` (used when rank 0 fails after others have started).
  [[noreturn]] void abort(int code) const;
  //! Ends MPI (call once, before exit, when distributed or initialized).
  void finalize();

 private:
  Communicator() = default;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  bool initialized_ = false;
  int unsupported_launch_size_ = 0;
  std::string unsupported_launch_;
};

}  // namespace mirage
