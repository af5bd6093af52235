// IEEE binary16 <-> float32, as numpy's float16 and the stores' /embeddings use it. Conversion to
// half rounds to nearest even and keeps inf and nan; conversion back is exact.
#pragma once
#include <cstddef>
#include <cstdint>

namespace prospect {

uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
void half_to_float(const uint16_t* in, float* out, size_t n);  // F16C where the CPU has it

}  // namespace prospect
