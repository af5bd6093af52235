#include "prospect/model/device.h"

#include <ATen/autocast_mode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <ATen/DeviceAccelerator.h>
#endif
#ifdef PROSPECT_HAVE_CUDART
#include <cuda_runtime_api.h>
#endif

#include <fmt/format.h>

#include "prospect/core/error.h"

namespace prospect {

int local_gpu_index(int local_rank, int visible_gpus) {
  if (visible_gpus <= 0) usage_fail("model.device=cuda: no CUDA device is visible to this process");
  PROSPECT_CHECK(local_rank >= 0, "local rank {}: expected >= 0", local_rank);
  return local_rank % visible_gpus;
}

bool cpu_bf16_autocast_supported() { return TORCH_VERSION_MAJOR >= 2; }

ComputeDevice plan_device(const ModelConfig& m, int visible_gpus, int local_rank) {
  ComputeDevice d;
  if (m.device == "cuda" && visible_gpus <= 0)
    usage_fail("model.device=cuda: found no CUDA device visible to this process (LibTorch {}{}); expected at least "
               "one (see CUDA_VISIBLE_DEVICES and the job's GPU options), or model.device=cpu",
               TORCH_VERSION, torch::cuda::is_available() ? "" : ", CUDA not available");
  const bool cuda = m.device == "cuda" || (m.device == "auto" && visible_gpus > 0);
  if (cuda) {
    int index = local_gpu_index(local_rank, visible_gpus);
    d.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
    d.name = fmt::format("cuda:{}", index);
  }
  d.bf16 = m.dtype == "bf16" || (m.dtype == "auto" && cuda);
  if (d.bf16 && !cuda && !cpu_bf16_autocast_supported())
    usage_fail("model.dtype=bf16 on the CPU: found LibTorch {}, whose CPU autocast cannot run this model in bf16; "
               "expected LibTorch >= 2 (the 2.x build), a GPU (model.device=cuda), or model.dtype=fp32",
               TORCH_VERSION);
  return d;
}

ComputeDevice select_device(const ModelConfig& m, int local_rank) {
  // A CPU request never touches CUDA (no driver start-up, no context).
  const int visible = m.device == "cpu" ? 0 : static_cast<int>(torch::cuda::device_count());
  ComputeDevice d = plan_device(m, visible, local_rank);
  if (!d.device.is_cuda()) return d;
  // Before any CUDA allocation: the caching allocator, streams and NCCL take the current device.
  c10::impl::getDeviceGuardImpl(at::kCUDA)->setDevice(d.device);
#ifdef PROSPECT_HAVE_CUDART
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, d.device.index()) == cudaSuccess) {
    d.name = fmt::format("cuda:{} ({}, {:.0f} GiB, compute capability {}.{})", d.device.index(), prop.name,
                         prop.totalGlobalMem / double(1 << 30), prop.major, prop.minor);
    if (d.bf16 && prop.major < 8)
      usage_fail("model.dtype={}: found {} with compute capability {}.{}; bf16 needs >= 8.0 (or model.dtype=fp32)",
                 m.dtype, prop.name, prop.major, prop.minor);
  }
#endif
  return d;
}

// LibTorch 2.x names autocast per device type; 1.13 has one switch for CUDA and one for the CPU.
namespace {
at::ScalarType autocast_dtype(at::DeviceType t) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::get_autocast_dtype(t);
#else
  return t == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}
bool autocast_enabled(at::DeviceType t) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::is_autocast_enabled(t);
#else
  return t == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}
void set_autocast(at::DeviceType t, bool on, at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_dtype(t, dtype);
  at::autocast::set_autocast_enabled(t, on);
#else
  if (t == at::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  }
#endif
}
}  // namespace

AutocastGuard::AutocastGuard(const ComputeDevice& d) : on_(d.bf16), type_(d.device.type()) {
  if (!on_) return;
  PROSPECT_CHECK(type_ == at::kCUDA || cpu_bf16_autocast_supported(), "bf16 autocast on {}: not supported by LibTorch {}",
                 d.name, TORCH_VERSION);
  was_enabled_ = autocast_enabled(type_);
  was_dtype_ = autocast_dtype(type_);
  set_autocast(type_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!on_) return;
  // as torch.autocast's __exit__: the cast-weight cache lives as long as the outermost region
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(type_, was_enabled_, was_dtype_);
}

std::optional<double> peak_device_memory_mb(const ComputeDevice& d) {
  if (!d.device.is_cuda()) return std::nullopt;
#if TORCH_VERSION_MAJOR >= 2
  auto stats = at::accelerator::getDeviceStats(d.device.index());
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak / 1048576.0;
#else
  return std::nullopt;
#endif
}

}  // namespace prospect
