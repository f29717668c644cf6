// Copyright (c) Mirage developers.
#include "run/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(MIRAGE_HAVE_MPI)
#include <mpi.h>
#endif

namespace mirage {
namespace {

bool launched_by_mpi() {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

[[maybe_unused]] int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

}  // namespace

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
    }
#else
    // Without MPI every launched process would sample everything; remember the launch so
    // that `mpirun` with a build lacking MPI is refused loudly.
    if (launched_by_mpi()) {
      const int size = env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1));
      if (size > 1) c.unsupported_launch_size_ = size;
    }
#endif
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

void Communicator::abort(int code) const {
#if defined(MIRAGE_HAVE_MPI)
  if (initialized_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

void Communicator::finalize() {
#if defined(MIRAGE_HAVE_MPI)
  if (initialized_) {
    MPI_Finalize();
    initialized_ = false;
  }
#endif
}

}  // namespace mirage
