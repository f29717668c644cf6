// Copyright (c) Mirage developers.
#include "model/loss_table.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "config/config.h"

namespace mirage {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) {
    const size_t a = field.find_first_not_of(" \t\r\"");
    const size_t b = field.find_last_not_of(" \t\r\"");
    fields.push_back(a == std::string::npos ? "" : field.substr(a, b - a + 1));
  }
  if (!line.empty() && line.back() == ',') fields.push_back("");
  return fields;
}

// Log-log interpolation on segment [i, i+1], extended beyond its ends.
double segment_loss(const LossTable& t, size_t i, double scale) {
  const double x0 = std::log(t.scale[i]), x1 = std::log(t.scale[i + 1]);
  const double y0 = std::log(t.loss[i]), y1 = std::log(t.loss[i + 1]);
  const double x = std::log(scale);
  // Exact at the points themselves.
  if (x == x0) return t.loss[i];
  if (x == x1) return t.loss[i + 1];
  return std::exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0));
}

}  // namespace

void validate_loss_table(const LossTable& table, const std::string& source) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("--loss-table: " + source + ": " + why);
  };
  if (table.scale.size() != table.loss.size()) {
    fail("has " + std::to_string(table.scale.size()) + " scales but " +
         std::to_string(table.loss.size()) + " losses");
  }
  if (table.scale.size() < 2) {
    fail("has " + std::to_string(table.scale.size()) +
         " row(s); at least 2 (scale, loss) points are needed to interpolate");
  }
  for (size_t i = 0; i < table.scale.size(); ++i) {
    const double n = table.scale[i], l = table.loss[i];
    std::ostringstream row;
    row << "row " << i + 1 << " (scale " << n << ", loss " << l << ")";
    if (!std::isfinite(n) || !(n > 0)) fail(row.str() + ": scales must be finite and > 0");
    if (!std::isfinite(l) || !(l > 0))
      fail(row.str() + ": losses must be finite and > 0 (nats per token)");
    if (i > 0 && !(n > table.scale[i - 1]))
      fail(row.str() + ": scales must be strictly increasing");
  }
}

LossTable read_loss_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--loss-table: cannot read '" + path + "'");
  std::string line;
  int number = 0;
  int scale_column = -1, loss_column = -1;
  LossTable table;
  while (std::getline(in, line)) {
    ++number;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::vector<std::string> fields = split_csv(line);
    if (scale_column < 0) {
      const std::string header = "--loss-table: '" + path + "' line " + std::to_string(number);
      if (line.rfind("\xEF\xBB\xBF", 0) == 0) {
        throw std::invalid_argument(header + ": the file starts with a UTF-8 byte-order mark; "
                                             "save it as plain UTF-8 without one");
      }
      for (size_t c = 0; c < fields.size(); ++c) {
        int* column = fields[c] == "scale" ? &scale_column
                      : fields[c] == "loss" ? &loss_column
                                            : nullptr;
        if (column == nullptr) continue;
        if (*column >= 0) {
          throw std::invalid_argument(header + ": the header names the column '" + fields[c] +
                                      "' twice; name it once");
        }
        *column = int(c);
      }
      if (scale_column < 0 || loss_column < 0) {
        throw std::invalid_argument(
            "--loss-table: '" + path + "' line " + std::to_string(number) +
            ": the header must name the columns 'scale' and 'loss' (found '" + line + "')");
      }
      continue;
    }
    const std::string where = "'" + path + "' line " + std::to_string(number);
    if (int(fields.size()) <= std::max(scale_column, loss_column)) {
      throw std::invalid_argument("--loss-table: " + where + ": missing a column in '" + line +
                                  "'");
    }
    table.scale.push_back(
        parse_double("--loss-table: " + where + ": scale", fields[size_t(scale_column)]));
    table.loss.push_back(
        parse_double("--loss-table: " + where + ": loss", fields[size_t(loss_column)]));
  }
  if (scale_column < 0)
    throw std::invalid_argument("--loss-table: '" + path + "' is empty (no header)");
  validate_loss_table(table, "'" + path + "'");
  return table;
}

double table_loss(const LossTable& table, double scale) {
  const size_t n = table.scale.size();
  size_t i = 0;
  while (i + 2 < n && scale > table.scale[i + 1]) ++i;
  return segment_loss(table, i, scale);
}

double table_scale_for_loss(const LossTable& table, double loss) {
  if (!(loss > 0) || !std::isfinite(loss)) return std::numeric_limits<double>::quiet_NaN();
  const size_t n = table.scale.size();
  const double target = std::log(loss);
  for (size_t i = 0; i + 1 < n; ++i) {
    const double x0 = std::log(table.scale[i]), x1 = std::log(table.scale[i + 1]);
    const double y0 = std::log(table.loss[i]), y1 = std::log(table.loss[i + 1]);
    if (y1 == y0) {
      if (target == y0) return table.scale[i];
      continue;
    }
    double x = x0 + (target - y0) * (x1 - x0) / (y1 - y0);
    // The first segment extends downwards and the last upwards; interior ones are bounded.
    const bool below_ok = i == 0, above_ok = i + 2 == n;
    if ((x >= x0 || below_ok) && (x <= x1 || above_ok)) {
      if (x == x0) return table.scale[i];
      if (x == x1) return table.scale[i + 1];
      return std::exp(x);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace mirage
