// Copyright (c) Mirage developers.
//! \file cli.h
//! The command line (CLI11) and the TOML config file (CLI11's own config support, a [run]
//! table; flags win over the file).
#pragma once

#include <string>

#include "config/config.h"

namespace mirage {

//! The configuration that `config_toml` (as written by to_toml) describes, parsed by the same
//! rules as `mirage run --config`. Throws std::invalid_argument naming `source` for a bad text.
Config config_from_toml(const std::string& config_toml, const std::string& source);

//! Parses the command line, validates, runs the subcommand. Throws std::invalid_argument for
//! bad input (main turns it into exit code 2) and std::runtime_error for failures.
int cli_main(int argc, char** argv);

}  // namespace mirage
