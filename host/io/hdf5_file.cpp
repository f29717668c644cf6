// Copyright (c) Mirage developers.
#include "io/hdf5_file.h"

#include <fcntl.h>
#include <hdf5_hl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>

namespace mirage::h5 {
namespace {

// HDF5 prints its own error stack by default; Mirage reports errors itself.
void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

// With compression, datasets with more elements than this are chunked and deflate-compressed
// (smaller ones are stored contiguously either way).
constexpr hsize_t CHUNK_THRESHOLD = 4096;
// Target chunk size in elements (~512 KiB of float64).
constexpr hsize_t CHUNK_ELEMENTS = 65536;

std::pair<std::string, std::string> split_path(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Handle string_type() {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return Handle(type, H5Tclose);
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = -1;
}

namespace {

// Collects the system's reason from HDF5's error stack: the file drivers record a failed
// write() or open() as "... errno = 28, error message = 'No space left on device' ...".
herr_t find_system_error(unsigned, const H5E_error2_t* error, void* data) {
  if (error->desc == nullptr) return 0;
  const std::string desc = error->desc;
  const std::string key = "error message = '";
  const size_t at = desc.find(key);
  if (at == std::string::npos) return 0;
  const size_t end = desc.find('\'', at + key.size());
  if (end == std::string::npos) return 0;
  *static_cast<std::string*>(data) = desc.substr(at + key.size(), end - at - key.size());
  return 1;  // the innermost system error is enough
}

// ": reason" from HDF5's error stack, or "" when it holds no system error.
std::string system_cause() {
  std::string cause;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_system_error, &cause);
  return cause.empty() ? "" : ": " + cause;
}

}  // namespace

File File::create(const std::string& path) {
  silence_hdf5();
  // H5F_ACC_EXCL: O_EXCL, so an existing file or a symbolic link at `path` is never written.
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw std::runtime_error("cannot create HDF5 file '" + path + "'" + system_cause());
  return File(Handle(id, H5Fclose), path);
}

File File::create_checksummed(const std::string& path) {
  silence_hdf5();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V110, H5F_LIBVER_V110);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.id());
  if (id < 0) throw std::runtime_error("cannot create HDF5 file '" + path + "'" + system_cause());
  File file(Handle(id, H5Fclose), path);
  file.fixed_strings_ = true;
  return file;
}

File File::open_read(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("cannot open '" + path + "': no such file");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw std::runtime_error("cannot open '" + path +
                             "': not an HDF5 file (truncated or corrupt?)");
  }
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw std::runtime_error("cannot open HDF5 file '" + path + "'");
  return File(Handle(id, H5Fclose), path);
}

void File::close() {
  if (handle_.id() < 0) return;
  if (H5Fflush(handle_.id(), H5F_SCOPE_LOCAL) < 0) fail("cannot flush");
  if (H5Fclose(handle_.release()) < 0) fail("cannot close");
}


void File::fail(const std::string& what) const {
  throw std::runtime_error("HDF5 error in '" + path_ + "': " + what + system_cause());
}

namespace {

// The signal DeferStopSignals held back (0: none).
volatile std::sig_atomic_t g_deferred_signal = 0;

extern "C" void defer_stop_signal(int signal) {
  g_deferred_signal = signal;
}

}  // namespace

DeferStopSignals::DeferStopSignals() {
  g_deferred_signal = 0;
  struct sigaction action {};
  action.sa_handler = defer_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, &previous_term_);
  sigaction(SIGINT, &action, &previous_int_);
}

DeferStopSignals::~DeferStopSignals() {
  sigaction(SIGTERM, &previous_term_, nullptr);
  sigaction(SIGINT, &previous_int_, nullptr);
  const int signal = g_deferred_signal;
  g_deferred_signal = 0;
  if (signal != 0) std::raise(signal);
}

