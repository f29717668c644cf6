// Copyright (c) Mirage developers.
//! \file results.h
//! Everything a run produces, in memory, in the shapes of the HDF5 file (DESIGN.md section 6).
//! Arrays are row-major: [S][K][T][R] per replicate, [S][K][T] summaries, [S][K] analytic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "simulation.h"

namespace mirage {

//! Cross-replicate summary arrays of one metric, each [S][K][T].
struct SummaryArrays {
  std::vector<double> mean, sd, q025, q500, q975, p_zero, coverage, mean_ci_width;
};

//! One metric: per-replicate estimates and intervals, analytic values, summaries.
struct MetricResult {
  std::string name;        //!< exact_match, token_edit_distance, token_accuracy
  std::string kind;        //!< "nonlinear" or "linear"
  std::string interval;    //!< interval method name
  double confidence = 0.95;
  std::vector<double> estimate, ci_low, ci_high;  //!< [S][K][T][R]
  std::vector<double> expected;                   //!< [S][K]
  SummaryArrays summary;
};

//! Provenance written as root attributes.
struct RunInfo {
  std::string command_line;
  std::string created_utc;  //!< ISO 8601
  std::string backend;      //!< "cpu" or "cuda"
  std::string devices;      //!< what the backend ran on
  double elapsed_s = 0.0;   //!< sampling + reduction wall time
  int64_t draws = 0;        //!< token draws sampled
};

struct Results {
  Config config;
  RunInfo info;
  ModelTable model;
  Counts counts;
  std::vector<MetricResult> metrics;

  int32_t num_scales() const { return static_cast<int32_t>(config.scales.size()); }
  int32_t num_lengths() const { return static_cast<int32_t>(config.lengths.size()); }
  int32_t num_test_sizes() const { return static_cast<int32_t>(config.test_sizes.size()); }
  int32_t num_replicates() const { return config.replicates; }
  //! The metric called `name`, or nullptr.
  const MetricResult* metric(const std::string& name) const {
    for (const auto& m : metrics) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }
};

}  // namespace mirage
