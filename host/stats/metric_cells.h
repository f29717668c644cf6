// Copyright (c) Mirage developers.
//! \file metric_cells.h
//! One metric's per-replicate estimate and interval from the tallies, cell by cell
//! (docs/DESIGN.md §4, §5.2). compute_metrics makes every metric's arrays with it, so that the
//! analyses that need a replicate a run does not keep (--keep-replicates N: a MetricResult holds
//! the first N of each cell's R replicates) compute that replicate's values again with the same
//! arithmetic, hence the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "io/results.h"
#include "stats/statistics.h"

namespace mirage {

//! The estimate and interval of one cell.
struct CellValue {
  double estimate;
  Interval interval;
};

//! The metrics whose cells MetricCells computes.
enum class MetricKind { EXACT_MATCH, EDIT_DISTANCE, ACCURACY, GRADE, BRIER, PASS_AT, UNTIL };

//! The kind of the metric `name`: one of metric_names(), "pass_at_K" (with `pass_k` = K) or
//! "until_success". Throws std::invalid_argument for another name.
MetricKind metric_kind(const std::string& name, int32_t pass_k = 0);

//! A cell of token_accuracy from the same cell of token_edit_distance at target length
//! `length`: per-item accuracy k/L = 1 - errors/L, an affine map of the edit distance and its
//! interval (the one place this arithmetic is written, so that every path gives the same bits).
inline CellValue accuracy_from_edit(const CellValue& edit, double length) {
  return {1.0 - edit.estimate / length,
          Interval{1.0 - edit.interval.high / length, 1.0 - edit.interval.low / length}};
}

//! The cells of one metric of `results` (its tallies, configuration and interval methods).
//! Keeps the intervals it computes (by count for proportions, by (E, E2) for the token metrics)
//! and builds them lazily: cheap to make, meant for one thread.
class MetricCells {
 public:
  //! `name`: one of metric_names(), "pass_at_K" (with `pass_k` = K) or "until_success".
  //! Throws std::invalid_argument for another name.
  MetricCells(const Results& results, const std::string& name, int32_t pass_k = 0);
  ~MetricCells();
  MetricCells(MetricCells&&) noexcept;
  MetricCells& operator=(MetricCells&&) noexcept;

  //! The estimate and interval of the cell with flat index `cell` in [S][K][T][R].
  CellValue at(size_t cell);
  //! The same, for a caller that knows the cell's length index k and test-size index t.
  CellValue at(size_t cell, int32_t k, int32_t t);
  //! at() of the `count` consecutive cells from `first` (replicates of one (s, k, t), whose
  //! indices the caller gives), into estimate[i], low[i], high[i].
  void fill(size_t first, int32_t count, int32_t k, int32_t t, double* estimate, double* low,
            double* high);
  //! The same, into values[i].
  void fill(size_t first, int32_t count, int32_t k, int32_t t, CellValue* values);
  //! The estimates alone of the `count` consecutive cells from `first` (as fill()), into
  //! out[i]: the same bits as at(cell).estimate, without the interval where the estimate does
  //! not need it.
  void fill_estimates(size_t first, int32_t count, int32_t k, int32_t t, double* out);

 private:
  template <class Store>
  void fill_with(size_t first, int32_t count, int32_t k, int32_t t, Store store);
  struct State;
  std::unique_ptr<State> state_;
};

//! Whether `metric`'s per-replicate arrays hold every replicate of `results` (else the first
//! num_stored_replicates() of each cell: compute the others with MetricCells).
inline bool holds_every_replicate(const Results& results, const MetricResult& metric) {
  return metric.estimate.size() == size_t(results.num_scales()) * results.num_lengths() *
                                       results.num_test_sizes() * results.num_replicates();
}

}  // namespace mirage
