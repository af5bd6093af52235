// Small RAII wrappers over the HDF5 C API. HDF5's own error printing is switched off; every failed
// call throws prospect::Error naming the file, the object and HDF5's innermost error message.
// The Debian HDF5 build is not thread-safe: callers that share the library between threads hold
// hdf5_mutex() around their calls (the store does).
#pragma once
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace prospect::h5 {

std::recursive_mutex& hdf5_mutex();

// Silences HDF5's automatic error printing (idempotent; called by every wrapper).
void silence_errors();
// HDF5's innermost error message of the current error stack ("" when the stack is empty).
std::string last_error();
// Throws Error("HDF5: <what>: <hdf5 message>").
[[noreturn]] void throw_error(const std::string& what);

// One owned hid_t, closed by the given function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// Checks an id returned by HDF5: throws naming `what` when negative.
hid_t check(hid_t id, const std::string& what);
void check_status(herr_t status, const std::string& what);

struct File : Handle {
  std::string path;
  File() = default;
  File(hid_t id, std::string p) : Handle(id, H5Fclose), path(std::move(p)) {}
};
struct Dataset : Handle {
  std::string name;
  Dataset() = default;
  Dataset(hid_t id, std::string n) : Handle(id, H5Dclose), name(std::move(n)) {}
};
struct Space : Handle {
  Space() = default;
  explicit Space(hid_t id) : Handle(id, H5Sclose) {}
};
struct Type : Handle {
  Type() = default;
  explicit Type(hid_t id) : Handle(id, H5Tclose) {}
};
struct Plist : Handle {
  Plist() = default;
  explicit Plist(hid_t id) : Handle(id, H5Pclose) {}
};
struct Attribute : Handle {
  Attribute() = default;
  explicit Attribute(hid_t id) : Handle(id, H5Aclose) {}
};

// Files. open_read: read-only; errors say whether the path is missing, not HDF5, or unreadable.
File open_read(const std::string& path, size_t chunk_cache_bytes = 0);
File create(const std::string& path);  // truncates

// Datasets.
bool exists(const File& f, const std::string& name);
Dataset open_dataset(const File& f, const std::string& name, size_t chunk_cache_bytes = 0);
std::vector<hsize_t> shape(const Dataset& d, const File& f);
Type file_type(const Dataset& d);

// The 16-bit IEEE float type (as numpy/h5py write float16), little-endian.
Type float16_type();
Type vlen_utf8_type();

// Whole-dataset helpers for small 1-D datasets.
std::vector<int64_t> read_int64(const File& f, const std::string& name);
std::vector<std::string> read_strings(const File& f, const std::string& name);
void write_int64(const File& f, const std::string& name, const std::vector<int64_t>& v);
void write_strings(const File& f, const std::string& name, const std::vector<std::string>& v);

// Attributes on the root group ("/").
bool has_attr(const File& f, const std::string& name);
void set_attr(const File& f, const std::string& name, const std::string& value);
void set_attr(const File& f, const std::string& name, int64_t value);
void set_attr(const File& f, const std::string& name, double value);
std::string attr_string(const File& f, const std::string& name);
int64_t attr_int(const File& f, const std::string& name);
double attr_double(const File& f, const std::string& name);

}  // namespace prospect::h5
