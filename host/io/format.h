// Copyright (c) Mirage developers.
//! \file format.h
//! The identity of Mirage's result files: the one place where the HDF5 format version lives.
//! Readers refuse a file whose filetype differs or whose major version they do not know.
#pragma once

namespace mirage {

constexpr const char* RESULT_FILETYPE = "mirage-results";
constexpr int FORMAT_VERSION_MAJOR = 1;
constexpr int FORMAT_VERSION_MINOR = 0;

}  // namespace mirage
