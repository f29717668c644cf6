// Copyright (c) Mirage developers.
//! \file cli.h
//! The command line (CLI11) and the TOML config file (CLI11's own config support, a [run]
//! table; flags win over the file).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace mirage {

//! The configuration that `config_toml` (as written by to_toml) describes, parsed by the same
//! rules as `mirage run --config`. Throws std::invalid_argument naming `source` for a bad text.
Config config_from_toml(const std::string& config_toml, const std::string& source);

//! Parses the command line, validates, runs the subcommand. Throws std::invalid_argument for
//! bad input (main turns it into exit code 2) and std::runtime_error for failures.
int cli_main(int argc, char** argv);

//! What run_cli returns: the exit code `mirage` would exit with and, when it is not 0, the
//! message `mirage` would print after "mirage: error: " (empty otherwise).
struct CliOutcome {
  int exit_code = 0;
  std::string error;
};

//! Runs `mirage` in this process (for embedding: the Python module): `args` is the whole
//! command line, program name first (e.g. {"mirage", "run", "--lengths", "1,5"}). It does
//! what cli_main does, but returns a failure instead of printing it: exit code 2 with the
//! message of std::invalid_argument (bad input), 1 with that of any other exception. OpenMP's
//! thread count is restored afterwards, so --threads does not outlive the call. Not
//! reentrant: one call at a time per process.
CliOutcome run_cli(const std::vector<std::string>& args);

}  // namespace mirage
