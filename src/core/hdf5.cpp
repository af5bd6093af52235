#include "prospect/core/hdf5.h"

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

File open_read(const std::string& path, size_t chunk_cache_bytes) {
  silence_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, expected an HDF5 file");
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is == 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(path + ": not an HDF5 file (no HDF5 signature)");
  }
  if (is < 0) throw_error(path + ": cannot read the file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw_error(path + ": not a readable HDF5 file (truncated or corrupt?)");
  (void)chunk_cache_bytes;
  return File(id, path);
}

File create(const std::string& path) {
  silence_errors();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
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
  Dataset d = open_dataset(f, name);
  auto dims = shape(d, f);
  if (dims.size() != 1) throw Error(f.path + ": dataset " + name + ": expected 1-D, found rank " + std::to_string(dims.size()));
  Type t = file_type(d);
  if (H5Tget_class(t.id()) != H5T_INTEGER) throw Error(f.path + ": dataset " + name + ": expected integers");
  std::vector<int64_t> v(dims[0]);
  if (!v.empty()) check_status(H5Dread(d.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), f.path + ": reading " + name);
  return v;
}

std::vector<std::string> read_strings(const File& f, const std::string& name) {
  Dataset d = open_dataset(f, name);
  auto dims = shape(d, f);
  if (dims.size() != 1) throw Error(f.path + ": dataset " + name + ": expected 1-D, found rank " + std::to_string(dims.size()));
  Type ft = file_type(d);
  if (H5Tget_class(ft.id()) != H5T_STRING) throw Error(f.path + ": dataset " + name + ": expected strings");
  std::vector<std::string> out(dims[0]);
  if (out.empty()) return out;
  if (H5Tis_variable_str(ft.id()) > 0) {
    Type mt = vlen_utf8_type();
    std::vector<char*> ptrs(dims[0], nullptr);
    check_status(H5Dread(d.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), f.path + ": reading " + name);
    for (size_t i = 0; i < ptrs.size(); ++i) out[i] = ptrs[i] ? ptrs[i] : "";
    Space s(H5Dget_space(d.id()));
    H5Dvlen_reclaim(mt.id(), s.id(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t n = H5Tget_size(ft.id());
    std::vector<char> buf(n * dims[0]);
    Type mt(check(H5Tcopy(H5T_C_S1), "string type"));
    H5Tset_size(mt.id(), n);
    check_status(H5Dread(d.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), f.path + ": reading " + name);
    for (size_t i = 0; i < out.size(); ++i) {
      const char* p = buf.data() + i * n;
      out[i].assign(p, strnlen(p, n));
    }
  }
  return out;
}

void write_int64(const File& f, const std::string& name, const std::vector<int64_t>& v) {
  hsize_t n = v.size();
  Space s(check(H5Screate_simple(1, &n, nullptr), name + ": dataspace"));
  Dataset d(H5Dcreate2(f.id(), name.c_str(), H5T_STD_I64LE, s.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  if (d.id() < 0) throw_error(f.path + ": cannot create " + name);
  if (n) check_status(H5Dwrite(d.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), f.path + ": writing " + name);
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
Attribute open_attr(const File& f, const std::string& name) {
  if (!has_attr(f, name)) throw Error(f.path + ": attribute " + name + " is missing on /");
  return Attribute(check(H5Aopen(f.id(), name.c_str(), H5P_DEFAULT), f.path + ": attribute " + name));
}
void write_attr(const File& f, const std::string& name, hid_t file_type, hid_t mem_type, const void* data) {
  if (has_attr(f, name)) check_status(H5Adelete(f.id(), name.c_str()), f.path + ": replacing attribute " + name);
  Space s(check(H5Screate(H5S_SCALAR), "scalar space"));
  Attribute a(check(H5Acreate2(f.id(), name.c_str(), file_type, s.id(), H5P_DEFAULT, H5P_DEFAULT), f.path + ": attribute " + name));
  check_status(H5Awrite(a.id(), mem_type, data), f.path + ": writing attribute " + name);
}
}  // namespace

void set_attr(const File& f, const std::string& name, const std::string& value) {
  Type t = vlen_utf8_type();
  const char* p = value.c_str();
  write_attr(f, name, t.id(), t.id(), &p);
}
void set_attr(const File& f, const std::string& name, int64_t value) {
  write_attr(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
void set_attr(const File& f, const std::string& name, double value) {
  write_attr(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

std::string attr_string(const File& f, const std::string& name) {
  Attribute a = open_attr(f, name);
  Type ft(check(H5Aget_type(a.id()), f.path + ": attribute " + name + ": type"));
  if (H5Tget_class(ft.id()) != H5T_STRING) throw Error(f.path + ": attribute " + name + ": expected a string");
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
  std::vector<char> buf(n + 1, 0);
  Type mt(check(H5Tcopy(H5T_C_S1), "string type"));
  H5Tset_size(mt.id(), n);
  check_status(H5Aread(a.id(), mt.id(), buf.data()), f.path + ": reading attribute " + name);
  return std::string(buf.data(), strnlen(buf.data(), n));
}

int64_t attr_int(const File& f, const std::string& name) {
  Attribute a = open_attr(f, name);
  Type ft(check(H5Aget_type(a.id()), f.path + ": attribute " + name + ": type"));
  if (H5Tget_class(ft.id()) != H5T_INTEGER) throw Error(f.path + ": attribute " + name + ": expected an integer");
  int64_t v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_INT64, &v), f.path + ": reading attribute " + name);
  return v;
}

double attr_double(const File& f, const std::string& name) {
  Attribute a = open_attr(f, name);
  Type ft(check(H5Aget_type(a.id()), f.path + ": attribute " + name + ": type"));
  auto cls = H5Tget_class(ft.id());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) throw Error(f.path + ": attribute " + name + ": expected a number");
  double v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v), f.path + ": reading attribute " + name);
  return v;
}

}  // namespace prospect::h5
