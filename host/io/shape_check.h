// Copyright (c) Mirage developers.
//! \file shape_check.h
//! The reader's side of the file format: before a command uses a Mirage file, the file is
//! checked against the shapes it declares itself (docs/FORMAT.md §1, "Reading a file").
//!
//! Format 1.2 and later label every axis of every dataset with a netCDF dimension scale (a 1-D
//! coordinate dataset, copied into each group that uses it). So a file can be checked without
//! knowing its datasets by name:
//!   - a dimension scale is 1-D;
//!   - the copies of a scale (same name, different groups) hold the same values;
//!   - every other dataset of rank >= 1 has a readable scale on every axis, and the extent of
//!     each axis equals the length of its scale.
//! A dataset shortened, lengthened, replaced or whose scale was deleted breaks one of these.
//! scripts/plot.py and the Python package apply the same rules (python/mirage/_validate.py);
//! tests/python/test_damaged_files.py runs both on the same damaged files.
#pragma once

#include <string>

#include "io/hdf5_file.h"

namespace mirage {

//! Checks `file` against its declared shapes (the rules above) when its root attribute
//! `format_version` is 1.2 or later and it holds at least one dimension scale; earlier files
//! (and the first forecast files) have none and are left to the checks of each reader. Throws std::invalid_argument "<context>: dataset /x ...; the file is damaged
//! or was edited" naming the first dataset (in name order) that breaks a rule.
void check_declared_shapes(const h5::File& file, const std::string& context);

//! The axes of a `mirage run` result file: /model/scale (finite, > 0), /task/length and
//! /task/test_size (integers >= 1, strictly increasing), all non-empty, and the attribute
//! /task/test_size@replicates >= 1 and /task/test_size@replicates_stored (format 1.6; equal to
//! replicates where absent) from 1 to it, the length of the replicate axis of
//! /metrics/exact_match/estimate (whose scale check_declared_shapes ties to every other
//! per-replicate dataset). Throws std::invalid_argument in the same form.
void check_run_axes(const h5::File& file, const std::string& context);

//! The number of replicates whose per-replicate arrays a `mirage run` result file holds:
//! /task/test_size@replicates_stored (format 1.6, `--keep-replicates`), else
//! /task/test_size@replicates. Throws std::invalid_argument "<context>: ..." where
//! @replicates is missing or below 1, or @replicates_stored is not from 1 to it.
int64_t stored_replicates(const h5::File& file, const std::string& context);

}  // namespace mirage
