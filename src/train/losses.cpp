#include "prospect/train/losses.h"

#include <ATen/ATen.h>

namespace prospect {

at::Tensor decision_loss(const at::Tensor& x, const at::Tensor& y, const LossConfig& cfg) {
  at::Tensor bce = at::binary_cross_entropy_with_logits(x, y, {}, {}, at::Reduction::None);
  if (cfg.decision == "bce") return bce;
  at::Tensor p = at::sigmoid(x);
  at::Tensor p_t = p * y + (1 - p) * (1 - y);
  at::Tensor alpha_t = cfg.focal_alpha * y + (1 - cfg.focal_alpha) * (1 - y);
  return alpha_t * at::pow(1 - p_t, cfg.focal_gamma) * bce;
}

namespace {

// Positions (flattened over [B, T]) that carry a label.
at::Tensor labelled(const at::Tensor& labels) { return (labels.reshape(-1) != -100).nonzero().reshape(-1); }

double denom(int64_t n) { return n > 0 ? static_cast<double>(n) : 1.0; }

}  // namespace

LossTerms compute_loss(const at::Tensor& speaking_logits, const at::Tensor& dst_logits, const at::Tensor& hidden,
                       const LmHead& lm_head, const Batch& batch, const LabelCounts& global, const LossConfig& cfg) {
  LossTerms out;
  const int64_t H = hidden.size(-1);
  at::Tensor flat_hidden = hidden.reshape({-1, H});

  // decision terms: the head logits at decision points
  auto decision = [&](const at::Tensor& logits, const at::Tensor& labels, int64_t count, double* value) {
    at::Tensor idx = labelled(labels).to(logits.device());
    at::Tensor x = logits.reshape(-1).index_select(0, idx).to(at::kFloat);
    at::Tensor y = labels.reshape(-1).to(logits.device()).index_select(0, idx).to(at::kFloat);
    at::Tensor term = decision_loss(x, y, cfg).sum() / denom(count);
    *value = term.item<double>();
    return term;
  };
  at::Tensor sb = decision(speaking_logits, batch.speaking_labels, global.speaking, &out.speaking);
  at::Tensor db = decision(dst_logits, batch.dst_update_labels, global.dst_update, &out.dst_update);

  // LM terms: one LM-head call over the labelled positions of both
  at::Tensor idx_sg = labelled(batch.speaking_gen_labels).to(hidden.device());
  at::Tensor idx_dg = labelled(batch.dst_gen_labels).to(hidden.device());
  const int64_t n_sg = idx_sg.numel(), n_dg = idx_dg.numel();
  at::Tensor rows = at::cat({idx_sg, idx_dg});
  at::Tensor logits = n_sg + n_dg > 0 ? lm_head(flat_hidden.index_select(0, rows)).to(at::kFloat)
                                      : lm_head(flat_hidden.narrow(0, 0, 1)).to(at::kFloat);
  at::Tensor targets = at::cat({batch.speaking_gen_labels.reshape(-1).to(hidden.device()).index_select(0, idx_sg),
                                batch.dst_gen_labels.reshape(-1).to(hidden.device()).index_select(0, idx_dg)});
  at::Tensor sg, dg;
  if (n_sg + n_dg > 0) {
    at::Tensor ce = at::cross_entropy_loss(logits, targets, {}, at::Reduction::None);
    sg = ce.narrow(0, 0, n_sg).sum() / denom(global.speaking_gen);
    dg = ce.narrow(0, n_sg, n_dg).sum() / denom(global.dst_gen);
  } else {
    sg = dg = logits.new_zeros({});
  }
  out.speaking_gen = sg.item<double>();
  out.dst_gen = dg.item<double>();

  // zero multiples keep every output (and so every parameter) in the graph
  at::Tensor keep = (speaking_logits.sum() + dst_logits.sum()).to(at::kFloat) * 0.0 + logits.sum() * 0.0;
  out.loss = cfg.w_speaking_gen * sg + cfg.w_speaking * sb + cfg.w_dst_gen * dg + cfg.w_dst_update * db + keep;
  return out;
}

}  // namespace prospect
