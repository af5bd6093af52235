#include "prospect/core/hdf5.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "prospect/core/error.h"

namespace prospect::h5 {

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex m;
  return m;
}

void silence_errors() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

namespace {
herr_t collect(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (e->desc && *e->desc) out->push_back(e->desc);
  return 0;
}
}  // namespace

std::string last_error() {
  std::vector<std::string> descs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "";
  // The outermost says what failed, the innermost why.
  if (descs.size() == 1 || descs.front() == descs.back()) return descs.front();
  return descs.front() + ": " + descs.back();
}

void throw_error(const std::string& what) {
  std::string why = last_error();
  throw Error("HDF5: " + what + (why.empty() ? "" : ": " + why));
}

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw_error(what);
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) throw_error(what);
}

File open_read(const std::string& path) {
  silence_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, expected an HDF5 file");
  uint64_t bytes = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read the file: " + ec.message());
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is == 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(path + ": not an HDF5 file (no HDF5 signature)");
  }
  if (is < 0) throw_error(path + ": cannot read the file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw_error(path + ": not a readable HDF5 file (truncated or corrupt?)");
  return File(id, path, bytes);
}

File create(const std::string& path) {
  silence_errors();
  Plist fapl(check(H5Pcreate(H5P_FILE_ACCESS), path + ": file access list"));
  check_status(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), path + ": file format");
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  if (id < 0) throw_error(path + ": cannot create the file");
  return File(id, path);
}

bool exists(const File& f, const std::string& name) {
  silence_errors();
  std::string rel = name[0] == '/' ? name.substr(1) : name;
  htri_t r = H5Lexists(f.id(), rel.c_str(), H5P_DEFAULT);
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Dataset open_dataset(const File& f, const std::string& name, size_t chunk_cache_bytes) {
  silence_errors();
  if (!exists(f, name)) throw Error(f.path + ": dataset " + name + " is missing");
  Plist dapl(check(H5Pcreate(H5P_DATASET_ACCESS), f.path + ": " + name + ": access list"));
  if (chunk_cache_bytes > 0) {
    // A prime number of slots well above the chunks that fit; w0 = 1: evict fully read chunks first.
    check_status(H5Pset_chunk_cache(dapl.id(), 12421, chunk_cache_bytes, 1.0), f.path + ": " + name + ": chunk cache");
  }
  hid_t id = H5Dopen2(f.id(), name.c_str(), dapl.id());
  if (id < 0) throw_error(f.path + ": cannot open dataset " + name);
  return Dataset(id, name);
}

std::vector<hsize_t> shape(const Dataset& d, const File& f) {
  Space s(check(H5Dget_space(d.id()), f.path + ": " + d.name + ": dataspace"));
  int rank = H5Sget_simple_extent_ndims(s.id());
  if (rank < 0) throw_error(f.path + ": " + d.name + ": rank");
  std::vector<hsize_t> dims(rank);
  if (rank > 0) H5Sget_simple_extent_dims(s.id(), dims.data(), nullptr);
  return dims;
}

Type file_type(const Dataset& d) { return Type(check(H5Dget_type(d.id()), d.name + ": type")); }

uint64_t max_data_bytes(const File& f, const Dataset& d) {
  if (f.bytes == 0) throw Error(f.path + ": " + d.name + ": the file's size is unknown (not opened with open_read)");
  Plist dcpl(check(H5Dget_create_plist(d.id()), f.path + ": " + d.name + ": creation list"));
  int n = H5Pget_nfilters(dcpl.id());
  if (n < 0) throw_error(f.path + ": " + d.name + ": filters");
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nvalues = 0;
    H5Z_filter_t id = H5Pget_filter2(dcpl.id(), static_cast<unsigned>(i), &flags, &nvalues, nullptr, 0, nullptr, nullptr);
    if (id < 0) throw_error(f.path + ": " + d.name + ": filter " + std::to_string(i));
    if (id != H5Z_FILTER_FLETCHER32 && id != H5Z_FILTER_SHUFFLE) return f.bytes * 1032;  // may compress
  }
  return f.bytes;
}

