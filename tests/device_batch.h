// A random batch for a tiny DSTProActLlama, for the device tests (CPU, meta, GPU): frames among the
// tokens, labels of every kind, collated exactly as training collates (seq/collate.h).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "prospect/core/rng.h"
#include "prospect/seq/collate.h"

namespace prospect::test {

struct DeviceBatch {
  std::vector<Sequence> seqs;
  std::vector<at::Tensor> frames;  // per sequence: its clip's rows
  Batch batch;
};

// B sequences of n positions; every third position an `<image>` (image_id) with its own frame row of
// feature_dim; text ids below image_id; labels at about half the positions.
inline DeviceBatch device_batch(int64_t image_id, int64_t feature_dim, int B = 2, int n = 24, uint64_t seed = 3) {
  Rng rng(seed);
  DeviceBatch d;
  for (int b = 0; b < B; ++b) {
    Sequence s;
    s.clip_id = "clip" + std::to_string(b);
    const int len = n - 3 * b;  // unequal lengths: padding in the batch
    for (int t = 0; t < len; ++t) {
      bool frame = t % 3 == 1;
      s.ids.push_back(frame ? static_cast<int32_t>(image_id) : static_cast<int32_t>(rng.below(image_id)));
      if (frame) s.frame_index.push_back(static_cast<int64_t>(s.frame_index.size()));
      auto pick = [&](int64_t v) { return rng.uniform() < 0.5 ? v : kIgnore; };
      s.speaking.push_back(pick(static_cast<int64_t>(rng.below(2))));
      s.dst_update.push_back(pick(static_cast<int64_t>(rng.below(2))));
      s.speaking_gen.push_back(pick(static_cast<int64_t>(rng.below(image_id))));
      s.dst_gen.push_back(pick(static_cast<int64_t>(rng.below(image_id))));
    }
    const int64_t rows = static_cast<int64_t>(s.frame_index.size());
    d.frames.push_back(at::sin(at::arange(rows * feature_dim, at::kFloat) * 0.37 + b).reshape({rows, feature_dim}));
    d.seqs.push_back(std::move(s));
  }
  std::vector<const Sequence*> ptrs;
  for (const Sequence& s : d.seqs) ptrs.push_back(&s);
  d.batch = collate(ptrs, d.frames);
  return d;
}

}  // namespace prospect::test
