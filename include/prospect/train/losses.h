// The training loss of SPEC §5:
//   L = w_sg * CE(speaking_gen) + w_sb * B(speaking) + w_dg * CE(dst_gen) + w_db * B(dst_update)
// Each term is a SUM over its labelled positions in this micro-batch divided by the GLOBAL count of
// that term's labelled positions in the whole optimizer step (all micro-batches, all ranks), so
// accumulating k micro-batches on n ranks with a summing gradient reduction equals one batch k*n
// times larger. B is BCE-with-logits or focal loss. A term with no labelled position contributes 0,
// and the graph always reaches every output (a zero multiple of each), so every gradient hook fires.
// With the state head (model.dst_state_head) a fifth term joins the same way:
//   + w_ds * C(dst_state), C = cross-entropy over the 3 states (loss.state_loss = ce) or focal
//   -(1 - p_t)^gamma * log p_t (focal, gamma = loss.state_focal_gamma), per (decision point, step)
//   label, summed and divided by the global count of such labels. Without the head the loss is
//   computed exactly as before (no extra operation).
#pragma once
#include <ATen/core/Tensor.h>

#include "prospect/core/config.h"
#include "prospect/seq/collate.h"

namespace prospect {

struct LossTerms {
  at::Tensor loss;  // scalar, weighted sum of the four terms (what backward runs on)
  // Each term's contribution before weighting (sum / global count): summed over the micro-batches
  // and ranks of a step they give the step's mean per labelled position.
  double speaking_gen = 0, speaking = 0, dst_gen = 0, dst_update = 0;
  double dst_state = 0;  // 0 without the state head
};

// speaking_logits, dst_logits [P] at batch.decision_index; lm_logits [Q, V] at batch.lm_index (what
// DSTProActLlama::forward returns for these indices); global: the step's all-reduced counts;
// state_logits [P, S, 3] (DSTOutput::state_logits) or undefined without the state head.
LossTerms compute_loss(const at::Tensor& speaking_logits, const at::Tensor& dst_logits, const at::Tensor& lm_logits,
                       const Batch& batch, const LabelCounts& global, const LossConfig& cfg,
                       const at::Tensor& state_logits = at::Tensor());

// Element-wise state loss for logits x [N, 3] and class targets y [N] (int64): -log p_y (ce), or
// -(1 - p_y)^gamma * log p_y (focal).
at::Tensor state_loss(const at::Tensor& x, const at::Tensor& y, const LossConfig& cfg);

// Element-wise decision loss for logits x and 0/1 targets y (float): BCE-with-logits or focal
// (alpha weighs the positives, 1 - alpha the negatives).
at::Tensor decision_loss(const at::Tensor& x, const at::Tensor& y, const LossConfig& cfg);

}  // namespace prospect
