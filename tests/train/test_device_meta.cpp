// Every tensor on the model's device, checked without a GPU (LibTorch 2.x only), on `meta`: a device
// type whose tensors have shapes but no data, so a tensor left on the CPU meets a meta tensor and fails.
//
// How far this goes. The model itself cannot be put on meta from C++: Module::to moves parameters
// with set_data, which refuses the CPU -> meta change of tensor type, and modules keep their own
// handles to their weights (so rewriting the parameter tables does not move them either). Meta also
// has no kernels for the data-dependent ops of the `<image>` splice, the loss and the metrics
// (nonzero, masked_select, item). So the check is on what training, validation and evaluation hand to
// the loss and the metrics: the batch as they move it (to_device, every field) and outputs on the
// same device pass the check compute_loss and teacher_forced_counts run first (seq/collate.h
// batch_device); one label left on the CPU, or the whole batch, is an error naming both devices.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "device_batch.h"
#include "prospect/core/error.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/train/losses.h"
#include "test_util.h"

using namespace prospect;

namespace {

const at::Device kMeta("meta");
constexpr int64_t kImage = 40, kD = 12;

// Outputs of the model's shapes for a batch: [P] per head, [Q, vocab] LM logits.
struct Outputs {
  at::Tensor speaking, dst, lm;
};
Outputs outputs_on(const Batch& b, const at::Device& d) {
  auto o = at::TensorOptions().dtype(at::kFloat).device(d);
  const int64_t P = b.decision_index.size(0), Q = b.lm_index.size(0);
  return {at::zeros({P}, o), at::zeros({P}, o), at::zeros({Q, kImage + 1}, o)};
}

}  // namespace

// The batch as training, validation and evaluation move it: every tensor field on the device.
TEST(DeviceMeta, EveryFieldOfTheBatchMoves) {
  test::DeviceBatch d = test::device_batch(kImage, kD, 3);
  Batch b = to_device(d.batch, kMeta);
  int fields = 0, undefined = 0;
  for_each_tensor(b, [&](const at::Tensor& t) {
    ++fields;
    if (!t.defined()) {
      ++undefined;  // dst_state_labels: a model without the state head has none
      return;
    }
    EXPECT_EQ(t.device(), kMeta);
  });
  EXPECT_EQ(fields, 10);
  EXPECT_EQ(undefined, 1);
  EXPECT_FALSE(b.dst_state_labels.defined());
  Outputs o = outputs_on(b, kMeta);
  EXPECT_EQ(batch_device(b, {&o.speaking, &o.dst, &o.lm}, "compute_loss"), kMeta);
}

// Negative controls: a label left on the CPU while the logits are on meta, or the whole batch, is an
// error of the loss and of the metrics naming both devices, not a silent copy.
TEST(DeviceMeta, ATensorLeftOnTheCpuFails) {
  test::DeviceBatch d = test::device_batch(kImage, kD);
  Batch b = to_device(d.batch, kMeta);
  Outputs o = outputs_on(b, kMeta);
  Batch left = b;
  left.dst_gen_labels = d.batch.dst_gen_labels;  // on the CPU
  LabelCounts global{1, 1, 1, 1};
  std::string msg =
      test::error_message<Error>([&] { compute_loss(o.speaking, o.dst, o.lm, left, global, LossConfig{}); });
  EXPECT_NE(msg.find("compute_loss"), std::string::npos) << msg;
  EXPECT_NE(msg.find("meta"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  msg = test::error_message<Error>([&] { eval::teacher_forced_counts(o.speaking, o.dst, o.lm, left, 0.5, 0.5); });
  EXPECT_NE(msg.find("teacher_forced_counts"), std::string::npos) << msg;
  msg = test::error_message<Error>([&] { compute_loss(o.speaking, o.dst, o.lm, d.batch, global, LossConfig{}); });
  EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("meta"), std::string::npos) << msg;
}
