// The CUDA streams (compiled only in a CUDA LibTorch 2.x build: PROSPECT_HAVE_CUDA_STREAMS). See stream.h.
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "prospect/core/error.h"
#include "prospect/distributed/stream.h"

namespace prospect {

namespace {

struct CudaEvent : Event {
  at::cuda::CUDAEvent event{cudaEventDisableTiming};
  bool query() override { return event.query(); }
  void synchronize() override { event.synchronize(); }
};

// current == true: the device's current stream at each call (backward and the optimizer run on it);
// else one fixed stream from LibTorch's pool (collectives).
class CudaStream : public Stream {
 public:
  CudaStream(std::string name, c10::Device device, bool current)
      : name_(std::move(name)), device_(device), current_(current),
        fixed_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device.index())) {}
  std::string name() const override { return name_; }
  std::shared_ptr<Event> record() override {
    auto e = std::make_shared<CudaEvent>();
    e->event.record(stream());
    return e;
  }
  void wait(Event& e) override {
    auto* ce = dynamic_cast<CudaEvent*>(&e.resolved());
    PROSPECT_CHECK(ce != nullptr, "stream {}: waits for an event of another kind of stream", name_);
    ce->event.block(stream());  // cudaStreamWaitEvent: the host goes on
  }
  void synchronize() override { stream().synchronize(); }
  void run(const std::function<void()>& enqueue) override {
    c10::cuda::CUDAStreamGuard guard(stream());
    enqueue();
  }
  void* native() const override { return stream().stream(); }

 private:
  c10::cuda::CUDAStream stream() const {
    return current_ ? c10::cuda::getCurrentCUDAStream(device_.index()) : fixed_;
  }
  std::string name_;
  c10::Device device_;
  bool current_;
  c10::cuda::CUDAStream fixed_;
};

}  // namespace

DeviceStreams make_cuda_streams(const c10::Device& device) {
  PROSPECT_CHECK(device.has_index(), "CUDA streams: device {} has no index", device.str());
  return DeviceStreams{std::make_unique<CudaStream>("compute", device, true),
                       std::make_unique<CudaStream>("comm", device, false)};
}

}  // namespace prospect
