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

// Where one window lies in the batch: row, first column, and its number within the row (1, 2, ...).
struct Placement {
  size_t seq = 0;
  int64_t row = 0, offset = 0, number = 1;
};

using Rows = std::vector<std::vector<size_t>>;  // the windows of each row, by index into seqs

// Positions a layout computes: rows x the longest row (the batch pads every row to it).
int64_t positions_of(const Rows& rows, const std::vector<int64_t>& len) {
  int64_t longest = 0;
  for (const auto& r : rows) {
    int64_t n = 0;
    for (size_t i : r) n += len[i];
    longest = std::max(longest, n);
  }
  return static_cast<int64_t>(rows.size()) * longest;
}

// The windows longest first (ties in input order) into rows of at most pack_to tokens: first fit
// (fewest rows) when rows_wanted = 0, else into rows_wanted rows, each window to the shortest row
// (balanced rows, so the longest row and its padding stay small; empty where a window does not fit).
Rows longest_first(const std::vector<int64_t>& len, int64_t pack_to, size_t rows_wanted) {
  std::vector<size_t> order(len.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return len[a] > len[b]; });
  Rows rows(rows_wanted);
  std::vector<int64_t> used(rows_wanted, 0);
  for (size_t i : order) {
    size_t r = 0;
    if (rows_wanted == 0) {
      while (r < rows.size() && used[r] + len[i] > pack_to) ++r;
      if (r == rows.size()) rows.emplace_back(), used.push_back(0);
    } else {
      r = static_cast<size_t>(std::min_element(used.begin(), used.end()) - used.begin());
      if (used[r] > 0 && used[r] + len[i] > pack_to) return {};
    }
    rows[r].push_back(i);
    used[r] += len[i];
  }
  return rows;
}

// One window per row (pack_to = 0), or the windows packed into rows of at most pack_to tokens (a
// longer window alone in its row): of one window per row, first fit longest first, and as many rows
// balanced, the layout that computes the fewest positions (the first of equals). Each row's windows in
// input order, the rows in the order of their first windows, so a function of the window lengths and
// their order alone: the same windows always give the same batch. Returned row by row, left to right.
std::vector<Placement> place(const std::vector<const Sequence*>& seqs, int64_t pack_to) {
  const size_t n = seqs.size();
  std::vector<int64_t> len(n);
  for (size_t i = 0; i < n; ++i) len[i] = static_cast<int64_t>(seqs[i]->ids.size());
  Rows rows;
  for (size_t i = 0; i < n; ++i) rows.push_back({i});
  if (pack_to > 0) {
    Rows first_fit = longest_first(len, pack_to, 0);
    Rows balanced = longest_first(len, pack_to, first_fit.size());
    for (Rows* r : {&first_fit, &balanced})
      if (!r->empty() && positions_of(*r, len) < positions_of(rows, len)) rows = *r;
    for (auto& r : rows) std::sort(r.begin(), r.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  }
  std::vector<Placement> out;
  for (size_t r = 0; r < rows.size(); ++r) {
    int64_t offset = 0, number = 1;
    for (size_t i : rows[r]) {
      out.push_back({i, static_cast<int64_t>(r), offset, number++});
      offset += len[i];
    }
  }
  return out;
}

// Batch::dst_state_labels: one row per decision position (undefined when no sequence has state labels).
// at[p] = (window, position within it) of flat position p, window -1 at padding.
at::Tensor state_labels(const std::vector<const Sequence*>& seqs, const at::Tensor& decision_index,
                        const std::vector<std::pair<int64_t, int64_t>>& at) {
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
    const auto [w, t] = at[static_cast<size_t>(d[i])];
    if (w < 0) continue;  // padding (the empty batch's position 0)
    const Sequence& s = *seqs[static_cast<size_t>(w)];
    if (static_cast<size_t>(t) >= s.dst_state.size()) continue;  // a sequence without state labels
    const auto& v = s.dst_state[static_cast<size_t>(t)];
    for (size_t k = 0; k < v.size(); ++k) o[i][static_cast<int64_t>(k)] = v[k];
  }
  return out;
}
}  // namespace

Batch collate(const std::vector<const Sequence*>& seqs, const std::vector<at::Tensor>& clip_frames, int32_t pad_id,
              int64_t pack_to) {
  PROSPECT_CHECK(!seqs.empty(), "collate: empty batch");
  PROSPECT_CHECK(seqs.size() == clip_frames.size(), "collate: {} sequences but {} frame tensors", seqs.size(),
                 clip_frames.size());
  const std::vector<Placement> placed = place(seqs, pack_to);
  const int64_t B = placed.back().row + 1;
  int64_t T = 0;
  for (const Placement& p : placed) T = std::max<int64_t>(T, p.offset + static_cast<int64_t>(seqs[p.seq]->ids.size()));

  Batch b;
  b.sequences = static_cast<int64_t>(seqs.size());
  b.input_ids = at::full({B, T}, pad_id, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  at::Tensor* labels[4] = {&b.speaking_labels, &b.dst_update_labels, &b.speaking_gen_labels, &b.dst_gen_labels};
  for (at::Tensor* l : labels) *l = at::full({B, T}, kIgnore, at::kLong);
  std::vector<std::pair<int64_t, int64_t>> at_flat(static_cast<size_t>(B * T), {-1, 0});

  std::vector<at::Tensor> frames;
  auto ids = b.input_ids.accessor<int64_t, 2>();
  auto mask = b.attention_mask.accessor<int64_t, 2>();
  for (const Placement& p : placed) {
    const Sequence& s = *seqs[p.seq];
    const int64_t n = static_cast<int64_t>(s.ids.size()), i = p.row, o = p.offset;
    const std::vector<int64_t>* src[4] = {&s.speaking, &s.dst_update, &s.speaking_gen, &s.dst_gen};
    for (int64_t t = 0; t < n; ++t) {
      ids[i][o + t] = s.ids[t];
      mask[i][o + t] = p.number;
      at_flat[static_cast<size_t>(i * T + o + t)] = {static_cast<int64_t>(p.seq), t};
    }
    for (int k = 0; k < 4; ++k) {
      auto a = labels[k]->accessor<int64_t, 2>();
      for (int64_t t = 0; t < n; ++t) a[i][o + t] = (*src[k])[t];
    }
    b.counts += count_labels(s);
    b.tokens += n;
    b.clip_ids.push_back(s.clip_id);
    if (!s.frame_index.empty()) {
      const at::Tensor& cf = clip_frames[p.seq];
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
  b.dst_state_labels = state_labels(seqs, b.decision_index, at_flat);
  if (!frames.empty()) {
    b.frames = at::cat(frames, 0);
  } else {
    int64_t D = clip_frames[0].defined() && clip_frames[0].dim() == 2 ? clip_frames[0].size(1) : 0;
    b.frames = at::zeros({0, D}, at::kFloat);
  }
  return b;
}

PaddingCount padding_count(const Batch& b) {
  return {b.tokens, b.input_ids.defined() ? b.input_ids.numel() : 0};
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
