// Copyright (c) Mirage developers.
//! \file hdf5_file.h
//! A small RAII wrapper over the HDF5 C API: files, groups, datasets (chunked and compressed
//! when large), attributes and dimension scales, plus the readers the project's own commands
//! need. Every failing HDF5 call throws std::runtime_error naming the file and object.
#pragma once

#include <hdf5.h>
#include <signal.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mirage::h5 {

//! Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t id() const { return id_; }
  //! Gives up ownership without closing.
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }
  void reset();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

//! An HDF5 file opened for writing (truncating) or reading.
class File {
 public:
  static File create(const std::string& path);
  //! Like create(), for files that Mirage reads back and must refuse rather than crash on
  //! when damaged (checkpoints, shards): the HDF5 1.10 file format, whose metadata (superblock,
  //! object headers, attribute storage) carries checksums that the library verifies, and
  //! string attributes of fixed length, stored in those checksummed headers rather than in
  //! the unchecked global heap of variable-length strings.
  static File create_checksummed(const std::string& path);
  static File open_read(const std::string& path);
  hid_t id() const { return handle_.id(); }
  const std::string& path() const { return path_; }
  //! Flushes and closes; errors surface here rather than in a destructor.
  void close();
  //! Deflate level (1..9) for the datasets written from now on, or 0 for none (the default):
  //! with compression, datasets of more than 4096 elements are chunked (chunks spanning whole
  //! trailing dimensions, ~512 KiB), byte-shuffled and deflated.
  void set_compression(int level) { compression_ = level; }

  // Writing. `path` is an absolute object path such as "/metrics/exact_match/estimate";
  // missing intermediate groups are created.
  void create_group(const std::string& path);
  void write(const std::string& path, const std::vector<double>& data,
             const std::vector<hsize_t>& dims);
  void write(const std::string& path, const std::vector<int64_t>& data,
             const std::vector<hsize_t>& dims);
  void write(const std::string& path, const std::vector<int32_t>& data,
             const std::vector<hsize_t>& dims);
  void write(const std::string& path, const std::vector<uint8_t>& data,
             const std::vector<hsize_t>& dims);
  //! Variable-length UTF-8 strings (h5py reads them as str, netCDF-4 as `string`).
  void write(const std::string& path, const std::vector<std::string>& data,
             const std::vector<hsize_t>& dims);
  //! Makes the 1-D dataset `path` a dimension scale named after itself (H5DSset_scale): a
  //! netCDF-4 coordinate variable, whose dimension has the dataset's name.
  void make_scale(const std::string& path);
  //! Attaches the dimension scale `scale` to dimension `axis` of the dataset `path`
  //! (H5DSattach_scale). The dimension is not also labelled (H5DSset_label): the scale already
  //! names it, and netCDF-4 readers show a label as a stray DIMENSION_LABELS attribute.
  void attach_scale(const std::string& path, unsigned axis, const std::string& scale);
  void attr(const std::string& object, const std::string& name, const std::string& value);
  void attr(const std::string& object, const std::string& name, double value);
  void attr(const std::string& object, const std::string& name, int64_t value);
  void attr(const std::string& object, const std::string& name, uint64_t value);
  void attr(const std::string& object, const std::string& name, const std::vector<int32_t>& value);

  // Reading.
  bool exists(const std::string& path) const;
  std::vector<hsize_t> dims(const std::string& path) const;
  std::vector<double> read_double(const std::string& path) const;
  std::vector<int64_t> read_int64(const std::string& path) const;
  std::vector<int32_t> read_int32(const std::string& path) const;
  std::vector<uint8_t> read_uint8(const std::string& path) const;
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  int64_t attr_int64(const std::string& object, const std::string& name) const;
  uint64_t attr_uint64(const std::string& object, const std::string& name) const;
  std::vector<int32_t> attr_int32s(const std::string& object, const std::string& name) const;

 private:
  File(Handle handle, std::string path) : handle_(std::move(handle)), path_(std::move(path)) {}
  void write_raw(const std::string& path, hid_t type, const void* data,
                 const std::vector<hsize_t>& dims);
  void read_raw(const std::string& path, hid_t type, void* data, size_t count) const;
  size_t element_count(const std::string& path) const;
  [[noreturn]] void fail(const std::string& what) const;

  Handle handle_;
  std::string path_;
  bool fixed_strings_ = false;
  int compression_ = 0;
};

//! The named dimensions of a file being written, in the netCDF-4 form that xarray, h5netcdf,
//! netCDF4 and ncdump read (docs/FORMAT.md §1): each axis of a dataset is a dimension scale, a
//! 1-D coordinate dataset named after the dimension, holding its values and the attributes
//! `units`, `long_name` and `description`. netCDF-4 lets a dataset use the dimensions of its
//! own group and its ancestors only, and xarray shows coordinate values only for the
//! coordinates of the group it opens, so every group holds its own (tiny) copy of the
//! coordinates its datasets use, written when the group's first dataset needs it.
class Dimensions {
 public:
  explicit Dimensions(File& file) : file_(file) {}

  //! Defines dimension `name` with its coordinate values and their attributes. `units` may be
  //! empty (a string coordinate has none).
  template <class T>
  void define(const std::string& name, std::vector<T> values, std::string units,
              std::string long_name, std::string description);

