#include "prospect/seq/collate.h"

#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "prospect/core/error.h"

namespace prospect {

namespace {
at::Tensor positions(const at::Tensor& mask) {
  at::Tensor idx = mask.reshape(-1).nonzero().reshape(-1);
  return idx.numel() > 0 ? idx : at::zeros({1}, at::kLong);
}

// Batch::dst_state_labels: one row per decision position (undefined when no sequence has state labels).
at::Tensor state_labels(const std::vector<const Sequence*>& seqs, const at::Tensor& decision_index, int64_t T) {
  bool any = false;
  size_t S = 1;
  for (const Sequence* s : seqs) {
    any = any || !s->dst_state.empty();
    for (const auto& v : s->dst_state) S = std::max(S, v.size());
  }
  if (!any) return {};
  const int64_t P = decision_index.size(0);
  at::Tensor out = at::full({P, static_cast<int64_t>(S)}, kIgnore, at::kLong);
  auto o = out.accessor<int64_t, 2>();
  auto d = decision_index.accessor<int64_t, 1>();
  for (int64_t i = 0; i < P; ++i) {
    const Sequence& s = *seqs[d[i] / T];
    const size_t t = static_cast<size_t>(d[i] % T);
    if (t >= s.dst_state.size()) continue;  // padding, or a sequence without state labels
    const auto& v = s.dst_state[t];
    for (size_t k = 0; k < v.size(); ++k) o[i][static_cast<int64_t>(k)] = v[k];
  }
  return out;
}
}  // namespace

Batch collate(const std::vector<const Sequence*>& seqs, const std::vector<at::Tensor>& clip_frames, int32_t pad_id) {
  PROSPECT_CHECK(!seqs.empty(), "collate: empty batch");
  PROSPECT_CHECK(seqs.size() == clip_frames.size(), "collate: {} sequences but {} frame tensors", seqs.size(),
                 clip_frames.size());
  const int64_t B = static_cast<int64_t>(seqs.size());
  int64_t T = 0;
  for (const Sequence* s : seqs) T = std::max<int64_t>(T, static_cast<int64_t>(s->ids.size()));

  Batch b;
  b.sequences = B;
  b.input_ids = at::full({B, T}, pad_id, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  at::Tensor* labels[4] = {&b.speaking_labels, &b.dst_update_labels, &b.speaking_gen_labels, &b.dst_gen_labels};
  for (at::Tensor* l : labels) *l = at::full({B, T}, kIgnore, at::kLong);

  std::vector<at::Tensor> frames;
  for (int64_t i = 0; i < B; ++i) {
    const Sequence& s = *seqs[i];
    const int64_t n = static_cast<int64_t>(s.ids.size());
    auto ids = b.input_ids.accessor<int64_t, 2>();
    auto mask = b.attention_mask.accessor<int64_t, 2>();
    const std::vector<int64_t>* src[4] = {&s.speaking, &s.dst_update, &s.speaking_gen, &s.dst_gen};
    for (int64_t t = 0; t < n; ++t) {
      ids[i][t] = s.ids[t];
      mask[i][t] = 1;
    }
    for (int k = 0; k < 4; ++k) {
      auto a = labels[k]->accessor<int64_t, 2>();
      for (int64_t t = 0; t < n; ++t) a[i][t] = (*src[k])[t];
    }
    b.counts += count_labels(s);
    b.tokens += n;
    b.clip_ids.push_back(s.clip_id);
    if (!s.frame_index.empty()) {
      const at::Tensor& cf = clip_frames[i];
      int64_t hi = *std::max_element(s.frame_index.begin(), s.frame_index.end());
      PROSPECT_CHECK(cf.defined() && cf.dim() == 2 && hi < cf.size(0),
                     "clip {}: frame row {} requested but {} rows stored", s.clip_id, hi,
                     cf.defined() ? cf.size(0) : 0);
      at::Tensor idx = at::tensor(at::ArrayRef<int64_t>(s.frame_index), at::kLong);
      frames.push_back(cf.index_select(0, idx).to(at::kFloat));
    }
  }
  b.decision_index = positions((b.speaking_labels != kIgnore) | (b.dst_update_labels != kIgnore));
  b.lm_index = positions((b.speaking_gen_labels != kIgnore) | (b.dst_gen_labels != kIgnore));
  b.dst_state_labels = state_labels(seqs, b.decision_index, T);
  if (!frames.empty()) {
    b.frames = at::cat(frames, 0);
  } else {
    int64_t D = clip_frames[0].defined() && clip_frames[0].dim() == 2 ? clip_frames[0].size(1) : 0;
    b.frames = at::zeros({0, D}, at::kFloat);
  }
  return b;
}

at::Device batch_device(const Batch& b, std::initializer_list<const at::Tensor*> outputs, const char* what) {
  std::optional<at::Device> dev;
  auto check = [&](const at::Tensor& t) {
    if (!t.defined()) return;
    if (!dev) dev = t.device();
    PROSPECT_CHECK(t.device() == *dev, "{} (clip {}): tensors on {} and on {}; batches move with to_device", what,
                   fmt::join(b.clip_ids, ", "), dev->str(), t.device().str());
  };
  for_each_tensor(b, check);
  for (const at::Tensor* t : outputs) check(*t);
  PROSPECT_CHECK(dev.has_value(), "{}: the batch holds no tensor", what);
  return *dev;
}

Batch to_device(Batch b, const at::Device& device) {
  for_each_tensor(b, [&](at::Tensor& t) {
    if (t.defined()) t = t.to(device);
  });
  return b;
}

}  // namespace prospect
