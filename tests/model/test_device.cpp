// model.device / model.dtype (model/device.h, SPEC §4): which GPU a rank takes, what is refused, and
// the autocast guard. Needs no GPU: the rule is a pure function of the visible GPU count.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "prospect/core/error.h"
#include "prospect/model/device.h"
#include "test_util.h"

using namespace prospect;

namespace {

ModelConfig model(const std::string& device, const std::string& dtype) {
  ModelConfig m;
  m.device = device;
  m.dtype = dtype;
  return m;
}

}  // namespace

TEST(Device, LocalRankModuloVisibleGpus) {
  EXPECT_EQ(local_gpu_index(0, 4), 0);
  EXPECT_EQ(local_gpu_index(3, 4), 3);
  EXPECT_EQ(local_gpu_index(5, 4), 1);  // more ranks than GPUs on a node: shared round-robin
  EXPECT_EQ(local_gpu_index(3, 1), 0);  // --gpus-per-task=1: each rank sees only its own
  EXPECT_THROW(local_gpu_index(0, 0), UsageError);
}

TEST(Device, PlanPicksTheLocalGpuAndBf16ByDefault) {
  ComputeDevice d = plan_device(model("cuda", "auto"), 8, 13);
  EXPECT_TRUE(d.device.is_cuda());
  EXPECT_EQ(d.device.index(), 5);
  EXPECT_TRUE(d.bf16);
  d = plan_device(model("auto", "auto"), 2, 1);
  EXPECT_EQ(d.device, at::Device(at::kCUDA, 1));
  EXPECT_TRUE(d.bf16);
  d = plan_device(model("cuda", "fp32"), 2, 0);
  EXPECT_FALSE(d.bf16);
  d = plan_device(model("auto", "auto"), 0, 3);  // no GPU: the CPU in fp32
  EXPECT_TRUE(d.device.is_cpu());
  EXPECT_FALSE(d.bf16);
  d = plan_device(model("cpu", "auto"), 4, 0);  // asked for the CPU: the GPUs are not used
  EXPECT_TRUE(d.device.is_cpu());
  EXPECT_FALSE(d.bf16);
}

TEST(Device, CudaWithoutAVisibleGpuIsAUsageError) {
  std::string msg = test::error_message<UsageError>([] { plan_device(model("cuda", "auto"), 0, 0); });
  EXPECT_NE(msg.find("model.device=cuda"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no CUDA device"), std::string::npos) << msg;
}

TEST(Device, Bf16OnTheCpuNeedsLibTorch2) {
  auto plan = [] { return plan_device(model("cpu", "bf16"), 0, 0); };
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_TRUE(cpu_bf16_autocast_supported());
  EXPECT_TRUE(plan().bf16);
  EXPECT_TRUE(plan_device(model("auto", "bf16"), 0, 0).bf16);
#else
  EXPECT_FALSE(cpu_bf16_autocast_supported());
  std::string msg = test::error_message<UsageError>(plan);
  EXPECT_NE(msg.find("model.dtype=bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find(TORCH_VERSION), std::string::npos) << msg;  // found
  EXPECT_NE(msg.find(">= 2"), std::string::npos) << msg;         // expected
  EXPECT_THROW(plan_device(model("auto", "bf16"), 0, 0), UsageError);
#endif
}

TEST(Device, SelectOnTheCpuTouchesNoGpu) {
  ComputeDevice d = select_device(model("cpu", "fp32"), 0);
  EXPECT_TRUE(d.device.is_cpu());
  EXPECT_EQ(d.name, "cpu");
  EXPECT_FALSE(peak_device_memory_mb(d).has_value());  // null in metrics.jsonl on the CPU
}

TEST(Device, AutocastGuardIsOffForFp32AndRestores) {
  ComputeDevice fp32;
  at::Tensor a = at::ones({4, 4});
  {
    AutocastGuard g(fp32);
    EXPECT_EQ(at::mm(a, a).scalar_type(), at::kFloat);
  }
#if TORCH_VERSION_MAJOR >= 2
  ComputeDevice bf16;
  bf16.bf16 = true;
  {
    AutocastGuard g(bf16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::mm(a, a).scalar_type(), at::kBFloat16);  // a forward's matmuls in bf16
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::mm(a, a).scalar_type(), at::kFloat);
#endif
}