  //! Writes `data` to `path` with the shape of the named dimensions and attaches their
  //! coordinates in its group. A 1-D dataset named after its dimension (/model/scale) is
  //! itself that coordinate: it gets the attributes and becomes the scale.
  void write(const std::string& path, const std::vector<double>& data,
             const std::vector<std::string>& dims);
  void write(const std::string& path, const std::vector<int64_t>& data,
             const std::vector<std::string>& dims);
  void write(const std::string& path, const std::vector<int32_t>& data,
             const std::vector<std::string>& dims);
  void write(const std::string& path, const std::vector<uint8_t>& data,
             const std::vector<std::string>& dims);

 private:
  struct Coordinate {
    hsize_t size = 0;
    std::function<void(File&, const std::string&)> write;  // writes the values at a path
    std::string units, long_name, description;
  };
  template <class T>
  void write_dims(const std::string& path, const std::vector<T>& data,
                  const std::vector<std::string>& dims);
  std::vector<hsize_t> shape(const std::string& path, size_t count,
                             const std::vector<std::string>& dims) const;
  void label(const std::string& path, const std::vector<std::string>& dims);
  const Coordinate& coordinate(const std::string& name) const;

  File& file_;
  std::map<std::string, Coordinate> coordinates_;
  std::set<std::string> written_;  // coordinate datasets written so far (paths)
};

template <class T>
void Dimensions::define(const std::string& name, std::vector<T> values, std::string units,
                        std::string long_name, std::string description) {
  Coordinate c;
  c.size = values.size();
  c.write = [values = std::move(values)](File& f, const std::string& path) {
    f.write(path, values, {hsize_t(values.size())});
  };
  c.units = std::move(units);
  c.long_name = std::move(long_name);
  c.description = std::move(description);
  coordinates_[name] = std::move(c);
}

//! Holds SIGTERM and SIGINT back while a file is written, so that a signal never leaves a
//! temporary file behind: a signal that arrives is recorded, and raised again once the object
//! is destroyed (after the previous handlers are restored). Writes happen on one thread.
class DeferStopSignals {
 public:
  DeferStopSignals();
  ~DeferStopSignals();
  DeferStopSignals(const DeferStopSignals&) = delete;
  DeferStopSignals& operator=(const DeferStopSignals&) = delete;

 private:
  struct sigaction previous_term_ {};
  struct sigaction previous_int_ {};
};

//! Fault injection for the tests, at named points of every phase: "unit" (each progress report
//! of sampling, on the calling thread), "after-sampling", "reduction" (after each of its
//! steps), "writing" (a file created), "dataset" (each dataset written to a result file) and
//! "tally-dataset" (the same for checkpoints and shards). Raises SIGTERM when
//! the environment variable MIRAGE_FAULT_SIGNAL is `point` or `point:N` and this is the N-th
//! time (from 1) the process reaches `point`; SIGKILL likewise for MIRAGE_FAULT_KILL (a crash:
//! nothing runs after it). With MIRAGE_FAULT_COUNTS=FILE each point reached
//! is appended to FILE, one name per line (how a test learns the range of N). Does nothing
//! when neither is set.
void signal_for_tests(const char* point);

//! Writes `text` to `path` atomically (a temporary file renamed when complete; signals
//! deferred), with the system's reason on failure (e.g. "No space left on device").
void write_text_atomically(const std::string& path, const std::string& text);

//! Writes a file atomically: `write(file)` fills a temporary file next to `path`, which is
//! renamed onto `path` only when complete; on any exception the temporary file is removed
//! and `path` is untouched. Missing parent directories of `path` are created.
template <class Writer>
void write_atomically(const std::string& path, Writer&& write, bool checksummed = false);

//! The temporary name write_atomically uses for `path`: in the same directory, hidden,
//! `.NAME.tmp-PID-HOST-RANDOM` (HOST: 8 hex digits of a hash of this machine's name, RANDOM: 8
//! hex digits from std::random_device), so nobody can guess it ahead. Before returning it,
//! removes the temporary files of `path` that a process of this machine left when it was killed
//! (same HOST, a PID no longer alive); those of other machines sharing the directory are left
//! alone. The file is then created with O_EXCL, which never follows a symbolic link.
std::string temporary_path(const std::string& path);
//! Renames `from` onto `to` (same file system), throwing on failure.
void commit_file(const std::string& from, const std::string& to);
//! `message` with every occurrence of `tmp` replaced by `path`.
std::string replace_temporary_name(std::string message, const std::string& tmp,
                                   const std::string& path);
//! Removes `path` if it exists, ignoring errors.
void remove_quietly(const std::string& path);
//! Creates the parent directories of `path`.
void create_parent_directories(const std::string& path);

template <class Writer>
void write_atomically(const std::string& path, Writer&& write, bool checksummed) {
  // First in, last out: a signal is delivered only once the temporary file is renamed or gone.
  const DeferStopSignals defer;
  create_parent_directories(path);
  const std::string tmp = temporary_path(path);
  try {
    File file = checksummed ? File::create_checksummed(tmp) : File::create(tmp);
    signal_for_tests("writing");
    write(file);
    file.close();
    commit_file(tmp, path);
  } catch (const std::runtime_error& e) {
    remove_quietly(tmp);
    // Name the file the user asked for, not its temporary twin.
    throw std::runtime_error(replace_temporary_name(e.what(), tmp, path));
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
}

}  // namespace mirage::h5
