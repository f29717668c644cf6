// Copyright (c) Mirage developers.
//! \file format.h
//! The identity of Mirage's result files: the one place where the HDF5 format version lives.
//! Readers refuse a file whose filetype differs or whose major version they do not know.
#pragma once

namespace mirage {

constexpr const char* RESULT_FILETYPE = "mirage-results";
constexpr int FORMAT_VERSION_MAJOR = 1;
//! 1.1: continuous item difficulty (/model/difficulty holds the family and the law of the
//! items; no /counts/difficulty_bin) and sampled multiple choice (/counts/multiple_choice_grade,
//! /counts/brier_score, /counts/brier_score_sq); interval comparison per metric
//! (/interval_comparison/<metric>/<method>, with exact_coverage), /jumps, and meta-analysis files
//! (filetype "mirage-meta"). Readers of 1.0 files still read 1.1 ones; docs/FORMAT.md has the
//! full history.
//! 1.2: self-describing result and meta files: every dataset's axes are netCDF-4 dimension
//! scales (scale, length, test_size, replicate, scale_pair, quantile_probability; task, family,
//! replicate, scale_<family>), with coordinate copies in each group that uses them, `units`,
//! `long_name` and `description`, so xarray opens any group with labelled coordinates. Nothing
//! of 1.1 changed; tally files and meta shards are as in 1.1 but carry [1, 2].
constexpr int FORMAT_VERSION_MINOR = 2;

}  // namespace mirage
