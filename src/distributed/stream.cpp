// The CPU streams, and the choice between them and the CUDA ones (cuda_stream.cpp). See stream.h.
#include "prospect/distributed/stream.h"

#include "prospect/core/error.h"

namespace prospect {

namespace {

// CPU work is done when the call that enqueues it returns: every event is complete at once.
struct CpuEvent : Event {
  bool query() override { return true; }
  void synchronize() override {}
};

class CpuStream : public Stream {
 public:
  explicit CpuStream(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::shared_ptr<Event> record() override { return std::make_shared<CpuEvent>(); }
  void wait(Event& e) override {
    // The same wait point as on a GPU; on the CPU the event is complete already (program order).
    PROSPECT_CHECK(e.query(), "stream {}: waits for an event that cannot complete on the CPU", name_);
  }
  void synchronize() override {}
  void run(const std::function<void()>& enqueue) override { enqueue(); }

 private:
  std::string name_;
};

}  // namespace

std::unique_ptr<Stream> make_cpu_stream(std::string name) { return std::make_unique<CpuStream>(std::move(name)); }

#ifdef PROSPECT_HAVE_CUDA_STREAMS
DeviceStreams make_cuda_streams(const c10::Device& device);  // cuda_stream.cpp
bool cuda_streams_available() { return true; }
#else
bool cuda_streams_available() { return false; }
#endif

DeviceStreams make_device_streams(const c10::Device& device) {
  if (device.is_cpu()) return DeviceStreams{make_cpu_stream("compute"), make_cpu_stream("comm")};
#ifdef PROSPECT_HAVE_CUDA_STREAMS
  if (device.is_cuda()) return make_cuda_streams(device);
#endif
  fail("streams on {}: this build has CPU streams only (the CUDA streams need a CUDA LibTorch 2.x build)",
       device.str());
}

}  // namespace prospect
