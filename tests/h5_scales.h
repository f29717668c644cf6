// Copyright (c) Mirage developers.
//! \file h5_scales.h
//! Reads, with the HDF5 API itself (not the project's wrapper), which dimension scales a
//! dataset's axes are attached to: for the tests of the files' netCDF-4 dimensions.
#pragma once

#include <hdf5.h>
#include <hdf5_hl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace mirage::testing_h5 {

// The dimension scales attached to each axis of a dataset: (path, NAME) of the first scale of
// each axis, read with the HDF5 API itself; ("", "") for an axis without one.
inline std::vector<std::pair<std::string, std::string>> attached_scales(
    hid_t file, const std::string& path) {
  const hid_t dataset = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(dataset, 0) << path;
  const hid_t space = H5Dget_space(dataset);
  const int rank = H5Sget_simple_extent_ndims(space);
  H5Sclose(space);
  std::vector<std::pair<std::string, std::string>> out(size_t(std::max(rank, 0)));
  for (int axis = 0; axis < rank; ++axis) {
    if (H5DSget_num_scales(dataset, unsigned(axis)) < 1) continue;
    H5DSiterate_scales(
        dataset, unsigned(axis), nullptr,
        [](hid_t, unsigned, hid_t scale, void* data) -> herr_t {
          auto* entry = static_cast<std::pair<std::string, std::string>*>(data);
          char buffer[256] = {0};
          H5Iget_name(scale, buffer, sizeof(buffer));
          entry->first = buffer;
          std::memset(buffer, 0, sizeof(buffer));
          H5DSget_scale_name(scale, buffer, sizeof(buffer));
          entry->second = buffer;
          return 1;
        },
        &out[size_t(axis)]);
  }
  H5Dclose(dataset);
  return out;
}

}  // namespace mirage::testing_h5
