// Ordering between the work that produces gradients and the collectives that reduce them: a stream
// is an ordered queue of device work, an event marks a point in one. The reducer and the data plane
// (data_plane.h) speak only this interface, so the same sequencing runs, and is tested, on the CPU.
//
//   compute stream:  backward ... last gradient of bucket b ─ copy into the flat buffer ─ record(e_b)
//   comm stream:                                               wait(e_b) ─ all-reduce(b) ─ record(d_b)
//   compute stream:  ... finalize(): wait(d_b) for every bucket ─ copy sums into .grad ─ optimizer step
//
// No device-wide synchronisation anywhere: a stream waits for an event of another stream (on a GPU,
// cudaStreamWaitEvent, which does not block the host); the host waits only where it must read a
// result (Event::synchronize: the staging copy of an MPI all-reduce of device memory).
//
// CUDA (a CUDA LibTorch 2.x build, cuda_stream.cpp): the compute stream is the device's *current*
// stream at the time of each call (the one the autograd engine runs backward on); the comm stream is
// one stream from LibTorch's pool, so LibTorch's caching allocator knows it. CPU: work runs on the
// host in program order, so every event is complete when recorded; the CPU streams keep the same
// calls (and check that every wait names a recorded event), so a test can record the sequence.
#pragma once
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>

namespace prospect {

// A point in one stream's work. Complete once everything enqueued on that stream before it is done.
struct Event {
  virtual ~Event() = default;
  virtual bool query() = 0;        // true when complete (never blocks)
  virtual void synchronize() = 0;  // the host waits until complete
  // The event itself, or the one it stands for (an event known only once its work completed).
  virtual Event& resolved() { return *this; }
};

class Stream {
 public:
  virtual ~Stream() = default;
  virtual std::string name() const = 0;  // "compute", "comm" (logs, tests)
  // An event after the work enqueued on this stream so far.
  virtual std::shared_ptr<Event> record() = 0;
  // Work enqueued on this stream from now on starts after e (which may belong to another stream).
  // Does not block the host.
  virtual void wait(Event& e) = 0;
  // The host waits for everything enqueued on this stream so far.
  virtual void synchronize() = 0;
  // Runs enqueue() with this stream current on its device, so the LibTorch calls inside (copies,
  // kernels) are ordered on it. CPU: just calls it.
  virtual void run(const std::function<void()>& enqueue) = 0;
  // The cudaStream_t (nullptr on the CPU), for NCCL.
  virtual void* native() const { return nullptr; }
};

// The two streams of a device: `compute` (the current stream: backward, the optimizer) and `comm`
// (collectives). On the CPU both are CPU streams; on a CUDA device they need a CUDA build of
// LibTorch 2.x (Error otherwise: cuda_streams_available()).
struct DeviceStreams {
  std::unique_ptr<Stream> compute;
  std::unique_ptr<Stream> comm;
};
DeviceStreams make_device_streams(const c10::Device& device);

// The CPU implementation.
std::unique_ptr<Stream> make_cpu_stream(std::string name);

// Whether this build has the CUDA streams (a CUDA LibTorch 2.x: PROSPECT_HAVE_CUDA_STREAMS).
bool cuda_streams_available();

}  // namespace prospect