void signal_for_tests(const char* point) {
  // Sampling calls this once per work unit: one pass over the environment for a MIRAGE_FAULT_
  // variable (three getenv calls cost 0.05 s of a 2e9-draw run), read on every call because
  // tests set and unset them within one process.
  bool any = false;
  for (char** entry = environ; *entry != nullptr && !any; ++entry) {
    any = (*entry)[0] == 'M' && std::strncmp(*entry, "MIRAGE_FAULT_", 13) == 0;
  }
  if (!any) return;
  const char* const wanted = std::getenv("MIRAGE_FAULT_SIGNAL");
  const char* const killed = std::getenv("MIRAGE_FAULT_KILL");
  const char* const counts = std::getenv("MIRAGE_FAULT_COUNTS");
  if (wanted == nullptr && killed == nullptr && counts == nullptr) return;
  static std::mutex mutex;
  static std::map<std::string, int64_t> reached;
  const std::lock_guard<std::mutex> lock(mutex);
  const int64_t n = ++reached[point];
  if (counts != nullptr) {
    if (std::FILE* log = std::fopen(counts, "a")) {
      std::fprintf(log, "%s\n", point);
      std::fclose(log);
    }
  }
  auto hits = [&](const char* wanted_point) {
    if (wanted_point == nullptr) return false;
    const std::string spec = wanted_point;
    const size_t colon = spec.find(':');
    const int64_t at = colon == std::string::npos ? 1 : std::atoll(spec.c_str() + colon + 1);
    return spec.substr(0, colon) == point && n == at;
  };
  if (hits(killed)) std::raise(SIGKILL);
  if (hits(wanted)) std::raise(SIGTERM);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const DeferStopSignals defer;
  create_parent_directories(path);
  const std::string tmp = temporary_path(path);
  // O_EXCL | O_NOFOLLOW: never an existing file, never through a symbolic link.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  std::FILE* file = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
  if (file == nullptr && fd >= 0) ::close(fd);
  if (file == nullptr) {
    throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int write_error = errno;
  const bool flushed = std::fflush(file) == 0;
  const int flush_error = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !flushed || !closed) {
    remove_quietly(tmp);
    const int error = !written ? write_error : !flushed ? flush_error : errno;
    throw std::runtime_error("cannot write '" + path + "': " + std::strerror(error));
  }
  try {
    commit_file(tmp, path);
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
}

void File::create_group(const std::string& path) {
  if (exists(path)) return;
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  const hid_t group = H5Gcreate2(id(), path.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) fail("cannot create group " + path);
  H5Gclose(group);
}

void File::write_raw(const std::string& path, hid_t type, const void* data,
                     const std::vector<hsize_t>& dims) {
  signal_for_tests(fixed_strings_ ? "tally-dataset" : "dataset");  // checkpoints, shards: own name
  const auto [parent, name] = split_path(path);
  if (parent != "/") create_group(parent);
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (compression_ > 0 && count > CHUNK_THRESHOLD && !dims.empty()) {
    // Chunks span whole trailing dimensions where possible, so reading one (s, k) slice
    // touches few chunks.
    std::vector<hsize_t> chunk(dims);
    hsize_t elements = count;
    for (size_t axis = 0; axis < chunk.size() && elements > CHUNK_ELEMENTS; ++axis) {
      const hsize_t rest = elements / chunk[axis];
      const hsize_t keep = std::max<hsize_t>(1, CHUNK_ELEMENTS / std::max<hsize_t>(rest, 1));
      chunk[axis] = std::min(chunk[axis], keep);
      elements = rest * chunk[axis];
    }
    H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(dcpl.id());
    H5Pset_deflate(dcpl.id(), static_cast<unsigned>(compression_));
  }
  Handle dataset(
      H5Dcreate2(id(), path.c_str(), type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
      H5Dclose);
  if (dataset.id() < 0) fail("cannot create dataset " + path);
  if (count > 0 && H5Dwrite(dataset.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail("cannot write dataset " + path);
  }
}

void File::write(const std::string& path, const std::vector<double>& data,
                 const std::vector<hsize_t>& dims) {
  write_raw(path, H5T_NATIVE_DOUBLE, data.data(), dims);
}
void File::write(const std::string& path, const std::vector<int64_t>& data,
                 const std::vector<hsize_t>& dims) {
  write_raw(path, H5T_NATIVE_INT64, data.data(), dims);
}
void File::write(const std::string& path, const std::vector<int32_t>& data,
                 const std::vector<hsize_t>& dims) {
  write_raw(path, H5T_NATIVE_INT32, data.data(), dims);
}
void File::write(const std::string& path, const std::vector<uint8_t>& data,
                 const std::vector<hsize_t>& dims) {
  write_raw(path, H5T_NATIVE_UINT8, data.data(), dims);
}
void File::write(const std::string& path, const std::vector<std::string>& data,
                 const std::vector<hsize_t>& dims) {
  std::vector<const char*> text;
  for (const std::string& s : data) text.push_back(s.c_str());
  Handle type = string_type();
  write_raw(path, type.id(), text.data(), dims);
}

void File::make_scale(const std::string& path) {
  Handle dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (dataset.id() < 0) fail("missing dataset " + path);
  if (H5DSset_scale(dataset.id(), split_path(path).second.c_str()) < 0) {
    fail("cannot make " + path + " a dimension scale");
  }
}

void File::attach_scale(const std::string& path, unsigned axis, const std::string& scale) {
  Handle dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (dataset.id() < 0) fail("missing dataset " + path);
  Handle dimension(H5Dopen2(id(), scale.c_str(), H5P_DEFAULT), H5Dclose);
  if (dimension.id() < 0) fail("missing dataset " + scale);
  if (H5DSattach_scale(dataset.id(), dimension.id(), axis) < 0) {
    fail("cannot attach dimension scale " + scale + " to " + path);
  }
}

namespace {

void write_attr(hid_t file, const std::string& file_path, const std::string& object,
                const std::string& name, hid_t type, hid_t space, const void* data) {
  if (H5Aexists_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT) > 0) {
    H5Adelete_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT);
  }
  Handle attr(H5Acreate_by_name(file, object.c_str(), name.c_str(), type, space, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose);
  if (attr.id() < 0 || H5Awrite(attr.id(), type, data) < 0) {
    throw std::runtime_error("HDF5 error in '" + file_path + "': cannot write attribute " + object +
                             "@" + name);
  }
}

}  // namespace

void File::attr(const std::string& object, const std::string& name, const std::string& value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (fixed_strings_) {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.id(), std::max<size_t>(1, value.size()));
    H5Tset_strpad(type.id(), H5T_STR_NULLPAD);
    H5Tset_cset(type.id(), H5T_CSET_UTF8);
    const std::string padded = value.empty() ? std::string(1, '\0') : value;
    write_attr(id(), path_, object, name, type.id(), space.id(), padded.data());
    return;
  }
  Handle type = string_type();
  const char* text = value.c_str();
  write_attr(id(), path_, object, name, type.id(), space.id(), &text);
}

void File::attr(const std::string& object, const std::string& name, double value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(id(), path_, object, name, H5T_NATIVE_DOUBLE, space.id(), &value);
}

void File::attr(const std::string& object, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(id(), path_, object, name, H5T_NATIVE_INT64, space.id(), &value);
}

void File::attr(const std::string& object, const std::string& name, uint64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(id(), path_, object, name, H5T_NATIVE_UINT64, space.id(), &value);
}

void File::attr(const std::string& object, const std::string& name,
                const std::vector<int32_t>& value) {
  const hsize_t n = value.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  write_attr(id(), path_, object, name, H5T_NATIVE_INT32, space.id(), value.data());
}

bool File::exists(const std::string& path) const {
  if (path == "/") return true;
  // Check each prefix: H5Lexists fails on a path whose parent is missing.
  size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos) {
    if (H5Lexists(id(), path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(id(), path.c_str(), H5P_DEFAULT) > 0;
}

std::vector<hsize_t> File::dims(const std::string& path) const {
  Handle dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (dataset.id() < 0) fail("missing dataset " + path);
  Handle space(H5Dget_space(dataset.id()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(rank > 0 ? size_t(rank) : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return dims;
}

size_t File::element_count(const std::string& path) const {
  size_t count = 1;
  for (hsize_t d : dims(path)) count *= d;
  return count;
}

void File::read_raw(const std::string& path, hid_t type, void* data, size_t count) const {
  Handle dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (dataset.id() < 0) fail("missing dataset " + path);
  // HDF5 would convert any number to any other (a float to an integer by truncation): what the
  // reader asks for must be what the file declares, integers or floating point.
  const Handle stored(H5Dget_type(dataset.id()), H5Tclose);
  const H5T_class_t stored_class = H5Tget_class(stored.id());
  const H5T_class_t wanted_class = H5Tget_class(type);
  if (stored_class != wanted_class) {
    auto name = [](H5T_class_t c) {
      return c == H5T_INTEGER ? std::string("integers")
             : c == H5T_FLOAT ? std::string("floating-point numbers")
                              : std::string("neither integers nor floating-point numbers");
    };
    throw std::invalid_argument("'" + path_ + "': dataset " + path + " holds " +
                                name(stored_class) + ", not " + name(wanted_class) +
                                "; the file is damaged or was edited");
  }
  if (count > 0 && H5Dread(dataset.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail("cannot read dataset " + path);
  }
}

std::vector<double> File::read_double(const std::string& path) const {
  std::vector<double> out(element_count(path));
  read_raw(path, H5T_NATIVE_DOUBLE, out.data(), out.size());
  return out;
}
std::vector<int64_t> File::read_int64(const std::string& path) const {
  std::vector<int64_t> out(element_count(path));
  read_raw(path, H5T_NATIVE_INT64, out.data(), out.size());
  return out;
}
std::vector<int32_t> File::read_int32(const std::string& path) const {
  std::vector<int32_t> out(element_count(path));
  read_raw(path, H5T_NATIVE_INT32, out.data(), out.size());
  return out;
}
std::vector<uint8_t> File::read_uint8(const std::string& path) const {
  std::vector<uint8_t> out(element_count(path));
  read_raw(path, H5T_NATIVE_UINT8, out.data(), out.size());
  return out;
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  return exists(object) && H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

namespace {

Handle open_attr(const File& file, const std::string& object, const std::string& name) {
  const hid_t attr =
      H5Aopen_by_name(file.id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0) {
    throw std::runtime_error("HDF5 error in '" + file.path() + "': missing attribute " + object +
                             "@" + name);
  }
  return Handle(attr, H5Aclose);
}

}  // namespace

std::string File::attr_string(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(*this, object, name);
  Handle type(H5Aget_type(attr.id()), H5Tclose);
  if (H5Tget_class(type.id()) != H5T_STRING)
    fail("attribute " + object + "@" + name + " is not a string");
  if (H5Tis_variable_str(type.id()) > 0) {
    Handle mem = string_type();
    char* text = nullptr;
    if (H5Aread(attr.id(), mem.id(), &text) < 0) fail("cannot read attribute " + name);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  const size_t size = H5Tget_size(type.id());
  std::string value(size, '\0');
  // The file's own type (size, padding, character set) as the memory type: no conversion.
  Handle mem(H5Tcopy(type.id()), H5Tclose);
  if (H5Aread(attr.id(), mem.id(), value.data()) < 0) fail("cannot read attribute " + name);
  value.resize(value.find('\0') == std::string::npos ? size : value.find('\0'));
  return value;
}

double File::attr_double(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(*this, object, name);
  double value = 0;
  if (H5Aread(attr.id(), H5T_NATIVE_DOUBLE, &value) < 0) fail("cannot read attribute " + name);
  return value;
}

int64_t File::attr_int64(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(*this, object, name);
  int64_t value = 0;
  if (H5Aread(attr.id(), H5T_NATIVE_INT64, &value) < 0) fail("cannot read attribute " + name);
  return value;
}

uint64_t File::attr_uint64(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(*this, object, name);
  uint64_t value = 0;
  if (H5Aread(attr.id(), H5T_NATIVE_UINT64, &value) < 0) fail("cannot read attribute " + name);
  return value;
}

std::vector<int32_t> File::attr_int32s(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(*this, object, name);
  Handle space(H5Aget_space(attr.id()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.id());
  std::vector<int32_t> value(n > 0 ? size_t(n) : 0);
  if (!value.empty() && H5Aread(attr.id(), H5T_NATIVE_INT32, value.data()) < 0) {
    fail("cannot read attribute " + name);
  }
  return value;
}

const Dimensions::Coordinate& Dimensions::coordinate(const std::string& name) const {
  const auto it = coordinates_.find(name);
  if (it == coordinates_.end()) {
    throw std::logic_error("HDF5 file '" + file_.path() + "': dimension " + name +
                           " is not defined");
  }
  return it->second;
}

std::vector<hsize_t> Dimensions::shape(const std::string& path, size_t count,
                                       const std::vector<std::string>& dims) const {
  std::vector<hsize_t> shape;
  hsize_t product = 1;
  for (const std::string& d : dims) {
    shape.push_back(coordinate(d).size);
    product *= shape.back();
  }
  if (product != count) {
    throw std::logic_error("HDF5 file '" + file_.path() + "': dataset " + path + " has " +
                           std::to_string(count) + " values, not the " + std::to_string(product) +
                           " of its dimensions");
  }
  return shape;
}

void Dimensions::label(const std::string& path, const std::vector<std::string>& dims) {
  const auto [group, name] = split_path(path);
  auto describe = [&](const std::string& coordinate_path, const Coordinate& c) {
    if (!c.units.empty()) file_.attr(coordinate_path, "units", c.units);
    file_.attr(coordinate_path, "long_name", c.long_name);
    file_.attr(coordinate_path, "description", c.description);
    file_.make_scale(coordinate_path);
    written_.insert(coordinate_path);
  };
  if (dims.size() == 1 && dims[0] == name) {  // the dataset is its group's coordinate
    describe(path, coordinate(name));
    return;
  }
  for (unsigned axis = 0; axis < dims.size(); ++axis) {
    const std::string scale = (group == "/" ? "" : group) + "/" + dims[axis];
    if (written_.count(scale) == 0) {
      // A dataset of the group that has a dimension's name but is not its coordinate would
      // make the group unreadable to netCDF-4; the writers never do that.
      if (file_.exists(scale)) {
        throw std::logic_error("HDF5 file '" + file_.path() + "': " + scale +
                               " exists but is not the coordinate of dimension " + dims[axis]);
      }
      const Coordinate& c = coordinate(dims[axis]);
      c.write(file_, scale);
      describe(scale, c);
    }
    file_.attach_scale(path, axis, scale);
  }
}

template <class T>
void Dimensions::write_dims(const std::string& path, const std::vector<T>& data,
                            const std::vector<std::string>& dims) {
  file_.write(path, data, shape(path, data.size(), dims));
  label(path, dims);
}

void Dimensions::write(const std::string& path, const std::vector<double>& data,
                       const std::vector<std::string>& dims) {
  write_dims(path, data, dims);
}
void Dimensions::write(const std::string& path, const std::vector<int64_t>& data,
                       const std::vector<std::string>& dims) {
  write_dims(path, data, dims);
}
void Dimensions::write(const std::string& path, const std::vector<int32_t>& data,
                       const std::vector<std::string>& dims) {
  write_dims(path, data, dims);
}
void Dimensions::write(const std::string& path, const std::vector<uint8_t>& data,
                       const std::vector<std::string>& dims) {
  write_dims(path, data, dims);
}

namespace {

std::string hex8(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

// 8 hex digits naming this machine (FNV-1a of its host name).
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {0};
    if (::gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
    uint32_t hash = 2166136261u;
    for (const char* c = name; *c != '\0'; ++c) hash = (hash ^ uint8_t(*c)) * 16777619u;
    return hex8(hash);
  }();
  return tag;
}

// Removes `.NAME.tmp-PID-HOST-*` files of `path` with this machine's HOST and a dead PID.
void remove_stale_temporaries(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  const std::string prefix = "." + p.filename().string() + ".tmp-";
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // PID-HOST-RANDOM after the prefix.
    const std::string rest = name.substr(prefix.size());
    const size_t first = rest.find('-'), second = rest.find('-', first + 1);
    if (first == std::string::npos || second == std::string::npos ||
        rest.substr(first + 1, second - first - 1) != host_tag()) {
      continue;
    }
    const std::string pid_text = rest.substr(0, first);
    if (pid_text.empty() || pid_text.size() > 9 ||
        pid_text.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const pid_t pid = pid_t(std::stol(pid_text));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    fs::remove(it->path(), ec);  // unlinks a symbolic link itself, never its target
    ec.clear();
  }
}

}  // namespace

std::string temporary_path(const std::string& path) {
  const std::filesystem::path p(path);
  remove_stale_temporaries(p);
  static std::random_device device;
  const std::string name = "." + p.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                           "-" + host_tag() + "-" + hex8(uint32_t(device()));
  return (p.parent_path() / name).string();
}

void commit_file(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw std::runtime_error("cannot rename '" + from + "' to '" + to + "': " +
                             std::strerror(errno));
  }
}

std::string replace_temporary_name(std::string message, const std::string& tmp,
                                   const std::string& path) {
  for (size_t at = message.find(tmp); at != std::string::npos;
       at = message.find(tmp, at + path.size())) {
    message.replace(at, tmp.size(), path);
  }
  return message;
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

void create_parent_directories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec)
    throw std::runtime_error("cannot create directory '" + parent.string() + "': " + ec.message());
}

}  // namespace mirage::h5