namespace {

// Opens a 1-D dataset of the given type class, checks that its n elements fit the file, returns n.
hsize_t open_1d(const File& f, const std::string& name, H5T_class_t cls, const char* cls_name, Dataset* d) {
  *d = open_dataset(f, name);
  auto dims = shape(*d, f);
  if (dims.size() != 1) throw Error(f.path + ": dataset " + name + ": expected 1-D, found rank " + std::to_string(dims.size()));
  Type t = file_type(*d);
  if (H5Tget_class(t.id()) != cls) throw Error(f.path + ": dataset " + name + ": expected " + cls_name);
  // A variable-length element takes 16 bytes in the file (length, heap address, index).
  size_t elem = H5Tis_variable_str(t.id()) > 0 ? 16 : H5Tget_size(t.id());
  uint64_t bound = max_data_bytes(f, *d);
  if (elem == 0 || dims[0] > bound / elem)
    throw Error(f.path + ": dataset " + name + ": " + std::to_string(dims[0]) + " elements of " + std::to_string(elem) +
                " bytes do not fit a file of " + std::to_string(f.bytes) + " bytes (damaged?)");
  return dims[0];
}

// A 1-D chunked dataset with a Fletcher32 checksum per chunk.
void write_1d(const File& f, const std::string& name, hid_t file_type, hid_t mem_type, hsize_t n, const void* data,
              hsize_t chunk_elems) {
  hsize_t maxdims = n > 0 ? n : H5S_UNLIMITED;
  Space s(check(H5Screate_simple(1, &n, &maxdims), name + ": dataspace"));
  Plist dcpl(check(H5Pcreate(H5P_DATASET_CREATE), name + ": creation list"));
  hsize_t chunk = std::max<hsize_t>(1, std::min(n, chunk_elems));
  check_status(H5Pset_chunk(dcpl.id(), 1, &chunk), f.path + ": " + name + ": chunking");
  check_status(H5Pset_fletcher32(dcpl.id()), f.path + ": " + name + ": checksum");
  Dataset d(H5Dcreate2(f.id(), name.c_str(), file_type, s.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), name);
  if (d.id() < 0) throw_error(f.path + ": cannot create " + name);
  if (n) check_status(H5Dwrite(d.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), f.path + ": writing " + name);
}

constexpr hsize_t kChunkBytes = 64 * 1024;

// The memory type for reading fixed-length strings of file type ft: the same character set (HDF5
// converts neither way between ASCII and UTF-8), n bytes, null-padded (a null-terminated type of n
// bytes would drop the last character of an n-byte string).
Type fixed_string_type(const Type& ft, size_t n) {
  Type mt(check(H5Tcopy(H5T_C_S1), "string type"));
  check_status(H5Tset_size(mt.id(), n), "string type size");
  check_status(H5Tset_strpad(mt.id(), H5T_STR_NULLPAD), "string type padding");
  H5T_cset_t cset = H5Tget_cset(ft.id());
  if (cset == H5T_CSET_ASCII || cset == H5T_CSET_UTF8) check_status(H5Tset_cset(mt.id(), cset), "string type cset");
  return mt;
}

}  // namespace

Type float16_type() {
  silence_errors();
  Type t(check(H5Tcopy(H5T_IEEE_F32LE), "float16 type"));
  // Field positions of IEEE binary16, as numpy/h5py define float16.
  check_status(H5Tset_fields(t.id(), 15, 10, 5, 0, 10), "float16 fields");
  check_status(H5Tset_size(t.id(), 2), "float16 size");
  check_status(H5Tset_ebias(t.id(), 15), "float16 bias");
  return t;
}

Type vlen_utf8_type() {
  silence_errors();
  Type t(check(H5Tcopy(H5T_C_S1), "string type"));
  check_status(H5Tset_size(t.id(), H5T_VARIABLE), "string type size");
  check_status(H5Tset_cset(t.id(), H5T_CSET_UTF8), "string type cset");
  return t;
}

std::vector<int64_t> read_int64(const File& f, const std::string& name) {
  Dataset d;
  std::vector<int64_t> v(open_1d(f, name, H5T_INTEGER, "integers", &d));
  if (!v.empty()) check_status(H5Dread(d.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), f.path + ": reading " + name);
  return v;
}

std::string read_bytes(const File& f, const std::string& name) {
  Dataset d;
  std::string v(open_1d(f, name, H5T_INTEGER, "bytes", &d), '\0');
  {
    Type t = file_type(d);
    if (H5Tget_size(t.id()) != 1) throw Error(f.path + ": dataset " + name + ": expected 1-byte integers");
  }
  if (!v.empty()) check_status(H5Dread(d.id(), H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), f.path + ": reading " + name);
  return v;
}

