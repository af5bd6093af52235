// Teacher-forced validation (SPEC §8) on a batch and logits written by hand, every count and metric
// worked out by hand in the comments.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "prospect/eval/teacher_forced.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

at::Tensor longs(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

// One sequence of 8 positions. Decision points at positions 0..5 (decision_index); position 5 carries
// no label (-100) and must not count. LM outputs at positions 2, 3, 6, 7 (lm_index): 2 and 3 are
// assistant targets, 6 a DST target, 7 unlabelled.
Batch hand_batch() {
  Batch b;
  const int64_t I = kIgnore;
  b.input_ids = at::zeros({1, 8}, at::kLong);
  b.attention_mask = at::ones({1, 8}, at::kLong);
  b.speaking_labels = longs({1, 0, 1, 0, 1, I, I, I}).reshape({1, 8});
  b.dst_update_labels = longs({0, 1, 1, 0, 0, I, I, I}).reshape({1, 8});
  b.speaking_gen_labels = longs({I, I, 1, 0, I, I, I, I}).reshape({1, 8});
  b.dst_gen_labels = longs({I, I, I, I, I, I, 2, I}).reshape({1, 8});
  b.decision_index = longs({0, 1, 2, 3, 4, 5});
  b.lm_index = longs({2, 3, 6, 7});
  return b;
}

float logit(double p) { return static_cast<float>(std::log(p / (1 - p))); }

}  // namespace

TEST(TeacherForced, CountsAndMetricsByHand) {
  Batch b = hand_batch();
  // speaking probabilities at positions 0..5 and threshold 0.6:
  //   0.9 (label 1) tp | 0.7 (0) fp | 0.5 (1) fn | 0.1 (0) tn | 0.65 (1) tp | 0.99 (unlabelled) -
  //   tp 2, fp 1, fn 1: P = 2/3, R = 2/3, F1 = 4 / 6
  at::Tensor speak = at::tensor({logit(0.9), logit(0.7), logit(0.5), logit(0.1), logit(0.65), logit(0.99)});
  // DST probabilities and threshold 0.3:
  //   0.2 (0) tn | 0.4 (1) tp | 0.25 (1) fn | 0.35 (0) fp | 0.31 (0) fp | 0.01 (unlabelled) -
  //   tp 1, fp 2, fn 1: P = 1/3, R = 1/2, F1 = 2 / 5
  at::Tensor dst = at::tensor({logit(0.2), logit(0.4), logit(0.25), logit(0.35), logit(0.31), logit(0.01)});
  // LM rows (vocabulary 3) at positions 2, 3, 6, 7 as log-probabilities plus a constant (softmax
  // ignores it): row 2 gives the target 1 probability 1/2, row 3 gives the target 0 probability 1/4,
  // row 6 gives the target 2 probability 1/3, row 7 is unlabelled (its probabilities do not matter).
  // assistant: NLL ln 2 + ln 4 = 3 ln 2 over 2 tokens, perplexity exp(1.5 ln 2) = 2^1.5
  // DST: NLL ln 3 over 1 token, perplexity 3
  auto row = [](double a, double b, double c) { return std::vector<float>{float(std::log(a) + 5), float(std::log(b) + 5), float(std::log(c) + 5)}; };
  std::vector<float> lm;
  for (auto r : {row(0.25, 0.5, 0.25), row(0.25, 0.5, 0.25), row(1.0 / 3, 1.0 / 3, 1.0 / 3), row(0.98, 0.01, 0.01)})
    lm.insert(lm.end(), r.begin(), r.end());
  at::Tensor lm_logits = at::tensor(lm).reshape({4, 3});

  TeacherForcedCounts c = teacher_forced_counts(speak, dst, lm_logits, b, 0.6, 0.3);
  EXPECT_EQ(c.speaking.tp, 2);
  EXPECT_EQ(c.speaking.fp, 1);
  EXPECT_EQ(c.speaking.fn, 1);
  EXPECT_EQ(c.dst_update.tp, 1);
  EXPECT_EQ(c.dst_update.fp, 2);
  EXPECT_EQ(c.dst_update.fn, 1);
  EXPECT_EQ(c.assistant.tokens, 2);
  EXPECT_EQ(c.dst.tokens, 1);
  EXPECT_NEAR(c.assistant.nll, 3 * std::log(2.0), 1e-5);
  EXPECT_NEAR(c.dst.nll, std::log(3.0), 1e-5);

  TeacherForcedMetrics m = teacher_forced_metrics(c);
  EXPECT_NEAR(*m.speaking_precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(*m.speaking_recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(*m.speaking_f1, 2.0 / 3, 1e-12);
  EXPECT_NEAR(*m.dst_update_precision, 1.0 / 3, 1e-12);
  EXPECT_NEAR(*m.dst_update_recall, 1.0 / 2, 1e-12);
  EXPECT_NEAR(*m.dst_update_f1, 2.0 / 5, 1e-12);
  EXPECT_NEAR(*m.ppl_assistant, std::pow(2.0, 1.5), 1e-5);
  EXPECT_NEAR(*m.ppl_dst, 3.0, 1e-5);

  // Counts add over batches (and ranks): the same batch twice gives the same ratios, twice the counts.
  TeacherForcedCounts twice = c;
  twice += c;
  EXPECT_EQ(twice.speaking.tp, 4);
  EXPECT_NEAR(*teacher_forced_metrics(twice).ppl_assistant, std::pow(2.0, 1.5), 1e-5);
}

// No labelled position of a kind: its metrics are null, never NaN (SPEC §8).
TEST(TeacherForced, NothingLabelledIsNull) {
  Batch b = hand_batch();
  b.speaking_labels.fill_(kIgnore);
  b.dst_gen_labels.fill_(kIgnore);
  at::Tensor six = at::zeros({6}), lm = at::zeros({4, 3});
  TeacherForcedMetrics m = teacher_forced_metrics(teacher_forced_counts(six, six, lm, b, 0.5, 0.5));
  EXPECT_FALSE(m.speaking_precision.has_value());
  EXPECT_FALSE(m.speaking_recall.has_value());
  EXPECT_FALSE(m.speaking_f1.has_value());
  EXPECT_FALSE(m.ppl_dst.has_value());
  ASSERT_TRUE(m.ppl_assistant.has_value());
  EXPECT_NEAR(*m.ppl_assistant, 3.0, 1e-5);  // uniform rows: perplexity = vocabulary size
  // DST labels are there but every prediction is negative: precision has no denominator, recall is 0
  EXPECT_FALSE(m.dst_update_precision.has_value());
  EXPECT_EQ(*m.dst_update_recall, 0.0);
  EXPECT_EQ(*m.dst_update_f1, 0.0);
}
