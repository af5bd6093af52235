// Small RAII wrappers over the HDF5 C API. HDF5's own error printing is switched off; every failed
// call throws prospect::Error naming the file, the object and HDF5's innermost error message.
// The Debian HDF5 build is not thread-safe: callers that share the library between threads hold
// hdf5_mutex() around their calls (the store does).
//
// Files come from users and may be damaged. What the helpers promise for a file opened with
// open_read: no read allocates more than the file could hold (a damaged dataspace is an error, not a
// terabyte allocation), and HDF5 never writes more into our buffers than we sized them for (scalar
// attributes are checked to be scalar). Files written by create() use HDF5's newest format, whose
// metadata blocks all carry checksums, and the helpers write datasets with Fletcher32 checksums, so
// damage there is a read error rather than garbage. What stays out of reach is HDF5's parsing of an
// older file's unchecked metadata and of variable-length data (the global heap): a crafted or
// damaged file can still crash the library there (see validate.h for how `validate` copes).
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
  uint64_t bytes = 0;  // the file's size at open_read (0 for files being written): bounds every read
  File() = default;
  File(hid_t id, std::string p, uint64_t size = 0) : Handle(id, H5Fclose), path(std::move(p)), bytes(size) {}
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
File open_read(const std::string& path);
// Truncates. The HDF5 1.10 file format: checksummed superblock, object headers and chunk indexes.
File create(const std::string& path);

// Datasets.
bool exists(const File& f, const std::string& name);
Dataset open_dataset(const File& f, const std::string& name, size_t chunk_cache_bytes = 0);
std::vector<hsize_t> shape(const Dataset& d, const File& f);
Type file_type(const Dataset& d);
// The most bytes of data dataset d of file f can hold: the file's size, or 1032 times that when one
// of its filters may compress (deflate's highest ratio). Throws when f.bytes is unknown (0).
uint64_t max_data_bytes(const File& f, const Dataset& d);

// The 16-bit IEEE float type (as numpy/h5py write float16), little-endian.
Type float16_type();
Type vlen_utf8_type();

// Whole-dataset helpers for small 1-D datasets. The readers check rank, type class and size (against
// max_data_bytes) before they allocate.
std::vector<int64_t> read_int64(const File& f, const std::string& name);
std::string read_bytes(const File& f, const std::string& name);  // 1-byte integers
// Variable-length or fixed-length strings. Variable-length strings live in HDF5's global heap, which
// the library reads without bounds checks: only for files already trusted (store version 1).
std::vector<std::string> read_strings(const File& f, const std::string& name);
// Written chunked, with Fletcher32 checksums.
void write_int64(const File& f, const std::string& name, const std::vector<int64_t>& v);
void write_bytes(const File& f, const std::string& name, const std::string& bytes);
// Variable-length UTF-8 strings, as store version 1 kept its texts (tests make old stores with it).
void write_strings(const File& f, const std::string& name, const std::vector<std::string>& v);

// Attributes on the root group ("/"). Readers check the attribute holds one value.
bool has_attr(const File& f, const std::string& name);
// Strings are written fixed-length (null-padded UTF-8, kept in the object header: no global heap);
// attr_string reads fixed- and variable-length strings.
void set_attr(const File& f, const std::string& name, const std::string& value);
void set_attr(const File& f, const std::string& name, int64_t value);
void set_attr(const File& f, const std::string& name, double value);
std::string attr_string(const File& f, const std::string& name);
int64_t attr_int(const File& f, const std::string& name);
double attr_double(const File& f, const std::string& name);

}  // namespace prospect::h5
