// Copyright (c) Mirage developers.
//! \file summarize.h
//! `mirage summarize`: a readable table from an existing result file, without re-running.
#pragma once

#include <cstdint>
#include <string>

namespace mirage {

struct SummarizeOptions {
  std::string path;
  std::string metric = "exact_match";
  int64_t length = 0;     //!< 0: the longest length in the file
  int64_t test_size = 0;  //!< 0: the largest test size in the file
};

//! Prints, for one metric, length and test size: per scale the cross-replicate mean and 95 %
//! band, the analytic value, p_zero, coverage and mean interval width; then the resolution
//! frontier and the emergence scores when the file has them. Throws std::invalid_argument for
//! a foreign file or a metric, length or test size that the file does not have.
std::string summarize(const SummarizeOptions& options);

}  // namespace mirage
