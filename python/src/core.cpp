// Copyright (c) Mirage developers.
// mirage._core: the `mirage` command line in-process, for the Python package (python/mirage).
// mirage.run() turns its keyword arguments into the argument list of `mirage run`, so the
// options are validated and refused exactly as on the command line.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cli/cli.h"
#include "mirage/build_info.h"
#include "run/progress.h"

namespace nb = nanobind;
using namespace nb::literals;

NB_MODULE(_core, m) {
  m.doc() = "The mirage command line in-process (the compiled part of the mirage package).";

  m.def(
      "run_cli",
      [](const std::vector<std::string>& args) {
        mirage::CliOutcome outcome;
        {
          nb::gil_scoped_release release;
          outcome = mirage::run_cli(args);
        }
        return std::make_pair(outcome.exit_code, outcome.error);
      },
      "args"_a,
      "Runs the mirage command line ``args`` (program name first, e.g. ``['mirage', 'run', "
      "'--lengths', '1,5']``) in this process with the GIL released. Returns ``(exit_code, "
      "error)``: the code ``mirage`` would exit with (0, 1 for a failure, 2 for bad input, 75 "
      "when stopped by a signal after a checkpoint) and the message it would print after "
      "'mirage: error: ' ('' when the code is 0). One call at a time per process.");

  m.def(
      "progress",
      [] {
        const mirage::ProgressSnapshot snapshot = mirage::latest_progress();
        return std::make_tuple(snapshot.done, snapshot.total, snapshot.started);
      },
      "``(done, total, started)``: token draws done and in all of the sampling started last in "
      "this process, and how many samplings have started (0: none yet). Safe to call from "
      "another thread while run_cli runs.");

  m.attr("version") = MIRAGE_VERSION_STRING;
  m.attr("git_sha") = MIRAGE_GIT_SHA;
#if defined(MIRAGE_HAVE_CUDA)
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
#if defined(MIRAGE_HAVE_MPI)
  m.attr("has_mpi") = true;
#else
  m.attr("has_mpi") = false;
#endif
}
