#include "prospect/model/kv_cache.h"

#include <ATen/ops/zeros.h>

#include "prospect/core/error.h"

namespace prospect {

KVCache::KVCache(const LlamaConfig& c, int64_t batch, int64_t max_len, at::TensorOptions opts)
    : max_len(max_len), batch(batch) {
  PROSPECT_CHECK(batch > 0 && max_len > 0, "KV cache needs batch > 0 and max_len > 0 (got {}, {})", batch, max_len);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    k.push_back(at::zeros({batch, c.num_key_value_heads, max_len, c.head_size()}, opts));
    v.push_back(at::zeros({batch, c.num_key_value_heads, max_len, c.head_size()}, opts));
  }
}

void KVCache::drop(int64_t begin, int64_t end) {
  PROSPECT_CHECK(0 <= begin && begin <= end && end <= length, "KVCache::drop: [{}, {}) is not inside the {} filled slots",
                 begin, end, length);
  const int64_t tail = length - end;
  if (begin == end) return;
  for (auto* layers : {&k, &v})
    for (at::Tensor& t : *layers)
      if (tail > 0) t.narrow(2, begin, tail).copy_(t.narrow(2, end, tail).clone());  // the ranges may overlap
  length -= end - begin;
}

}  // namespace prospect
