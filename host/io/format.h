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
//! 1.3: repeated attempts (run --attempts A > 1): /counts/attempt_histogram
//! [S][K][T][R][A+1] with the dimension correct_attempts, /task@attempts, and pass@k metrics
//! (/metrics, /summary, /jumps, /emergence groups pass_at_K with attribute k); tally files of
//! such runs append the A + 1 histogram bins to their tallies. Files of runs with one attempt
//! hold exactly what 1.2 files held.
//! 1.4: sampling until success (run --until-success --budget B): /counts/until_solved,
//! until_attempts, until_attempts_sq, until_solved_attempts [S][K][T][R], /task@budget, and
//! the metric until_success (/metrics/until_success with pooled_limit [S][K] and attribute
//! budget, /summary, /jumps, /emergence); tally files of such runs append the four until tallies
//! to their tallies. Files of other runs hold exactly what 1.3 files held.
//! 1.5: adaptive test-set size (run --target-relative-width W --max-items M): the group
//! /adaptive (items_used, draws_used, stopped, estimate, ci_low, ci_high [S][K][R]; summaries
//! [S][K]; steps [T]; attributes target_relative_width, max_items). Files of other runs hold
//! exactly what 1.4 files held.
//! 1.6: runs with --keep-replicates N store the per-replicate arrays (every dataset with the
//! replicate dimension) of the first N replicates only: the replicate dimension has N values,
//! /task/test_size@replicates stays R (the replicates the summaries use) and the new attribute
//! /task/test_size@replicates_stored says N (equal to R in every other file). Nothing else
//! changed.
constexpr int FORMAT_VERSION_MINOR = 6;

}  // namespace mirage
