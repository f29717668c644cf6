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
constexpr int FORMAT_VERSION_MINOR = 1;

}  // namespace mirage
