// Copyright (c) Mirage developers.
//! \file output.h
//! Writing results: the HDF5 file of docs/DESIGN.md §6 (atomically) and the tidy CSV.
#pragma once

#include <string>

#include "io/hdf5_file.h"
#include "io/results.h"

namespace mirage {

//! Writes `results` to `path` as a Mirage HDF5 result file, via a temporary file renamed on
//! completion, so a crash never leaves a truncated file under `path`.
void write_hdf5(const Results& results, const std::string& path);

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
