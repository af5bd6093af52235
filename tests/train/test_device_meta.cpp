// Every tensor on the model's device, checked without a GPU (LibTorch 2.x only): the model and the
// batch on `meta`, a device type whose tensors have shapes but no data, so a tensor that the code
// leaves on (or makes on) the CPU meets a meta tensor in an op and fails.
//
// How far meta goes: it has no kernels for data-dependent ops (nonzero, masked_select, item). The
// model's `<image>` splice (inputs_embeds: flat_index, a nonzero), the loss and the metrics (masked
// selections, item) and the streaming decisions (item) use them. So here the model runs on meta with
// the `<image>` positions computed on the CPU (everything else of its forward as it is: projector,
// decoder plain and gradient-checkpointed, heads and LM head at the batch's own index tensors),
// forward and backward, and the decoder with the streaming KV cache; for the loss and the metrics,
// what they are handed is checked as they check it first (seq/collate.h batch_device), with negative
// controls.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "device_batch.h"
#include "prospect/core/error.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/grad_checkpoint.h"
#include "prospect/model/kv_cache.h"
#include "prospect/train/losses.h"
#include "test_util.h"
#include "tiny_model.h"

using namespace prospect;

namespace {

const at::Device kMeta("meta");
constexpr int64_t kVocab = 40, kD = 12;

DSTProActLlama meta_model() {
  DSTProActLlama m = make_dst_model(test::tiny_model_config(), kVocab, kD, 7);
  m->to(kMeta);
  return m;
}

void expect_on(const at::Tensor& t, const at::Device& d, const std::string& what) {
  ASSERT_TRUE(t.defined()) << what;
  EXPECT_EQ(t.device(), d) << what;
}

// DSTProActLlama::forward with its `<image>` splice given: `where`, the flat positions of the `<image>`
// tokens (flat_index, a nonzero, computed on the CPU batch), takes the projected frames in place of
// the token embeddings; then the decoder, the heads at the batch's decision positions and the LM head
// at its LM positions.
DSTOutput forward_spliced(DSTProActLlama& m, const Batch& b, const at::Tensor& where, bool checkpointed) {
  at::Tensor is_image = b.input_ids == m->image_token_id;
  at::Tensor emb = m->embed(b.input_ids.masked_fill(is_image, 0));
  const int64_t B = emb.size(0), T = emb.size(1), H = emb.size(2);
  emb = emb.reshape({B * T, H}).index_copy(0, where, m->project(b.frames)).view({B, T, H});
  at::Tensor h = m->hidden(emb, b.attention_mask, {}, nullptr, checkpointed ? checkpoint_runner() : BlockRunner());
  at::Tensor flat = h.reshape({-1, h.size(2)});
  at::Tensor hd = flat.index_select(0, b.decision_index);
  return {m->speaking_logit(hd), m->dst_logit(hd), m->logits(flat.index_select(0, b.lm_index))};
}

// A batch on meta and its `<image>` positions there.
struct MetaBatch {
  test::DeviceBatch cpu;
  Batch b;
  at::Tensor where;
};
MetaBatch meta_batch(const DSTProActLlama& m, int B) {
  MetaBatch r{test::device_batch(m->image_token_id, kD, B), {}, {}};
  r.b = to_device(r.cpu.batch, kMeta);
  r.where = flat_index(r.cpu.batch.input_ids == m->image_token_id).to(kMeta);
  return r;
}

}  // namespace

// The training step: the batch as the trainer moves it (to_device), forward and backward, plain and
// gradient-checkpointed; outputs and every parameter's gradient on meta.
TEST(DeviceMeta, TrainingForwardAndBackward) {
  for (bool checkpointed : {false, true}) {
    DSTProActLlama m = meta_model();
    m->train();
    MetaBatch mb = meta_batch(m, 2);
    const Batch& b = mb.b;
    for_each_tensor(b, [](const at::Tensor& t) { expect_on(t, kMeta, "batch"); });
    DSTOutput out = forward_spliced(m, b, mb.where, checkpointed);
    // what compute_loss checks first: every tensor it is handed on the batch's device
    EXPECT_EQ(batch_device(b, {&out.speaking_logits, &out.dst_logits, &out.lm_logits}, "compute_loss"), kMeta);
    (out.speaking_logits.sum() + out.dst_logits.sum() + out.lm_logits.sum()).backward();
    for (auto& p : m->named_parameters())
      expect_on(p.value().grad(), kMeta, p.key() + (checkpointed ? " (checkpointed)" : ""));
  }
}

// Validation and teacher-forced evaluation: the same forward without grad; the counts' inputs.
TEST(DeviceMeta, ValidationForward) {
  DSTProActLlama m = meta_model();
  m->eval();
  at::NoGradGuard ng;
  MetaBatch mb = meta_batch(m, 3);
  const Batch& b = mb.b;
  DSTOutput out = forward_spliced(m, b, mb.where, false);
  EXPECT_EQ(batch_device(b, {&out.speaking_logits, &out.dst_logits, &out.lm_logits}, "teacher_forced_counts"),
            kMeta);
}

// Streaming evaluation: the KV cache made as IncrementalDecoder makes it (the model's device and
// dtype), filled over three appends; every state on meta.
TEST(DeviceMeta, StreamingKvCache) {
  DSTProActLlama m = meta_model();
  m->eval();
  at::NoGradGuard ng;
  KVCache cache(m->config, 1, 64, at::TensorOptions().dtype(m->lm_head_weight().scalar_type()).device(
                                      m->lm_head_weight().device()));
  for (int64_t n : {5, 1, 3}) {
    at::Tensor ids = at::ones({1, n}, at::kLong).to(kMeta);
    at::Tensor h = m->hidden(m->embed(ids), {}, {}, &cache);
    expect_on(h, kMeta, "hidden");
    expect_on(m->speaking_logit(h[0][n - 1]), kMeta, "speaking logit");
  }
  EXPECT_EQ(cache.length, 9);
  for (const at::Tensor& k : cache.k) expect_on(k, kMeta, "cache");
}

// Negative controls: a label left on the CPU while the logits are on meta (or the whole batch) is an
// error of the loss and of the metrics naming both devices, not a silent copy.
TEST(DeviceMeta, ATensorLeftOnTheCpuFails) {
  DSTProActLlama m = meta_model();
  MetaBatch mb = meta_batch(m, 2);
  DSTOutput out;
  {
    at::NoGradGuard ng;
    out = forward_spliced(m, mb.b, mb.where, false);
  }
  Batch left = mb.b;
  left.dst_gen_labels = mb.cpu.batch.dst_gen_labels;  // on the CPU
  LabelCounts global{1, 1, 1, 1};
  std::string msg = test::error_message<Error>(
      [&] { compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, left, global, LossConfig{}); });
  EXPECT_NE(msg.find("compute_loss"), std::string::npos) << msg;
  EXPECT_NE(msg.find("meta"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  msg = test::error_message<Error>(
      [&] { eval::teacher_forced_counts(out.speaking_logits, out.dst_logits, out.lm_logits, left, 0.5, 0.5); });
  EXPECT_NE(msg.find("teacher_forced_counts"), std::string::npos) << msg;
  msg = test::error_message<Error>(
      [&] { compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, mb.cpu.batch, global, LossConfig{}); });
  EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("meta"), std::string::npos) << msg;
}
