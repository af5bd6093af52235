#include "prospect/eval/teacher_forced.h"

#include <cmath>

namespace prospect {

namespace {

// tp, fp, fn of sigmoid(logit) > threshold against the labels set at the decision positions
void decisions(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& index, double threshold,
               double* out) {
  at::Tensor y = labels.reshape(-1).index_select(0, index).to(logits.device());
  at::Tensor m = y != -100;
  at::Tensor pred = (at::sigmoid(logits.reshape(-1).to(at::kFloat)) > threshold).masked_select(m);
  at::Tensor ref = (y == 1).masked_select(m);
  out[0] += (pred & ref).sum().item<double>();
  out[1] += (pred & ~ref).sum().item<double>();
  out[2] += (~pred & ref).sum().item<double>();
}

void nll(const at::Tensor& lm_logits, const at::Tensor& labels, const at::Tensor& index, double* out) {
  at::Tensor y = labels.reshape(-1).index_select(0, index).to(lm_logits.device());
  at::Tensor rows = (y != -100).nonzero().reshape(-1);
  if (rows.numel() == 0) return;
  out[0] += at::cross_entropy_loss(lm_logits.index_select(0, rows).to(at::kFloat), y.index_select(0, rows), {},
                                   at::Reduction::Sum)
                .item<double>();
  out[1] += static_cast<double>(rows.numel());
}

std::optional<double> ratio(double a, double b) { return b > 0 ? std::optional<double>(a / b) : std::nullopt; }

void prf(const double* c, std::optional<double>* p, std::optional<double>* r, std::optional<double>* f) {
  *p = ratio(c[0], c[0] + c[1]);
  *r = ratio(c[0], c[0] + c[2]);
  *f = ratio(2 * c[0], 2 * c[0] + c[1] + c[2]);
}

}  // namespace

TeacherForcedCounts teacher_forced_counts(const at::Tensor& speaking_logits, const at::Tensor& dst_logits,
                                          const at::Tensor& lm_logits, const Batch& b, double speak_threshold,
                                          double dst_threshold) {
  TeacherForcedCounts c;
  decisions(speaking_logits, b.speaking_labels, b.decision_index, speak_threshold, &c.v[0]);
  decisions(dst_logits, b.dst_update_labels, b.decision_index, dst_threshold, &c.v[3]);
  nll(lm_logits, b.speaking_gen_labels, b.lm_index, &c.v[6]);
  nll(lm_logits, b.dst_gen_labels, b.lm_index, &c.v[8]);
  return c;
}

TeacherForcedMetrics teacher_forced_metrics(const TeacherForcedCounts& c) {
  TeacherForcedMetrics m;
  prf(&c.v[0], &m.speaking_precision, &m.speaking_recall, &m.speaking_f1);
  prf(&c.v[3], &m.dst_update_precision, &m.dst_update_recall, &m.dst_update_f1);
  if (c.v[7] > 0) m.ppl_assistant = std::exp(c.v[6] / c.v[7]);
  if (c.v[9] > 0) m.ppl_dst = std::exp(c.v[8] / c.v[9]);
  return m;
}

}  // namespace prospect
