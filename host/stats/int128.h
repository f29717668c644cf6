// Copyright (c) Mirage developers.
//! \file int128.h
//! The 128-bit integers of the interval arithmetic (exact sums of squares of tallies) and their
//! conversion to long double.
#pragma once

#include <cstdint>
#include <limits>

namespace mirage {
namespace detail {

// GCC and Clang provide __int128 on every 64-bit target we build for; __extension__ keeps
// -Wpedantic quiet under -std=c++17.
__extension__ typedef __int128 Int128;

//! static_cast<long double>(v), the same value: through int64_t where v fits (one x87 load
//! instead of a call to libgcc's 128-bit conversion; both exact, as long double holds 64-bit
//! integers exactly), which the token intervals do once per distinct tally.
inline long double to_long_double(Int128 v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max()) {
    return static_cast<long double>(static_cast<int64_t>(v));
  }
  return static_cast<long double>(v);
}

}  // namespace detail
}  // namespace mirage
