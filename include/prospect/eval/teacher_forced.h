// Teacher-forced validation (SPEC §8, used during training): on reference context, the decision heads'
// per-frame P/R/F1 at the thresholds (at every decision point that carries a label) and the LM
// perplexity of assistant and DST turns (over the positions of the pre-shifted LM labels, so the
// end-of-turn token counts). Counts add over batches and ranks; metrics come from the sums.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>

#include "prospect/seq/collate.h"

namespace prospect::eval {

// One decision head at its threshold over the labelled decision points.
struct DecisionCounts {
  double tp = 0, fp = 0, fn = 0;
};
// The summed negative log-likelihood of the LM targets of one kind of turn, and their number.
struct TokenNll {
  double nll = 0, tokens = 0;
};

// Doubles only, so that ranks sum it in one all-reduce (all_reduce_sum, distributed/communicator.h).
// The state head's (decision point, step) labels and how many its argmax got right.
struct StateCounts {
  double correct = 0, total = 0;
};

struct TeacherForcedCounts {
  DecisionCounts speaking, dst_update;
  TokenNll assistant, dst;
  StateCounts state;  // zero without the state head
  TeacherForcedCounts& operator+=(const TeacherForcedCounts& o);
};

// Outputs of DSTProActLlama::forward at batch.decision_index / batch.lm_index (state_logits undefined
// without the state head).
TeacherForcedCounts teacher_forced_counts(const at::Tensor& speaking_logits, const at::Tensor& dst_logits,
                                          const at::Tensor& lm_logits, const Batch& batch, double speak_threshold,
                                          double dst_threshold, const at::Tensor& state_logits = at::Tensor());

struct TeacherForcedMetrics {
  std::optional<double> speaking_precision, speaking_recall, speaking_f1;
  std::optional<double> dst_update_precision, dst_update_recall, dst_update_f1;
  std::optional<double> ppl_assistant, ppl_dst;  // exp(mean NLL); null without tokens
  std::optional<double> state_accuracy;          // state head, per (decision point, step); null without
};
TeacherForcedMetrics teacher_forced_metrics(const TeacherForcedCounts& c);

}  // namespace prospect::eval
