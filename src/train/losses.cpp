#include "prospect/train/losses.h"

#include <ATen/ATen.h>

#include "prospect/core/error.h"

namespace prospect {

at::Tensor decision_loss(const at::Tensor& x, const at::Tensor& y, const LossConfig& cfg) {
  at::Tensor bce = at::binary_cross_entropy_with_logits(x, y, {}, {}, at::Reduction::None);
  if (cfg.decision == "bce") return bce;
  at::Tensor p = at::sigmoid(x);
  at::Tensor p_t = p * y + (1 - p) * (1 - y);
  at::Tensor alpha_t = cfg.focal_alpha * y + (1 - cfg.focal_alpha) * (1 - y);
  return alpha_t * at::pow(1 - p_t, cfg.focal_gamma) * bce;
}

at::Tensor state_loss(const at::Tensor& x, const at::Tensor& y, const LossConfig& cfg) {
  at::Tensor logp = at::log_softmax(x, -1).gather(1, y.reshape({-1, 1})).squeeze(1);
  if (cfg.state_loss == "ce") return -logp;
  return -at::pow(1 - at::exp(logp), cfg.state_focal_gamma) * logp;
}

namespace {

double denom(int64_t n) { return n > 0 ? static_cast<double>(n) : 1.0; }

}  // namespace

LossTerms compute_loss(const at::Tensor& speaking_logits, const at::Tensor& dst_logits, const at::Tensor& lm_logits,
                       const Batch& b, const LabelCounts& global, const LossConfig& cfg,
                       const at::Tensor& state_logits) {
  LossTerms out;
  // on the batch's device: a tensor left on another is an error, not a silent copy
  batch_device(b, {&speaking_logits, &dst_logits, &lm_logits}, "compute_loss");
  // a term: loss at the positions of `index` whose label is set, summed, over the global count
  auto decision = [&](const at::Tensor& logits, const at::Tensor& labels, int64_t count, double* value) {
    at::Tensor y = labels.reshape(-1).index_select(0, b.decision_index);
    at::Tensor m = (y != kIgnore);
    at::Tensor x = logits.reshape(-1).to(at::kFloat).masked_select(m);
    at::Tensor term = decision_loss(x, y.masked_select(m).to(at::kFloat), cfg).sum() / denom(count);
    *value = term.item<double>();
    return term;
  };
  auto lm = [&](const at::Tensor& labels, int64_t count, double* value) {
    at::Tensor y = labels.reshape(-1).index_select(0, b.lm_index);
    at::Tensor m = (y != kIgnore);
    at::Tensor rows = m.nonzero().reshape(-1);
    at::Tensor term = at::cross_entropy_loss(lm_logits.index_select(0, rows).to(at::kFloat), y.index_select(0, rows),
                                             {}, at::Reduction::Sum) /
                      denom(count);
    *value = term.item<double>();
    return term;
  };
  at::Tensor sb = decision(speaking_logits, b.speaking_labels, global.speaking, &out.speaking);
  at::Tensor db = decision(dst_logits, b.dst_update_labels, global.dst_update, &out.dst_update);
  at::Tensor sg = lm(b.speaking_gen_labels, global.speaking_gen, &out.speaking_gen);
  at::Tensor dg = lm(b.dst_gen_labels, global.dst_gen, &out.dst_gen);
  // zero multiples keep every output (and so every parameter) in the graph
  at::Tensor keep = (speaking_logits.sum() + dst_logits.sum() + lm_logits.sum()).to(at::kFloat) * 0.0;
  out.loss = cfg.w_speaking_gen * sg + cfg.w_speaking * sb + cfg.w_dst_gen * dg + cfg.w_dst_update * db + keep;
  if (!state_logits.defined()) return out;
  PROSPECT_CHECK(b.dst_state_labels.defined(), "the model has a state head but the batch has no state labels");
  // labels [P, S'] for the batch's steps, S' <= the head's S
  at::Tensor y = b.dst_state_labels;  // on the batch's device, as every label
  at::Tensor x = state_logits.narrow(1, 0, y.size(1)).reshape({-1, 3}).to(at::kFloat);
  at::Tensor rows = (y.reshape(-1) != kIgnore).nonzero().reshape(-1);
  at::Tensor ds = state_loss(x.index_select(0, rows), y.reshape(-1).index_select(0, rows), cfg).sum() /
                  denom(global.dst_state);
  out.dst_state = ds.item<double>();
  out.loss = out.loss + cfg.w_dst_state * ds + state_logits.sum().to(at::kFloat) * 0.0;
  return out;
}

}  // namespace prospect
