// Copyright (c) Mirage developers.
//! \file distribution.h
//! The laws from which `mirage meta` draws each synthetic task's parameters, written as
//! "KIND:ARGUMENTS":
//!   const:X              always X
//!   uniform:A:B          uniform on [A, B]
//!   loguniform:A:B       log-uniform on [A, B] (0 < A)
//!   int:A:B              uniform on the integers A..B
//!   int-log:A:B          log-uniform on the integers A..B (1 <= A): floor of a log-uniform
//!                        draw on [A, B + 1)
//!   choice:V1,V2,...     one of the values with equal probability (repeat a value to weight
//!                        it); values are numbers, or names where the parameter is a name
//! A draw turns one 53-bit uniform u (include/mirage/item_model.h's open_uniform) into a
//! value with the portable math of include/mirage/portable_math.h, so that a task population
//! is the same on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mirage {

//! A parsed law of one task parameter.
struct Distribution {
  enum class Kind { CONSTANT, UNIFORM, LOG_UNIFORM, INTEGER, INTEGER_LOG, CHOICE };
  Kind kind = Kind::CONSTANT;
  double low = 0.0, high = 0.0;      //!< A, B (CONSTANT: low = high = X)
  std::vector<double> values;        //!< CHOICE of numbers
  std::vector<std::string> names;    //!< CHOICE of names
  std::string text;                  //!< as given

  //! The value for uniform u in (0, 1) (numeric laws).
  double draw(double u) const;
  //! The name for uniform u (CHOICE of names).
  const std::string& draw_name(double u) const;
  //! Smallest and largest value the law can give (numeric laws).
  double min() const;
  double max() const;
};

//! Parses a numeric law. `integer`: the values must be integers (int, int-log, const and
//! choice of integers only). Throws std::invalid_argument naming `option` and the text, for an
//! unknown kind, a malformed or non-finite number, an empty range (B < A), A <= 0 for
//! loguniform or A < 1 for int-log, or an empty choice.
Distribution parse_distribution(const std::string& option, const std::string& text, bool integer);

//! Parses a law of names: const:NAME or choice:N1,N2,..., each name in `allowed`. Throws
//! std::invalid_argument naming `option`, the text and the allowed names.
Distribution parse_name_distribution(const std::string& option, const std::string& text,
                                     const std::vector<std::string>& allowed);

}  // namespace mirage
