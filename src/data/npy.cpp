#include "prospect/data/npy.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>

#include "prospect/core/error.h"
#include "prospect/data/half.h"

namespace prospect {

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open", path);
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail("{}: not a .npy file (bad magic)", path);
  int major = static_cast<unsigned char>(magic[6]);
  uint32_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2)) fail("{}: truncated .npy header", path);
    hlen = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4)) fail("{}: truncated .npy header", path);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    fail("{}: unsupported .npy version {}", path, major);
  }
  if (hlen > (1u << 20)) fail("{}: .npy header of {} bytes is implausible", path, hlen);
  std::string header(hlen, '\0');
  if (!f.read(header.data(), hlen)) fail("{}: truncated .npy header", path);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([<>|=])([a-z])(\\d{1,2})'")))
    fail("{}: .npy header without a dtype: {}", path, header);
  std::string order = m[1], kind = m[2];
  int size = std::stoi(m[3]);
  if (order == ">") fail("{}: big-endian .npy arrays are not supported", path);
  if (kind != "f" || (size != 2 && size != 4 && size != 8))
    fail("{}: dtype {}{}: expected float16, float32 or float64", path, kind, size);
  if (std::regex_search(header, std::regex("'fortran_order'\\s*:\\s*True")))
    fail("{}: Fortran-ordered .npy arrays are not supported (save with np.ascontiguousarray)", path);
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) fail("{}: .npy header without a shape", path);
  NpyArray a;
  std::string dims = m[1];
  std::regex num("\\d+");
  // The data must be in the file: count the bytes the shape needs (stopping at what the file holds,
  // so no product overflows) before allocating anything.
  const auto data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const uint64_t available = static_cast<uint64_t>(f.tellg() - data_start);
  f.seekg(data_start);
  uint64_t count = 1;
  bool fits = true;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
    if (it->str().size() > 18) fail("{}: .npy shape ({}) is implausible", path, dims);
    int64_t d = std::stoll(it->str());
    a.shape.push_back(d);
    if (d != 0 && count > available / static_cast<uint64_t>(size) / static_cast<uint64_t>(d)) fits = false;
    count *= static_cast<uint64_t>(d);
  }
  bool empty = std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end();
  if (!fits && !empty)
    fail("{}: truncated .npy data: shape ({}) needs more than the {} bytes the file holds", path, dims, available);
  if (empty) count = 0;
  std::vector<char> raw(static_cast<size_t>(count) * size);
  if (!f.read(raw.data(), static_cast<std::streamsize>(raw.size())))
    fail("{}: truncated .npy data: expected {} bytes", path, raw.size());
  a.data.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * size;
    if (size == 2) {
      uint16_t h;
      std::memcpy(&h, p, 2);
      a.data[i] = half_to_float(h);
    } else if (size == 4) {
      std::memcpy(&a.data[i], p, 4);
    } else {
      double d;
      std::memcpy(&d, p, 8);
      a.data[i] = static_cast<float>(d);
    }
  }
  return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dims;
  int64_t count = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ", ";
    count *= d;
  }
  if (shape.size() > 1) dims.resize(dims.size() - 1);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot write", path);
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  char b[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
  f.write(b, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * 4));
  if (!f) fail("{}: write failed", path);
}

}  // namespace prospect
