// Where the model runs and in which precision: model.device and model.dtype resolved once per
// process, the same way for training and evaluation (SPEC §4).
//
// Device. cpu, cuda, or auto (cuda when a GPU is visible). With cuda each process takes the GPU of its
// node-local rank modulo the GPUs it can see: one rank per GPU when a node runs as many ranks as it
// has GPUs, and GPU 0 of its own when the launcher gives each task one (--gpus-per-task=1). The GPU is
// made current before the first CUDA allocation, so the caching allocator, the streams and NCCL all
// live on it (not on GPU 0 of every rank).
//
// Precision. fp32, bf16 (autocast to bf16 around forwards; master weights and optimizer state stay
// fp32), or auto (bf16 on a GPU, fp32 on the CPU). CPU bf16 autocast needs LibTorch 2.x: Debian's
// 1.13 refuses model.dtype=bf16 on the CPU.
//
// No silent fallbacks: a request that cannot be met (cuda without a visible GPU, bf16 where it cannot
// run) is a UsageError (exit 2) naming the key, what was found and what it needs.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>

#include "prospect/core/config.h"

namespace prospect {

struct ComputeDevice {
  at::Device device = at::Device(at::kCPU);
  bool bf16 = false;         // bf16 autocast around forwards
  std::string name = "cpu";  // for logs: "cpu" or "cuda:1 (NVIDIA H100 80GB HBM3)"
};

// The GPU index of a process: local_rank modulo visible_gpus (both >= 1 / >= 0; UsageError if none
// visible). A pure function: the rule, testable without a GPU.
int local_gpu_index(int local_rank, int visible_gpus);

// Whether this LibTorch runs bf16 autocast on the CPU (2.x yes, 1.13 no).
bool cpu_bf16_autocast_supported();

// The device and precision that model.device / model.dtype ask for, given the GPUs this process sees
// and its node-local rank. Pure (sets nothing); UsageError when the request cannot be met.
ComputeDevice plan_device(const ModelConfig& m, int visible_gpus, int local_rank);

// plan_device with the GPUs LibTorch sees; with a GPU, makes it the current device and checks that
// it runs bf16 when asked (compute capability >= 8.0, where the build can ask).
ComputeDevice select_device(const ModelConfig& m, int local_rank);

// bf16 autocast for forwards on d while alive (nothing when !d.bf16); restores the previous state.
class AutocastGuard {
 public:
  explicit AutocastGuard(const ComputeDevice& d);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_ = false;
  at::DeviceType type_ = at::kCPU;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// The most bytes the caching allocator held for tensors on d's GPU since the process started, in MB;
// nullopt on the CPU (and where this LibTorch cannot tell).
std::optional<double> peak_device_memory_mb(const ComputeDevice& d);

}  // namespace prospect
