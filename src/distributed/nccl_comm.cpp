// The NCCL backend (compiled only with PROSPECT_HAVE_NCCL). Device pointers and counts in, no
// LibTorch. Non-blocking everywhere: the communicator is created with config.blocking = 0 and every
// operation is polled (ncclCommGetAsyncError, cudaEventQuery) against the deadline, so a lost peer
// ends in ncclCommAbort + MPI_Abort(4) instead of a hang. See nccl_comm.h.
#include "prospect/distributed/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <spdlog/spdlog.h>
#include <thread>

#include "prospect/core/error.h"

namespace prospect {

bool nccl_available() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA {} failed: {}", what, cudaGetErrorString(e));
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I64: return ncclInt64;
    case DType::U8: return ncclUint8;
  }
  return ncclFloat32;
}

class NcclCommunicator;

struct NcclWork : Work {
  NcclCommunicator* comm;
  std::string what;
  cudaEvent_t event = nullptr;
  bool done = false;
  NcclWork(NcclCommunicator* c, std::string w) : comm(c), what(std::move(w)) {}
  ~NcclWork() override;
  bool test() override;
  void wait() override;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> mpi, int device, double timeout_s)
      : mpi_(std::move(mpi)), timeout_s_(timeout_s) {
    int n = 0;
    cuda_check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
    PROSPECT_CHECK(n > 0, "NCCL backend: no CUDA device visible on rank {}", mpi_->rank());
    device_ = device % n;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    // Blocking stream on purpose: it synchronises with the legacy default stream (nccl_comm.h).
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault), "cudaStreamCreate");

    ncclUniqueId id;
    if (mpi_->rank() == 0 && ncclGetUniqueId(&id) != ncclSuccess) fail("ncclGetUniqueId failed");
    mpi_->broadcast(&id, sizeof(id), DType::U8, 0);

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&comm_, mpi_->size(), id, mpi_->rank(), &config);
    if (r != ncclSuccess && r != ncclInProgress) fail("ncclCommInitRankConfig failed: {}", ncclGetErrorString(r));
    wait_async("ncclCommInitRank");
    spdlog::info("NCCL {} communicator: {} ranks, rank {} on GPU {}", NCCL_VERSION_CODE, mpi_->size(), mpi_->rank(),
                 device_);
  }
  ~NcclCommunicator() override {
    if (comm_) {
      if (broken_) ncclCommAbort(comm_);
      else ncclCommDestroy(comm_);
    }
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  std::string backend() const override { return "nccl"; }

  void all_reduce(void* buf, size_t count, DType t, ReduceOp op) override {
    all_reduce_async(buf, count, t, op)->wait();
  }
  std::unique_ptr<Work> all_reduce_async(void* buf, size_t count, DType t, ReduceOp op) override {
    auto w = std::make_unique<NcclWork>(this, fmt::format("nccl all_reduce ({} elements)", count));
    nccl_check(ncclAllReduce(buf, buf, count, nccl_type(t), op == ReduceOp::Sum ? ncclSum : ncclMax, comm_, stream_),
               w->what);
    record(*w);
    return w;
  }
  void broadcast(void* buf, size_t count, DType t, int root) override {
    if (root < 0 || root >= size()) throw UsageError(fmt::format("broadcast: root {} out of range", root));
    NcclWork w(this, fmt::format("nccl broadcast ({} elements, root {})", count, root));
    nccl_check(ncclBroadcast(buf, buf, count, nccl_type(t), root, comm_, stream_), w.what);
    record(w);
    w.wait();
  }
  // Host-side: through MPI.
  void barrier() override { mpi_->barrier(); }
  void barrier(double timeout_s, const std::string& limit) override { mpi_->barrier(timeout_s, limit); }
  std::vector<std::string> gather_bytes(const std::string& mine, int root) override {
    return mpi_->gather_bytes(mine, root);
  }
  void abort(int code) override {
    broken_ = true;
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_->abort(code);
  }
  void fail_job(int code, const std::string& message) override {
    broken_ = true;
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_->fail_job(code, message);
  }
  void check_peer_failures() override { mpi_->check_peer_failures(); }

  double timeout_s() const { return timeout_s_; }

  [[noreturn]] void fail_op(const std::string& what, const std::string& why) {
    broken_ = true;
    spdlog::error("collective {} on rank {} {}; aborting the NCCL communicator and the job (exit {})", what,
                  rank(), why, int(kExitPeerFailed));
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_->abort(kExitPeerFailed);
    std::abort();  // not reached
  }

  // An asynchronous NCCL error (a peer lost, a network failure) ends the wait early.
  void check_async(const std::string& what) {
    ncclResult_t st = ncclSuccess;
    ncclCommGetAsyncError(comm_, &st);
    if (st != ncclSuccess && st != ncclInProgress) fail_op(what, std::string("failed: ") + ncclGetErrorString(st));
  }

 private:
  void nccl_check(ncclResult_t r, const std::string& what) {
    if (r == ncclSuccess) return;
    if (r == ncclInProgress) {  // non-blocking communicator: the enqueue itself may still be running
      wait_async(what);
      return;
    }
    fail_op(what, std::string("failed to start: ") + ncclGetErrorString(r));
  }
  void wait_async(const std::string& what) {
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s_);
    for (;;) {
      ncclResult_t st = ncclSuccess;
      ncclCommGetAsyncError(comm_, &st);
      if (st == ncclSuccess) return;
      if (st != ncclInProgress) fail_op(what, std::string("failed: ") + ncclGetErrorString(st));
      if (Clock::now() > deadline) fail_op(what, fmt::format("timed out after {:.1f} s (dist.timeout_s)", timeout_s_));
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  void record(NcclWork& w) {
    cuda_check(cudaEventCreateWithFlags(&w.event, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(w.event, stream_), "cudaEventRecord");
  }

  std::unique_ptr<Communicator> mpi_;
  double timeout_s_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;
};

NcclWork::~NcclWork() {
  if (event) cudaEventDestroy(event);
}

bool NcclWork::test() {
  if (done) return true;
  cudaError_t e = cudaEventQuery(event);
  if (e == cudaSuccess) return done = true;
  if (e != cudaErrorNotReady) comm->fail_op(what, std::string("CUDA error: ") + cudaGetErrorString(e));
  comm->check_async(what);
  return false;
}

void NcclWork::wait() {
  auto deadline = Clock::now() + std::chrono::duration<double>(comm->timeout_s());
  while (!test()) {
    if (Clock::now() > deadline)
      comm->fail_op(what, fmt::format("timed out after {:.1f} s (dist.timeout_s)", comm->timeout_s()));
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> mpi, int device,
                                                     double timeout_s) {
  PROSPECT_CHECK(mpi != nullptr, "make_nccl_communicator: no MPI communicator to carry the NCCL id");
  return std::make_unique<NcclCommunicator>(std::move(mpi), device, timeout_s);
}

}  // namespace prospect
