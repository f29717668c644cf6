// Copyright (c) Mirage developers.
//! \file loss_table.h
//! Measured loss curves: per-token loss of a real model family at a few sizes, interpolated
//! linearly in (log N, log loss) between the points, and, only when asked, extended beyond
//! them along the end segments' power laws.
#pragma once

#include <string>
#include <vector>

namespace mirage {

struct LossTable {
  std::vector<double> scale;  //!< parameters, strictly increasing, > 0
  std::vector<double> loss;   //!< nats per token, > 0
};

//! Reads a CSV with a header naming the columns `scale` and `loss` (any order, other columns
//! ignored; `#` comments and blank lines skipped). Throws std::invalid_argument naming
//! --loss-table, the file and line for a missing column, a bad number, fewer than 2 rows,
//! non-positive or non-increasing scales, non-positive loss or NaN.
LossTable read_loss_table(const std::string& path);

//! Checks a table given inline (the config keys loss-table-scales / loss-table-losses).
void validate_loss_table(const LossTable& table, const std::string& source);

//! Loss at `scale`: exact at the table's points, linear in log-log between them. Outside
//! [first, last] the end segment's power law is extended; callers refuse that unless the user
//! gave --extrapolate.
double table_loss(const LossTable& table, double scale);

//! The smallest scale at which table_loss(scale) equals `loss` (extending the end segments),
//! or NaN if the curve never reaches it.
double table_scale_for_loss(const LossTable& table, double loss);

}  // namespace mirage
