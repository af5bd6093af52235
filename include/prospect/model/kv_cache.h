// Key/value cache for incremental decoding: one preallocated [B, kv_heads, max_len, head_size] buffer
// per layer for keys and one for values. Appending T tokens writes slots [length, length + T) in place
// (no concatenation per step), so one new frame costs O(context) attention, not a re-run of the prefix.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "prospect/model/llama_config.h"

namespace prospect {

struct KVCache {
  KVCache(const LlamaConfig& c, int64_t batch, int64_t max_len, at::TensorOptions opts = at::kFloat);
  std::vector<at::Tensor> k, v;  // per layer, [B, kv_heads, max_len, head_size]
  int64_t length = 0;            // filled slots (the same for every layer once a forward is done)
  int64_t max_len;
  int64_t batch;
  void reset() { length = 0; }   // start a new window; buffers are reused
  int64_t free() const { return max_len - length; }
  // Removes slots [begin, end): the later ones move down (keys keep the rotary positions they were
  // computed with), length shrinks by end - begin.
  void drop(int64_t begin, int64_t end);
};

}  // namespace prospect
