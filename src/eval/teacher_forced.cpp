#include "prospect/eval/teacher_forced.h"

#include <ATen/ATen.h>

#include <cmath>

#include "prospect/core/error.h"

namespace prospect::eval {

namespace {

// sigmoid(logit) > threshold against the labels set at the decision positions
void add_decisions(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& index, double threshold,
                   DecisionCounts* out) {
  at::Tensor y = labels.reshape(-1).index_select(0, index);
  at::Tensor m = y != kIgnore;
  at::Tensor pred = (at::sigmoid(logits.reshape(-1).to(at::kFloat)) > threshold).masked_select(m);
  at::Tensor ref = (y == 1).masked_select(m);
  out->tp += (pred & ref).sum().item<double>();
  out->fp += (pred & ~ref).sum().item<double>();
  out->fn += (~pred & ref).sum().item<double>();
}

void add_nll(const at::Tensor& lm_logits, const at::Tensor& labels, const at::Tensor& index, TokenNll* out) {
  at::Tensor y = labels.reshape(-1).index_select(0, index);
  at::Tensor rows = (y != kIgnore).nonzero().reshape(-1);
  if (rows.numel() == 0) return;
  out->nll += at::cross_entropy_loss(lm_logits.index_select(0, rows).to(at::kFloat), y.index_select(0, rows), {},
                                     at::Reduction::Sum)
                  .item<double>();
  out->tokens += static_cast<double>(rows.numel());
}

// argmax of the state logits [P, S, 3] against labels [P, S'] (S' <= S)
void add_states(const at::Tensor& logits, const at::Tensor& labels, StateCounts* out) {
  at::Tensor y = labels.to(logits.device());
  at::Tensor pred = logits.narrow(1, 0, y.size(1)).argmax(-1);
  at::Tensor m = y != kIgnore;
  out->correct += ((pred == y) & m).sum().item<double>();
  out->total += m.sum().item<double>();
}

std::optional<double> ratio(double a, double b) { return b > 0 ? std::optional<double>(a / b) : std::nullopt; }

void prf(const DecisionCounts& c, std::optional<double>* p, std::optional<double>* r, std::optional<double>* f) {
  *p = ratio(c.tp, c.tp + c.fp);
  *r = ratio(c.tp, c.tp + c.fn);
  *f = ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn);
}

void add(DecisionCounts& a, const DecisionCounts& b) { a.tp += b.tp, a.fp += b.fp, a.fn += b.fn; }
void add(TokenNll& a, const TokenNll& b) { a.nll += b.nll, a.tokens += b.tokens; }
void add(StateCounts& a, const StateCounts& b) { a.correct += b.correct, a.total += b.total; }

}  // namespace

TeacherForcedCounts& TeacherForcedCounts::operator+=(const TeacherForcedCounts& o) {
  add(speaking, o.speaking);
  add(dst_update, o.dst_update);
  add(assistant, o.assistant);
  add(dst, o.dst);
  add(state, o.state);
  return *this;
}

TeacherForcedCounts teacher_forced_counts(const at::Tensor& speaking_logits, const at::Tensor& dst_logits,
                                          const at::Tensor& lm_logits, const Batch& b, double speak_threshold,
                                          double dst_threshold, const at::Tensor& state_logits) {
  TeacherForcedCounts c;
  // on the batch's device: a tensor left on another is an error, not a silent copy
  batch_device(b, {&speaking_logits, &dst_logits, &lm_logits}, "teacher_forced_counts");
  add_decisions(speaking_logits, b.speaking_labels, b.decision_index, speak_threshold, &c.speaking);
  add_decisions(dst_logits, b.dst_update_labels, b.decision_index, dst_threshold, &c.dst_update);
  add_nll(lm_logits, b.speaking_gen_labels, b.lm_index, &c.assistant);
  add_nll(lm_logits, b.dst_gen_labels, b.lm_index, &c.dst);
  if (state_logits.defined() && b.dst_state_labels.defined()) add_states(state_logits, b.dst_state_labels, &c.state);
  return c;
}

TeacherForcedMetrics teacher_forced_metrics(const TeacherForcedCounts& c) {
  TeacherForcedMetrics m;
  prf(c.speaking, &m.speaking_precision, &m.speaking_recall, &m.speaking_f1);
  prf(c.dst_update, &m.dst_update_precision, &m.dst_update_recall, &m.dst_update_f1);
  if (c.assistant.tokens > 0) m.ppl_assistant = std::exp(c.assistant.nll / c.assistant.tokens);
  if (c.dst.tokens > 0) m.ppl_dst = std::exp(c.dst.nll / c.dst.tokens);
  m.state_accuracy = ratio(c.state.correct, c.state.total);
  return m;
}

}  // namespace prospect::eval