std::vector<std::string> read_strings(const File& f, const std::string& name) {
  Dataset d;
  hsize_t n = open_1d(f, name, H5T_STRING, "strings", &d);
  Type ft = file_type(d);
  std::vector<std::string> out(n);
  if (out.empty()) return out;
  if (H5Tis_variable_str(ft.id()) > 0) {
    Type mt = vlen_utf8_type();
    std::vector<char*> ptrs(n, nullptr);
    check_status(H5Dread(d.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), f.path + ": reading " + name);
    for (size_t i = 0; i < ptrs.size(); ++i) out[i] = ptrs[i] ? ptrs[i] : "";
    Space s(H5Dget_space(d.id()));
    H5Dvlen_reclaim(mt.id(), s.id(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(ft.id());
    std::vector<char> buf(len * n);
    Type mt = fixed_string_type(ft, len);
    check_status(H5Dread(d.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), f.path + ": reading " + name);
    for (size_t i = 0; i < out.size(); ++i) {
      const char* p = buf.data() + i * len;
      out[i].assign(p, strnlen(p, len));
    }
  }
  return out;
}

void write_int64(const File& f, const std::string& name, const std::vector<int64_t>& v) {
  write_1d(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v.size(), v.data(), kChunkBytes / 8);
}

void write_bytes(const File& f, const std::string& name, const std::string& bytes) {
  write_1d(f, name, H5T_STD_U8LE, H5T_NATIVE_UCHAR, bytes.size(), bytes.data(), kChunkBytes);
}

void write_strings(const File& f, const std::string& name, const std::vector<std::string>& v) {
  hsize_t n = v.size();
  Space s(check(H5Screate_simple(1, &n, nullptr), name + ": dataspace"));
  Type t = vlen_utf8_type();
  Dataset d(H5Dcreate2(f.id(), name.c_str(), t.id(), s.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  if (d.id() < 0) throw_error(f.path + ": cannot create " + name);
  std::vector<const char*> ptrs;
  for (auto& x : v) ptrs.push_back(x.c_str());
  if (n) check_status(H5Dwrite(d.id(), t.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), f.path + ": writing " + name);
}

bool has_attr(const File& f, const std::string& name) {
  silence_errors();
  htri_t r = H5Aexists(f.id(), name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

namespace {
// Opens an attribute that must hold one value of the given class (HDF5 would write every element of a
// damaged, non-scalar attribute into our one-value buffer).
Attribute open_attr(const File& f, const std::string& name, H5T_class_t cls, const char* cls_name, Type* type) {
  if (!has_attr(f, name)) throw Error(f.path + ": attribute " + name + " is missing on /");
  Attribute a(check(H5Aopen(f.id(), name.c_str(), H5P_DEFAULT), f.path + ": attribute " + name));
  Space sp(check(H5Aget_space(a.id()), f.path + ": attribute " + name + ": dataspace"));
  hssize_t points = H5Sget_simple_extent_npoints(sp.id());
  if (points != 1)
    throw Error(f.path + ": attribute " + name + ": expected one value, found " + std::to_string(points));
  *type = Type(check(H5Aget_type(a.id()), f.path + ": attribute " + name + ": type"));
  auto c = H5Tget_class(type->id());
  if (c != cls && !(cls == H5T_FLOAT && c == H5T_INTEGER))
    throw Error(f.path + ": attribute " + name + ": expected " + cls_name);
  return a;
}
void write_attr(const File& f, const std::string& name, hid_t file_type, hid_t mem_type, const void* data) {
  if (has_attr(f, name)) check_status(H5Adelete(f.id(), name.c_str()), f.path + ": replacing attribute " + name);
  Space s(check(H5Screate(H5S_SCALAR), "scalar space"));
  Attribute a(check(H5Acreate2(f.id(), name.c_str(), file_type, s.id(), H5P_DEFAULT, H5P_DEFAULT), f.path + ": attribute " + name));
  check_status(H5Awrite(a.id(), mem_type, data), f.path + ": writing attribute " + name);
}
constexpr size_t kMaxAttrString = 1 << 20;
}  // namespace

void set_attr(const File& f, const std::string& name, const std::string& value) {
  std::string buf = value.empty() ? std::string(1, '\0') : value;  // HDF5 strings have at least one byte
  Type t(check(H5Tcopy(H5T_C_S1), "string type"));
  check_status(H5Tset_size(t.id(), buf.size()), "string type size");
  check_status(H5Tset_strpad(t.id(), H5T_STR_NULLPAD), "string type padding");
  check_status(H5Tset_cset(t.id(), H5T_CSET_UTF8), "string type cset");
  write_attr(f, name, t.id(), t.id(), buf.data());
}
void set_attr(const File& f, const std::string& name, int64_t value) {
  write_attr(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
void set_attr(const File& f, const std::string& name, double value) {
  write_attr(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

std::string attr_string(const File& f, const std::string& name) {
  Type ft;
  Attribute a = open_attr(f, name, H5T_STRING, "a string", &ft);
  if (H5Tis_variable_str(ft.id()) > 0) {
    Type mt = vlen_utf8_type();
    char* p = nullptr;
    check_status(H5Aread(a.id(), mt.id(), &p), f.path + ": reading attribute " + name);
    std::string s = p ? p : "";
    Space sp(H5Aget_space(a.id()));
    H5Dvlen_reclaim(mt.id(), sp.id(), H5P_DEFAULT, &p);
    return s;
  }
  size_t n = H5Tget_size(ft.id());
  if (n == 0 || n > kMaxAttrString)
    throw Error(f.path + ": attribute " + name + ": a string of " + std::to_string(n) + " bytes (damaged?)");
  std::vector<char> buf(n + 1, 0);
  Type mt = fixed_string_type(ft, n);
  check_status(H5Aread(a.id(), mt.id(), buf.data()), f.path + ": reading attribute " + name);
  return std::string(buf.data(), strnlen(buf.data(), n));
}

int64_t attr_int(const File& f, const std::string& name) {
  Type ft;
  Attribute a = open_attr(f, name, H5T_INTEGER, "an integer", &ft);
  int64_t v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_INT64, &v), f.path + ": reading attribute " + name);
  return v;
}

double attr_double(const File& f, const std::string& name) {
  Type ft;
  Attribute a = open_attr(f, name, H5T_FLOAT, "a number", &ft);
  double v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v), f.path + ": reading attribute " + name);
  return v;
}

}  // namespace prospect::h5
