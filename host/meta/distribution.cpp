// Copyright (c) Mirage developers.
#include "meta/distribution.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "mirage/portable_math.h"

namespace mirage {
namespace {

[[noreturn]] void refuse(const std::string& option, const std::string& text,
                         const std::string& why) {
  throw std::invalid_argument(option + ": value '" + text + "' " + why);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

double number(const std::string& option, const std::string& text, const std::string& part,
              bool integer) {
  double value = 0.0;
  const char* end = part.data() + part.size();
  const auto result = std::from_chars(part.data(), end, value);
  if (part.empty() || result.ec != std::errc() || result.ptr != end || !std::isfinite(value)) {
    refuse(option, text, "has '" + part + "', which is not a finite number");
  }
  if (integer && (value != std::floor(value) || std::fabs(value) > 9.0e15)) {
    refuse(option, text, "has '" + part + "', which is not an integer");
  }
  return value;
}

const char* const KINDS =
    "allowed: const:X, uniform:A:B, loguniform:A:B, int:A:B, int-log:A:B, choice:V1,V2,...";

}  // namespace

Distribution parse_distribution(const std::string& option, const std::string& text,
                                bool integer) {
  Distribution d;
  d.text = text;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) refuse(option, text, std::string("has no KIND:; ") + KINDS);
  const std::string kind = text.substr(0, colon);
  const std::string rest = text.substr(colon + 1);
  if (kind == "const") {
    d.kind = Distribution::Kind::CONSTANT;
    d.low = d.high = number(option, text, rest, integer);
    return d;
  }
  if (kind == "choice") {
    d.kind = Distribution::Kind::CHOICE;
    for (const std::string& v : split(rest, ',')) d.values.push_back(number(option, text, v, integer));
    if (d.values.empty()) refuse(option, text, "chooses from no values");
    return d;
  }
  const std::vector<std::string> ab = split(rest, ':');
  if (ab.size() != 2) refuse(option, text, "needs two bounds, " + kind + ":A:B");
  if (kind == "uniform" || kind == "loguniform") {
    if (integer) {
      refuse(option, text,
             "is a real law, but this parameter is an integer; use int:A:B or int-log:A:B");
    }
    d.kind = kind == "uniform" ? Distribution::Kind::UNIFORM : Distribution::Kind::LOG_UNIFORM;
  } else if (kind == "int" || kind == "int-log") {
    d.kind = kind == "int" ? Distribution::Kind::INTEGER : Distribution::Kind::INTEGER_LOG;
    integer = true;
  } else {
    refuse(option, text, "has an unknown kind '" + kind + "'; " + KINDS);
  }
  d.low = number(option, text, ab[0], integer);
  d.high = number(option, text, ab[1], integer);
  if (!(d.high >= d.low)) refuse(option, text, "has an empty range (B < A)");
  if (d.kind == Distribution::Kind::LOG_UNIFORM && !(d.low > 0.0)) {
    refuse(option, text, "needs 0 < A for a log-uniform law");
  }
  if (d.kind == Distribution::Kind::INTEGER_LOG && !(d.low >= 1.0)) {
    refuse(option, text, "needs 1 <= A for a log-uniform integer law");
  }
  return d;
}

Distribution parse_name_distribution(const std::string& option, const std::string& text,
                                     const std::vector<std::string>& allowed) {
  Distribution d;
  d.text = text;
  d.kind = Distribution::Kind::CHOICE;
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  const size_t colon = text.find(':');
  const std::string kind = colon == std::string::npos ? "" : text.substr(0, colon);
  if (kind != "const" && kind != "choice") {
    refuse(option, text, "must be const:NAME or choice:NAME1,NAME2,... with names from " + list);
  }
  for (const std::string& name : split(text.substr(colon + 1), ',')) {
    bool known = false;
    for (const std::string& a : allowed) known = known || a == name;
    if (!known) refuse(option, text, "names '" + name + "'; allowed: " + list);
    d.names.push_back(name);
  }
  if (kind == "const" && d.names.size() != 1) refuse(option, text, "gives const more than one name");
  return d;
}

double Distribution::draw(double u) const {
  switch (kind) {
    case Kind::CONSTANT:
      return low;
    case Kind::UNIFORM:
      return pm::add(low, pm::mul(pm::sub(high, low), u));
    case Kind::LOG_UNIFORM: {
      const double a = pm::log(low), b = pm::log(high);
      const double v = pm::exp(pm::add(a, pm::mul(pm::sub(b, a), u)));
      return v < low ? low : v > high ? high : v;
    }
    case Kind::INTEGER: {
      const double count = high - low + 1.0;  // exact: integers below 2^53
      const double k = std::floor(pm::mul(count, u));
      return low + (k < count ? k : count - 1.0);
    }
    case Kind::INTEGER_LOG: {
      const double a = pm::log(low), b = pm::log(high + 1.0);
      const double v = std::floor(pm::exp(pm::add(a, pm::mul(pm::sub(b, a), u))));
      return v < low ? low : v > high ? high : v;
    }
    case Kind::CHOICE: {
      const double k = std::floor(pm::mul(double(values.size()), u));
      const size_t i = k < double(values.size()) ? size_t(k) : values.size() - 1;
      return values[i];
    }
  }
  return low;
}

const std::string& Distribution::draw_name(double u) const {
  const double k = std::floor(pm::mul(double(names.size()), u));
  return names[k < double(names.size()) ? size_t(k) : names.size() - 1];
}

double Distribution::min() const {
  if (kind != Kind::CHOICE) return low;
  double m = values.front();
  for (double v : values) m = v < m ? v : m;
  return m;
}

double Distribution::max() const {
  if (kind != Kind::CHOICE) return high;
  double m = values.front();
  for (double v : values) m = v > m ? v : m;
  return m;
}

}  // namespace mirage
