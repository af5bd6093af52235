// dtype sizes, the single-process communicator, and the run-time choice of backend.
#include "prospect/distributed/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <spdlog/spdlog.h>

#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/nccl_comm.h"

namespace prospect {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

namespace {

struct DoneWork : Work {
  bool test() override { return true; }
  void wait() override {}
};

// World size 1: every collective leaves the buffer as it is.
class SingleCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(void*, size_t, DType, ReduceOp) override {}
  std::unique_ptr<Work> all_reduce_async(void*, size_t, DType, ReduceOp) override {
    return std::make_unique<DoneWork>();
  }
  void broadcast(void*, size_t, DType, int root) override {
    PROSPECT_CHECK(root == 0, "broadcast: root {} out of range for world size 1", root);
  }
  void barrier() override {}
  void barrier(double, const std::string&) override {}
  std::vector<std::string> gather_bytes(const std::string& mine, int root) override {
    PROSPECT_CHECK(root == 0, "gather_bytes: root {} out of range for world size 1", root);
    return {mine};
  }
  void abort(int code) override {
    spdlog::default_logger()->flush();
    std::_Exit(code);
  }
};

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

int run_ranks(Communicator& comm, const std::function<int()>& body) {
  if (comm.size() == 1) return body();
  int code = kExitError;
  std::string message;
  try {
    return body();
  } catch (const StopRequested&) {
    throw;  // every rank agreed to stop (stop_requested_agreed): they all end normally with 3
  } catch (const Error& e) {
    code = e.code;
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  }
  spdlog::error("{}", message);
  spdlog::error("rank {} failed: ending the job with exit code {}", comm.rank(), code);
  comm.fail_job(code, message);
  return code;  // not reached
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s) {
  // The name is checked now; whether it can be met waits for the device (choose_data_backend).
  if (backend != "auto" && backend != "mpi" && backend != "nccl")
    usage_fail("dist.backend: expected auto, mpi or nccl, found '{}'", backend);
  return make_mpi_communicator(timeout_s);  // the host plane is always MPI (data_plane.h)
}

int node_local_rank(const Communicator& comm) {
  if (comm.backend() == "mpi") return mpi_local_rank();
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"})
    if (const char* s = std::getenv(v)) return std::max(0, std::atoi(s));
  return 0;
}

}  // namespace prospect

#ifndef PROSPECT_HAVE_NCCL
namespace prospect {
bool nccl_available() { return false; }
std::string nccl_version() { return ""; }
std::unique_ptr<NcclComm> make_nccl_comm(Communicator&, int, void*, double) {
  fail("this build has no NCCL (NCCL was not found when it was configured)");
}
}  // namespace prospect
#endif
