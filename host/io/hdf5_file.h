// Copyright (c) Mirage developers.
//! \file hdf5_file.h
//! A small RAII wrapper over the HDF5 C API: files, groups, datasets (chunked and compressed
//! when large) and attributes, plus the readers the project's own commands need. Every
//! failing HDF5 call throws std::runtime_error naming the file and object.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
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
  int compression_ = 0;
};

//! Writes a file atomically: `write(file)` fills a temporary file next to `path`, which is
//! renamed onto `path` only when complete; on any exception the temporary file is removed
//! and `path` is untouched. Missing parent directories of `path` are created.
template <class Writer>
void write_atomically(const std::string& path, Writer&& write);

//! The temporary name write_atomically uses for `path` (same directory, hidden, unique).
std::string temporary_path(const std::string& path);
//! Renames `from` onto `to` (same file system), throwing on failure.
void commit_file(const std::string& from, const std::string& to);
//! Removes `path` if it exists, ignoring errors.
void remove_quietly(const std::string& path);
//! Creates the parent directories of `path`.
void create_parent_directories(const std::string& path);

template <class Writer>
void write_atomically(const std::string& path, Writer&& write) {
  create_parent_directories(path);
  const std::string tmp = temporary_path(path);
  try {
    File file = File::create(tmp);
    write(file);
    file.close();
    commit_file(tmp, path);
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
}

}  // namespace mirage::h5
