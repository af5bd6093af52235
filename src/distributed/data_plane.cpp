// The data plane: tensors on the model's device over NCCL or MPI, and the choice between them. See
// data_plane.h.
#include "prospect/distributed/data_plane.h"

#include <functional>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>

#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/nccl_comm.h"

namespace prospect {

std::string choose_data_backend(const std::string& backend, bool device_is_cuda, bool nccl_built) {
  if (backend != "auto" && backend != "mpi" && backend != "nccl")
    usage_fail("dist.backend: expected auto, mpi or nccl, found '{}'", backend);
  if (backend == "nccl") {
    if (!device_is_cuda)
      usage_fail("dist.backend=nccl needs the model on a CUDA device (model.device resolved to the CPU); set "
                 "dist.backend=auto or mpi, or run on a GPU");
    if (!nccl_built)
      usage_fail("dist.backend=nccl: this build has no NCCL data plane (it needs NCCL and a CUDA LibTorch 2.x); "
                 "set dist.backend=auto or mpi");
    return "nccl";
  }
  if (backend == "auto" && device_is_cuda && nccl_built) return "nccl";
  return "mpi";
}

bool nccl_data_plane_available() { return nccl_available() && cuda_streams_available(); }

namespace {

DType data_dtype(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return DType::F32;
    case torch::kFloat64: return DType::F64;
    case torch::kInt64: return DType::I64;
    case torch::kUInt8: return DType::U8;
    default: fail("data plane: tensors of {} are not reduced (float32, float64, int64, uint8)",
                  std::string(c10::toString(t.scalar_type())));
  }
}

// Every tensor the data plane takes: on its device, contiguous. A host tensor on a CUDA plane (or the
// reverse) is a programming error caught here, before any pointer leaves.
void check_tensor(const torch::Tensor& t, const c10::Device& device, const char* what) {
  PROSPECT_CHECK(t.defined() && t.device() == device && t.is_contiguous(),
                 "data plane {}: expected a contiguous tensor on {}, found one on {}{}", what, device.str(),
                 t.defined() ? t.device().str() : "(undefined)", t.defined() && !t.is_contiguous() ? " (not contiguous)" : "");
}

// A finished collective whose result is in place when created.
struct DoneWork : Work {
  bool test() override { return true; }
  void wait() override {}
};

// One MPI collective of device memory staged through a pinned host buffer: complete when MPI is done
// and the copy back is enqueued on the comm stream (the Collective's `done` event follows it).
struct StagedWork : Work {
  std::unique_ptr<Work> mpi;
  std::function<void()> copy_back;  // enqueues pinned -> device on the comm stream, records done
  bool finished = false;
  bool test() override {
    if (finished) return true;
    if (!mpi->test()) return false;
    finish();
    return true;
  }
  void wait() override {
    if (finished) return;
    mpi->wait();
    finish();
  }
  void finish() {
    copy_back();
    finished = true;
  }
};

// An event that becomes known only when the work completes (the staged copy back is recorded then).
struct LateEvent : Event {
  std::shared_ptr<Event> inner;
  bool query() override { return inner && inner->query(); }
  void synchronize() override {
    PROSPECT_CHECK(inner != nullptr, "data plane: waited for a collective that has not completed");
    inner->synchronize();
  }
  Event& resolved() override {
    PROSPECT_CHECK(inner != nullptr, "data plane: waited for a collective that has not completed");
    return inner->resolved();
  }
};

// MPI over the host communicator. CPU tensors go as they are; device tensors through pinned host
// buffers unless MPI is CUDA-aware.
class MpiDataPlane : public DataPlane {
 public:
  MpiDataPlane(Communicator& host, c10::Device device, DeviceStreams streams, bool cuda_aware)
      : host_(host), device_(device), streams_(std::move(streams)), cuda_aware_(cuda_aware) {}
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  std::string backend() const override { return host_.backend(); }
  c10::Device device() const override { return device_; }
  Stream& compute_stream() override { return *streams_.compute; }
  Stream& comm_stream() override { return *streams_.comm; }

  Collective all_reduce_async(torch::Tensor t, ReduceOp op, Event& ready) override {
    check_tensor(t, device_, "all_reduce");
    const DType dt = data_dtype(t);
    Stream& comm = *streams_.comm;
    comm.wait(ready);
    if (!staged(t)) {
      // A CUDA-aware MPI reads device memory outside any stream: the producer's work must be done.
      if (t.is_cuda() && host_.size() > 1) comm.synchronize();
      auto work = host_.all_reduce_async(t.data_ptr(), size_t(t.numel()), dt, op);
      return Collective{std::move(work), comm.record()};
    }
    torch::Tensor pinned = pinned_for(t, /*keep=*/true);
    comm.run([&] { pinned.copy_(t, /*non_blocking=*/true); });
    comm.record()->synchronize();  // the host waits for its copy only
    auto late = std::make_shared<LateEvent>();
    auto w = std::make_unique<StagedWork>();
    w->mpi = host_.all_reduce_async(pinned.data_ptr(), size_t(t.numel()), dt, op);
    w->copy_back = [&comm, t, pinned, late] {
      comm.run([&] { t.copy_(pinned, /*non_blocking=*/true); });
      late->inner = comm.record();
    };
    return Collective{std::move(w), late};
  }

