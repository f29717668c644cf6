// Copyright (c) Mirage developers.
#include "io/shape_check.h"

#include <hdf5.h>
#include <hdf5_hl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

namespace mirage {
namespace {

[[noreturn]] void refuse(const std::string& context, const std::string& what) {
  throw std::invalid_argument(context + ": " + what + "; the file is damaged or was edited");
}

herr_t collect_dataset(hid_t, const char* name, const H5O_info_t* info, void* data) {
  if (info->type == H5O_TYPE_DATASET) {
    static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
  }
  return 0;
}

// The first scale attached to an axis: its path and length (H5DSiterate_scales' visitor).
struct AttachedScale {
  std::string path;
  hsize_t length = 0;
  int rank = -1;
};

herr_t first_scale(hid_t, unsigned, hid_t scale, void* data) {
  auto* out = static_cast<AttachedScale*>(data);
  char name[1024] = {0};
  if (H5Iget_name(scale, name, sizeof name) > 0) out->path = name;
  const hid_t space = H5Dget_space(scale);
  if (space >= 0) {
    out->rank = H5Sget_simple_extent_ndims(space);
    if (out->rank == 1) H5Sget_simple_extent_dims(space, &out->length, nullptr);
    H5Sclose(space);
  }
  return 1;  // the first scale is enough
}

// One copy of a dimension scale: where it is, its length and its numeric values (empty for
// strings, whose copies are compared by length).
struct ScaleCopy {
  std::string path;
  hsize_t length = 0;
  std::vector<double> values;
};

std::string leaf(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

void check_declared_shapes(const h5::File& file, const std::string& context) {
  if (!file.has_attr("/", "format_version")) return;
  const std::vector<int32_t> version = file.attr_int32s("/", "format_version");
  if (version.size() != 2 || version[0] != 1 || version[1] < 2) return;
  std::vector<std::string> datasets;
  if (H5Ovisit(file.id(), H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &datasets) < 0) {
    refuse(context, "its objects cannot be listed");
  }
  // A file without a single scale is unlabelled (the first forecast files, written before
  // forecast files had scales, carry a later version): left to the readers' own checks.
  const bool labelled = std::any_of(datasets.begin(), datasets.end(), [&](const std::string& p) {
    const h5::Handle set(H5Dopen2(file.id(), p.c_str(), H5P_DEFAULT), H5Dclose);
    return set.id() >= 0 && H5DSis_scale(set.id()) > 0;
  });
  if (!labelled) return;
  std::map<std::string, ScaleCopy> first_copy;  // scale name -> its first copy
  for (const std::string& path : datasets) {
    const h5::Handle set(H5Dopen2(file.id(), path.c_str(), H5P_DEFAULT), H5Dclose);
    if (set.id() < 0) refuse(context, "dataset " + path + " cannot be opened");
    const h5::Handle space(H5Dget_space(set.id()), H5Sclose);
    const int rank = space.id() < 0 ? -1 : H5Sget_simple_extent_ndims(space.id());
    if (rank < 0) refuse(context, "dataset " + path + " has no readable shape");
    std::vector<hsize_t> dims(size_t(rank), 0);
    if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    if (H5DSis_scale(set.id()) > 0) {
      if (rank != 1) {
        refuse(context, "dimension scale " + path + " has shape " + shape_text(dims) +
                            "; a scale is 1-D");
      }
      ScaleCopy copy{path, dims[0], {}};
      const h5::Handle type(H5Dget_type(set.id()), H5Tclose);
      const H5T_class_t type_class = H5Tget_class(type.id());
      if (type_class == H5T_INTEGER || type_class == H5T_FLOAT) {
        copy.values.resize(size_t(dims[0]));
        if (dims[0] > 0 && H5Dread(set.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                   copy.values.data()) < 0) {
          refuse(context, "dimension scale " + path + " cannot be read");
        }
      }
      const auto [it, inserted] = first_copy.emplace(leaf(path), copy);
      const ScaleCopy& first = it->second;
      if (!inserted && (first.length != copy.length || first.values.size() != copy.values.size() ||
                        !std::equal(first.values.begin(), first.values.end(),
                                    copy.values.begin(), [](double a, double b) {
                                      return a == b || (std::isnan(a) && std::isnan(b));
                                    }))) {
        refuse(context, "dimension scale " + path + " (" + std::to_string(copy.length) +
                            " values) differs from its copy " + first.path + " (" +
                            std::to_string(first.length) + " values)");
      }
      continue;
    }
    for (int axis = 0; axis < rank; ++axis) {
      const std::string where = "dataset " + path + " of shape " + shape_text(dims);
      if (H5DSget_num_scales(set.id(), unsigned(axis)) <= 0) {
        refuse(context, where + " has no dimension scale on axis " + std::to_string(axis));
      }
      AttachedScale scale;
      int index = 0;
      if (H5DSiterate_scales(set.id(), unsigned(axis), &index, first_scale, &scale) < 0 ||
          scale.rank < 0) {
        refuse(context, where + ": the dimension scale of axis " + std::to_string(axis) +
                            " cannot be read (it was deleted or replaced)");
      }
      if (scale.rank != 1 || scale.length != dims[size_t(axis)]) {
        refuse(context, where + " has " + std::to_string(dims[size_t(axis)]) +
                            " values on axis " + std::to_string(axis) + ", but its dimension scale " +
                            scale.path + " has " + std::to_string(scale.length));
      }
    }
  }
}

void check_run_axes(const h5::File& file, const std::string& context) {
  for (const char* path : {"/model/scale", "/task/length", "/task/test_size"}) {
    if (!file.exists(path)) refuse(context, "it has no " + std::string(path));
    const std::vector<hsize_t> dims = file.dims(path);
    if (dims.size() != 1 || dims[0] == 0) {
      refuse(context, "axis " + std::string(path) + " has shape " + shape_text(dims) +
                          "; an axis is 1-D with at least one value");
    }
  }
  for (double s : file.read_double("/model/scale")) {
    if (!(s > 0.0) || !std::isfinite(s)) {
      refuse(context, "/model/scale holds " + std::to_string(s) + "; scales are finite and > 0");
    }
  }
  auto increasing = [&](const std::string& path, const std::vector<int64_t>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] < 1 || (i > 0 && values[i] <= values[i - 1])) {
        refuse(context, path + " holds " + std::to_string(values[i]) + " at index " +
                            std::to_string(i) + "; its values are integers >= 1, strictly increasing");
      }
    }
  };
  increasing("/task/length", file.read_int64("/task/length"));
  increasing("/task/test_size", file.read_int64("/task/test_size"));
  const int64_t stored = stored_replicates(file, context);
  const std::string stored_name = file.has_attr("/task/test_size", "replicates_stored")
                                      ? "/task/test_size@replicates_stored"
                                      : "/task/test_size@replicates";
  const char* estimate = "/metrics/exact_match/estimate";
  if (file.exists(estimate)) {
    const std::vector<hsize_t> dims = file.dims(estimate);
    if (dims.empty() || dims.back() != hsize_t(stored)) {
      refuse(context, "dataset " + std::string(estimate) + " has shape " + shape_text(dims) +
                          ", but " + stored_name + " = " + std::to_string(stored));
    }
  }
}

int64_t stored_replicates(const h5::File& file, const std::string& context) {
  if (!file.has_attr("/task/test_size", "replicates")) {
    refuse(context, "/task/test_size has no attribute 'replicates'");
  }
  const int64_t replicates = file.attr_int64("/task/test_size", "replicates");
  if (replicates < 1) {
    refuse(context, "/task/test_size@replicates = " + std::to_string(replicates) +
                        "; at least 1 replicate");
  }
  // Format 1.6: the per-replicate arrays of the first replicates_stored replicates (all R
  // in files without the attribute).
  if (!file.has_attr("/task/test_size", "replicates_stored")) return replicates;
  const int64_t stored = file.attr_int64("/task/test_size", "replicates_stored");
  if (stored < 1 || stored > replicates) {
    refuse(context, "/task/test_size@replicates_stored = " + std::to_string(stored) +
                        "; from 1 to /task/test_size@replicates = " + std::to_string(replicates));
  }
  return stored;
}

}  // namespace mirage
