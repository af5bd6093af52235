// Batches windows (labels.h) into tensors: padded to the batch maximum (right padding), attention
// mask, -100 at padding, the frames of the batch concatenated in <image> order (row-major over the
// batch), and the batch's label counts per loss term.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "prospect/seq/labels.h"

namespace prospect {

struct Batch {
  at::Tensor input_ids;            // [B, T] int64
  at::Tensor attention_mask;       // [B, T] int64, 1 = token, 0 = padding
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
  LabelCounts counts;
  int64_t tokens = 0;              // non-padding tokens
  int64_t sequences = 0;
  std::vector<std::string> clip_ids;
};

// clip_frames[i]: the stored rows of sequence i's clip, [num_frames, D] (row r = frame start_frame_idx + r);
// the rows named by seqs[i]->frame_index are gathered. pad_id fills padded input positions.
Batch collate(const std::vector<const Sequence*>& seqs, const std::vector<at::Tensor>& clip_frames, int32_t pad_id = 0);

}  // namespace prospect