  void broadcast(torch::Tensor t, int root) override {
    check_tensor(t, device_, "broadcast");
    Stream& comm = *streams_.comm;
    comm.wait(*streams_.compute->record());
    const DType dt = data_dtype(t);
    if (!staged(t)) {
      if (t.is_cuda() && host_.size() > 1) comm.synchronize();
      host_.broadcast(t.data_ptr(), size_t(t.numel()), dt, root);
    } else {
      torch::Tensor pinned = pinned_for(t, /*keep=*/false);
      comm.run([&] { pinned.copy_(t, /*non_blocking=*/true); });
      comm.synchronize();
      host_.broadcast(pinned.data_ptr(), size_t(t.numel()), dt, root);
      comm.run([&] { t.copy_(pinned, /*non_blocking=*/true); });
    }
    streams_.compute->wait(*comm.record());
  }

 private:
  bool staged(const torch::Tensor& t) const { return t.is_cuda() && !cuda_aware_ && host_.size() > 1; }
  // A pinned host buffer for t. keep: one per device buffer, kept (the reducer's flat buckets come
  // back every step); else a new one (the start-of-run broadcast: every parameter once).
  torch::Tensor pinned_for(const torch::Tensor& t, bool keep) {
    auto make = [&] { return torch::empty({t.numel()}, torch::TensorOptions().dtype(t.scalar_type()).pinned_memory(true)); };
    if (!keep) return make().view(t.sizes());
    std::lock_guard<std::mutex> lock(mu_);
    auto& p = pinned_[t.data_ptr()];
    if (!p.defined() || p.numel() != t.numel() || p.scalar_type() != t.scalar_type()) p = make();
    return p.view(t.sizes());
  }

  Communicator& host_;
  c10::Device device_;
  DeviceStreams streams_;
  bool cuda_aware_;
  std::mutex mu_;
  std::map<void*, torch::Tensor> pinned_;
};

#if defined(PROSPECT_HAVE_NCCL) && defined(PROSPECT_HAVE_CUDA_STREAMS)
// NCCL on the comm stream; CUDA tensors only.
class NcclDataPlane : public DataPlane {
 public:
  NcclDataPlane(Communicator& host, c10::Device device, DeviceStreams streams, double timeout_s)
      : host_(host), device_(device), streams_(std::move(streams)),
        nccl_(make_nccl_comm(host, device.index(), streams_.comm->native(), timeout_s)) {}
  int rank() const override { return nccl_->rank(); }
  int size() const override { return nccl_->size(); }
  std::string backend() const override { return "nccl"; }
  c10::Device device() const override { return device_; }
  Stream& compute_stream() override { return *streams_.compute; }
  Stream& comm_stream() override { return *streams_.comm; }

  Collective all_reduce_async(torch::Tensor t, ReduceOp op, Event& ready) override {
    check_tensor(t, device_, "all_reduce");
    PROSPECT_CHECK(t.is_cuda(), "NCCL data plane: all_reduce of a host tensor");
    streams_.comm->wait(ready);
    auto work = nccl_->all_reduce_async(t.data_ptr(), size_t(t.numel()), data_dtype(t), op);
    return Collective{std::move(work), streams_.comm->record()};
  }
  void broadcast(torch::Tensor t, int root) override {
    check_tensor(t, device_, "broadcast");
    PROSPECT_CHECK(t.is_cuda(), "NCCL data plane: broadcast of a host tensor");
    streams_.comm->wait(*streams_.compute->record());
    nccl_->broadcast_async(t.data_ptr(), size_t(t.numel()), data_dtype(t), root)->wait();
    streams_.compute->wait(*streams_.comm->record());
  }

 private:
  Communicator& host_;
  c10::Device device_;
  DeviceStreams streams_;
  std::unique_ptr<NcclComm> nccl_;
};
#endif

}  // namespace

std::unique_ptr<DataPlane> make_mpi_data_plane(Communicator& host, const c10::Device& device, DeviceStreams streams) {
  PROSPECT_CHECK(host.backend() == "mpi" || host.backend() == "single",
                 "the MPI data plane runs over an MPI host communicator, found '{}'", host.backend());
  bool aware = device.is_cuda() && host.backend() == "mpi" && mpi_cuda_aware();
  return std::make_unique<MpiDataPlane>(host, device, std::move(streams), aware);
}

std::unique_ptr<DataPlane> make_mpi_data_plane(Communicator& host, const c10::Device& device) {
  return make_mpi_data_plane(host, device, make_device_streams(device));
}

std::unique_ptr<DataPlane> make_data_plane(const std::string& backend, const c10::Device& device, Communicator& host,
                                           double timeout_s) {
  const std::string choice = choose_data_backend(backend, device.is_cuda(), nccl_data_plane_available());
  // One process has nothing to exchange: auto brings no NCCL up for it (nccl, asked for, does).
  const bool alone = host.size() == 1 && backend == "auto";
  if (choice == "nccl" && !alone) {
#if defined(PROSPECT_HAVE_NCCL) && defined(PROSPECT_HAVE_CUDA_STREAMS)
    auto plane = std::make_unique<NcclDataPlane>(host, device, make_device_streams(device), timeout_s);
    spdlog::info("data plane: NCCL {} on {}, its own stream (dist.backend={}); host plane: {}", nccl_version(),
                 device.str(), backend, host.backend());
    return plane;
#endif
  }
  auto plane = make_mpi_data_plane(host, device);
  const bool staged = device.is_cuda() && host.size() > 1 && !(host.backend() == "mpi" && mpi_cuda_aware());
  spdlog::info("data plane: {} on {}{} (dist.backend={}{}); host plane: {}", host.backend(), device.str(),
               staged ? ", staged through pinned host buffers" : "", backend,
               choice == "nccl" ? ": one process, no NCCL needed" : "", host.backend());
  return plane;
}

}  // namespace prospect
