// Copyright (c) Mirage developers.
#include "run/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <thread>
#include <string>

#if defined(MIRAGE_HAVE_MPI)
#include <mpi.h>
#endif

namespace mirage {
namespace {

[[maybe_unused]] bool launched_by_mpi() {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

// How many tasks the launcher started, and this one's index, from its environment: an MPI
// launcher's own variables first, else srun's step. srun without PMI (Slurm's default
// MpiDefault=none, no --mpi) starts the tasks with no MPI connection, so only Slurm's variables
// tell them they are several. SLURM_NTASKS will not do: the batch script, one process, has it
// too; SLURM_STEP_NUM_TASKS is set inside srun steps only.
struct Launch {
  int size = 1;
  int rank = 0;
  const char* launcher = nullptr;  // nullptr: not started by a launcher of several tasks
};

Launch launch_from_env() {
  const struct {
    const char* size;
    const char* rank;
    const char* launcher;
  } launchers[] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "mpirun"},
                   {"PMI_SIZE", "PMI_RANK", "the MPI launcher"},
                   {"MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "mpirun"},
                   {"SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "srun"}};
  for (const auto& l : launchers) {
    if (std::getenv(l.size) == nullptr) continue;
    Launch launch;
    launch.size = env_int(l.size, 1);
    launch.rank = env_int(l.rank, 0);
    if (launch.size > 1) launch.launcher = l.launcher;
    return launch;
  }
  return Launch{};
}

}  // namespace

#if defined(MIRAGE_HAVE_MPI)
namespace {
// A communicator of its own for all_fail_together(): its barrier can never be matched with a
// collective that ranks still running are in.
MPI_Comm g_failure_comm = MPI_COMM_NULL;
}  // namespace
#endif

Communicator& Communicator::world() {
  static Communicator world = [] {
    Communicator c;
#if defined(MIRAGE_HAVE_MPI)
    if (launched_by_mpi()) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      c.initialized_ = true;
      MPI_Comm_rank(MPI_COMM_WORLD, &c.rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &c.size_);
      MPI_Comm local;
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c.rank_, MPI_INFO_NULL, &local);
      MPI_Comm_rank(local, &c.local_rank_);
      MPI_Comm_free(&local);
      MPI_Comm_dup(MPI_COMM_WORLD, &g_failure_comm);
    }
#endif
    // Tasks that the launcher started but that are not ranks of one MPI job (a build without
    // MPI, srun without PMI, a PMI that MPI cannot use) would each sample everything:
    // remember the launch so that runs refuse it loudly.
    const Launch launch = launch_from_env();
    if (c.size_ == 1 && launch.launcher != nullptr) {
      c.unsupported_launch_size_ = launch.size;
#if defined(MIRAGE_HAVE_MPI)
      c.unsupported_launch_ =
          std::string(launch.launcher) + " started " + std::to_string(launch.size) +
          " tasks but they are not one MPI job (no PMI), so each would sample everything; " +
          (std::strcmp(launch.launcher, "srun") == 0
               ? "launch with `srun --mpi=pmix` (`srun --mpi=list` shows what this Slurm has) "
                 "or mpirun, or give each task its own --shard k/N"
               : "check that mirage and the launcher use the same MPI, or give each task its "
                 "own --shard k/N");
#else
      c.unsupported_launch_ =
          std::string(launch.launcher) + " started " + std::to_string(launch.size) +
          " tasks but this mirage was built without MPI, so each would sample everything; "
          "rebuild with libopenmpi-dev installed, or give each task its own --shard k/N";
#endif
      // Each task refuses the run; keeping the launcher's rank lets task 0 alone print it.
      c.rank_ = launch.rank;
    }
    return c;
  }();
  return world;
}

void Communicator::sum_to_root(std::vector<int64_t>& values) const {
#if defined(MIRAGE_HAVE_MPI)
  if (!initialized_ || size_ == 1) return;
  // MPI counts are int; reduce in slices so arrays beyond 2^31 elements still work.
  constexpr size_t SLICE = size_t{1} << 28;
  for (size_t offset = 0; offset < values.size(); offset += SLICE) {
    const int count = static_cast<int>(std::min(SLICE, values.size() - offset));
    if (rank_ == 0) {
      MPI_Reduce(MPI_IN_PLACE, values.data() + offset, count, MPI_INT64_T, MPI_SUM, 0,
                 MPI_COMM_WORLD);
    } else {
      MPI_Reduce(values.data() + offset, nullptr, count, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    }
  }
#else
  (void)values;
#endif
}

void Communicator::max_all(std::vector<uint8_t>& values) const {
#if defined(MIRAGE_HAVE_MPI)
  if (!initialized_ || size_ == 1) return;
  constexpr size_t SLICE = size_t{1} << 28;
  for (size_t offset = 0; offset < values.size(); offset += SLICE) {
    const int count = static_cast<int>(std::min(SLICE, values.size() - offset));
    MPI_Allreduce(MPI_IN_PLACE, values.data() + offset, count, MPI_UINT8_T, MPI_MAX,
                  MPI_COMM_WORLD);
  }
#else
  (void)values;
#endif
}

int64_t Communicator::max_all(int64_t value) const {
#if defined(MIRAGE_HAVE_MPI)
  if (initialized_ && size_ > 1) {
    MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  }
#endif
  return value;
}

bool Communicator::any(bool flag) const {
  return max_all(int64_t{flag ? 1 : 0}) != 0;
}

bool Communicator::all_fail_together(double seconds) const {
#if defined(MIRAGE_HAVE_MPI)
  if (!initialized_ || size_ == 1) return true;
  MPI_Request request;
  MPI_Ibarrier(g_failure_comm, &request);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  int done = 0;
  while (true) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
#else
  (void)seconds;
  return true;
#endif
}

void Communicator::abort(int code) const {
#if defined(MIRAGE_HAVE_MPI)
  if (initialized_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

void Communicator::finalize() {
#if defined(MIRAGE_HAVE_MPI)
  if (initialized_) {
    if (g_failure_comm != MPI_COMM_NULL) MPI_Comm_free(&g_failure_comm);
    MPI_Finalize();
    initialized_ = false;
  }
#endif
}

}  // namespace mirage
