// NCCL on device pointers (compiled only with PROSPECT_HAVE_NCCL). No LibTorch. Non-blocking
// everywhere: the communicator is created with config.blocking = 0 and every operation is polled (ncclCommGetAsyncError, cudaEventQuery) against the deadline, so a lost peer
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

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "(unknown version)";
  // NCCL >= 2.9 codes a version as major*10000 + minor*100 + patch.
  return fmt::format("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
}

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

class NcclCommunicator : public NcclComm {
 public:
  NcclCommunicator(Communicator& host, int gpu, void* stream, double timeout_s)
      : host_(host), timeout_s_(timeout_s), device_(gpu), stream_(static_cast<cudaStream_t>(stream)) {
    PROSPECT_CHECK(stream_ != nullptr, "NCCL on rank {}: no CUDA stream given", host_.rank());
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    if (host_.rank() == 0) {
      ncclResult_t r = ncclGetUniqueId(&id);
      if (r != ncclSuccess) fail("rank 0: ncclGetUniqueId failed: {}", ncclGetErrorString(r));
    }
    host_.broadcast(&id, sizeof(id), DType::U8, 0);  // host memory, over MPI

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&comm_, host_.size(), id, host_.rank(), &config);
    if (r != ncclSuccess && r != ncclInProgress)
      fail("rank {}: ncclCommInitRankConfig failed: {}", host_.rank(), ncclGetErrorString(r));
    wait_async("ncclCommInitRank");
    spdlog::info("NCCL {} communicator: {} ranks, rank {} on GPU {}", nccl_version(), host_.size(), host_.rank(),
                 device_);
  }
  ~NcclCommunicator() override {
    if (comm_) {
      if (broken_) ncclCommAbort(comm_);
      else ncclCommDestroy(comm_);
    }
  }

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }

  std::unique_ptr<Work> all_reduce_async(void* buf, size_t count, DType t, ReduceOp op) override {
    auto w = std::make_unique<NcclWork>(this, fmt::format("ncclAllReduce ({} x {}, {})", count, dtype_name(t),
                                                          op == ReduceOp::Sum ? "sum" : "max"));
    nccl_check(ncclAllReduce(buf, buf, count, nccl_type(t), op == ReduceOp::Sum ? ncclSum : ncclMax, comm_, stream_),
               w->what);
    record(*w);
    return w;
  }
  std::unique_ptr<Work> broadcast_async(void* buf, size_t count, DType t, int root) override {
    if (root < 0 || root >= size()) throw UsageError(fmt::format("broadcast: root {} out of range", root));
    auto w = std::make_unique<NcclWork>(this, fmt::format("ncclBroadcast ({} x {}, root {})", count, dtype_name(t), root));
    nccl_check(ncclBroadcast(buf, buf, count, nccl_type(t), root, comm_, stream_), w->what);
    record(*w);
    return w;
  }

  double timeout_s() const { return timeout_s_; }

  // The watchdog's end: abort NCCL first (a collective stuck on the GPU would keep the process),
  // then the whole job through MPI with exit 4.
  [[noreturn]] void fail_op(const std::string& what, const std::string& why) {
    broken_ = true;
    spdlog::error("NCCL collective {} on rank {} {}; aborting the NCCL communicator and the job (exit {})", what,
                  rank(), why, int(kExitPeerFailed));
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_.abort(kExitPeerFailed);
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

  Communicator& host_;
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

std::unique_ptr<NcclComm> make_nccl_comm(Communicator& host, int gpu, void* cuda_stream, double timeout_s) {
  return std::make_unique<NcclCommunicator>(host, gpu, cuda_stream, timeout_s);
}

}  // namespace prospect
