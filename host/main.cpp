// Copyright (c) Mirage developers.
// The mirage executable: parse, validate, run, report. The only place that catches.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>

#include "cli/cli.h"
#include "run/distributed.h"

namespace {

// Finalizes MPI and leaves without the exit handlers: after a failed write (a full disk, even
// of a checkpoint the run survived) HDF5's own exit handler would close that file again and
// crash. Every file is committed or removed by now, and the streams are flushed here.
int leave(int code) {
  mirage::Communicator::world().finalize();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

// Under MPI every rank validates the same input, so rank 0 alone reports bad input; any
// other failure is reported by the rank that hit it, which then takes the job down.
int fail(const char* what, int code) {
  mirage::Communicator& comm = mirage::Communicator::world();
  if (comm.is_root() || code != 2) std::cerr << "mirage: error: " << what << "\n";
  // Bad input fails alike on every rank, which then leave together without MPI_Abort (whose
  // banner would bury the one-line message); anything else, or a rank left behind, aborts.
  if (comm.distributed() && !(code == 2 && comm.all_fail_together(10.0))) comm.abort(code);
  return leave(code);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return leave(mirage::cli_main(argc, argv));
  } catch (const std::invalid_argument& e) {
    return fail(e.what(), 2);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
