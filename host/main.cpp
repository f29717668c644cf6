// Copyright (c) Mirage developers.
// The mirage executable: parse, validate, run, report. The only place that catches.
#include <exception>
#include <iostream>
#include <stdexcept>

#include "cli/cli.h"
#include "run/distributed.h"

namespace {

// Under MPI every rank validates the same input, so rank 0 alone reports bad input; any
// other failure is reported by the rank that hit it, which then takes the job down.
int fail(const char* what, int code) {
  mirage::Communicator& comm = mirage::Communicator::world();
  if (comm.is_root() || code != 2) std::cerr << "mirage: error: " << what << "\n";
  if (comm.distributed()) comm.abort(code);
  comm.finalize();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int code = mirage::cli_main(argc, argv);
    mirage::Communicator::world().finalize();
    return code;
  } catch (const std::invalid_argument& e) {
    return fail(e.what(), 2);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
