// A small .npy reader (format versions 1-3, little-endian float16/32/64, C order): enough for the
// per-clip embedding arrays PROSPECT's extractors save.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace prospect {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32, C order
};

NpyArray read_npy(const std::string& path);
// Writes a float32 C-order array (used by tests and tools).
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace prospect
