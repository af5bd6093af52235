// Batches windows (labels.h) into tensors: one window per row or several packed into a row, padded to
// the batch maximum (right padding), attention mask, -100 at padding, the frames of the batch concatenated in <image> order (row-major over the
// batch), and the batch's label counts per loss term. to_device moves every tensor of a batch.
#pragma once
#include <ATen/core/Tensor.h>

#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "prospect/seq/labels.h"

namespace prospect {

struct Batch {
  at::Tensor input_ids;            // [B, T] int64
  // [B, T] int64: 0 = padding, otherwise the number (1, 2, ...) of the token's window within its row;
  // one window per row (no packing) is the usual 1 = token. The model lets a token attend only to the
  // earlier tokens of its own window and restarts positions at each window (llama.h block_inputs).
  at::Tensor attention_mask;
  at::Tensor frames;               // [N, D] float32, N = number of <image> tokens in input_ids
  at::Tensor speaking_labels;      // [B, T] int64: 1, 0 or -100
  at::Tensor dst_update_labels;    // [B, T] int64: 1, 0 or -100
  at::Tensor speaking_gen_labels;  // [B, T] int64: target id (pre-shifted) or -100
  at::Tensor dst_gen_labels;       // [B, T] int64
  // Flat positions (b * T + t) where the model must produce outputs: decision points (either
  // decision label set) and LM positions (either LM label set). Never empty: a batch without any
  // gets position 0 (labelled nowhere), so the loss graph stays connected at zero weight.
  at::Tensor decision_index;       // [P] int64
  at::Tensor lm_index;             // [Q] int64
  // With state labels (SeqOptions::state_steps): [P, S] int64, row i for decision_index[i], 0/1/2 per
  // step or -100 (beyond the clip's steps; S = the most steps labelled in the batch, at least 1).
  // Undefined without state labels.
  at::Tensor dst_state_labels;
  LabelCounts counts;
  int64_t tokens = 0;              // non-padding tokens
  int64_t sequences = 0;           // windows (rows: input_ids.size(0), fewer when packed)
  std::vector<std::string> clip_ids;
};

// Calls f(tensor) for every at::Tensor field of the batch. The structured binding names every field of
// Batch, so a field added to Batch does not compile here until it is named; then a tensor field is
// visited by its type, and a field of any other type must be one the assertion below lists.
template <typename F>
void for_each_tensor(Batch& b, F&& f) {
  auto& [input_ids, attention_mask, frames, speaking_labels, dst_update_labels, speaking_gen_labels, dst_gen_labels,
         decision_index, lm_index, dst_state_labels, counts, tokens, sequences, clip_ids] = b;
  auto visit = [&f](auto& field) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, at::Tensor>) {
      f(field);
    } else {
      static_assert(std::is_same_v<T, LabelCounts> || std::is_same_v<T, int64_t> ||
                        std::is_same_v<T, std::vector<std::string>>,
                    "a Batch field of a new type: say here whether it holds tensors and how to visit them");
    }
  };
  visit(input_ids), visit(attention_mask), visit(frames), visit(speaking_labels), visit(dst_update_labels);
  visit(speaking_gen_labels), visit(dst_gen_labels), visit(decision_index), visit(lm_index), visit(dst_state_labels);
  visit(counts), visit(tokens), visit(sequences), visit(clip_ids);
}

template <typename F>
void for_each_tensor(const Batch& b, F&& f) {
  for_each_tensor(const_cast<Batch&>(b), [&f](at::Tensor& t) { f(static_cast<const at::Tensor&>(t)); });
}

// The one device every (defined) tensor of the batch, and every tensor of `outputs` (the model's
// outputs for it), is on: what loss and metric code computes on, so a tensor left on another device is
// an error there, never a silent copy. Error naming `what` and both devices.
at::Device batch_device(const Batch& b, std::initializer_list<const at::Tensor*> outputs = {},
                        const char* what = "batch");

// The batch with every tensor on `device` (training, validation and evaluation move batches only
// through this). On the device they are on already, tensors are shared, not copied.
Batch to_device(Batch b, const at::Device& device);

// clip_frames[i]: the stored rows of sequence i's clip, [num_frames, D] (row r = frame start_frame_idx + r);
// the rows named by seqs[i]->frame_index are gathered. pad_id fills padded input positions.
// pack_to = 0: one window per row, in the order given. pack_to > 0 (train.pack, data.max_seq_len):
// several windows per row, up to pack_to tokens a row (a longer window alone in its row), laid out to
// compute the fewest positions (collate.cpp: place), never more than one window per row would; each
// row's windows in the order given. The same windows in the same order always give the same batch. Labels, label counts and <image> order follow the windows
// wherever they lie, so a packed batch has the losses of the unpacked one.
Batch collate(const std::vector<const Sequence*>& seqs, const std::vector<at::Tensor>& clip_frames, int32_t pad_id = 0,
              int64_t pack_to = 0);

// The waste of padding: the real tokens of a batch (Batch::tokens) and the positions the model computes
// for them (B * T, padding included). Summed over batches (and ranks) before taking the share.
struct PaddingCount {
  int64_t tokens = 0;
  int64_t tokens_padded = 0;
  PaddingCount& operator+=(const PaddingCount& o) {
    tokens += o.tokens, tokens_padded += o.tokens_padded;
    return *this;
  }
  // (tokens_padded - tokens) / tokens_padded; 0 for nothing computed.
  double padding_share() const {
    return tokens_padded > 0 ? static_cast<double>(tokens_padded - tokens) / static_cast<double>(tokens_padded) : 0.0;
  }
};
PaddingCount padding_count(const Batch& b);

}  // namespace prospect
