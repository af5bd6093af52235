// The NCCL data plane on real GPUs (CTest label gpu; tests/gpu/CMakeLists.txt registers them only
// where configure found a device). Run alone it is one rank per visible GPU in turn (NCCL of one rank:
// the path, the streams and the data left intact); under mpirun -n N (N = the GPUs of the machine) each
// rank takes the GPU of its local rank and the sums are checked. Every DType, sizes 1 element to 64 MB.
// NCCL refuses two ranks on one GPU: on a one-GPU machine the sum itself is checked only by the CPU/MPI
// tests of the same bucket code (tests/distributed).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <cstdlib>

#include "prospect/distributed/communicator.h"
#include "prospect/distributed/data_plane.h"

using namespace prospect;

namespace {

bool under_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }

Communicator& host() {
  static std::unique_ptr<Communicator> c = under_mpirun() ? make_communicator("nccl", 60.0) : make_single_communicator();
  return *c;
}

// 1 element, a few odd sizes, 1 MB and 64 MB (in bytes of the dtype).
std::vector<int64_t> sizes_for(at::ScalarType t) {
  const int64_t es = int64_t(c10::elementSize(t));
  return {1, 3, 1000, 4097, (int64_t(1) << 20) / es, (int64_t(64) << 20) / es};
}

// rank r's value at i: small integers, exact in every dtype (uint8 sums stay below 256 for <= 8 ranks)
at::Tensor values(int64_t n, at::ScalarType t, int rank, const c10::Device& d) {
  return (at::arange(n, at::TensorOptions().dtype(at::kLong)).remainder(7) + rank * 3).to(d, t);
}

void check_plane_on(const c10::Device& device) {
  Communicator& h = host();
  auto plane = make_data_plane("nccl", device, h, 60.0);
  ASSERT_EQ(plane->backend(), "nccl");
  const int n = plane->size(), r = plane->rank();
  for (auto t : {at::kFloat, at::kDouble, at::kLong, at::kByte}) {
    for (int64_t count : sizes_for(t)) {
      SCOPED_TRACE(std::string(c10::toString(t)) + " x " + std::to_string(count));
      // all-reduce: the compute stream writes, the comm stream waits for it, then the compute stream
      // waits for the comm stream before the check reads the result
      at::Tensor x = values(count, t, r, device);
      auto ready = plane->compute_stream().record();
      Collective c = plane->all_reduce_async(x, ReduceOp::Sum, *ready);
      c.work->wait();
      plane->compute_stream().wait(*c.done);
      at::Tensor want = at::zeros({count}, at::TensorOptions().dtype(at::kLong));
      for (int q = 0; q < n; ++q) want += values(count, at::kLong, q, c10::Device(c10::kCPU));
      EXPECT_TRUE(at::equal(x.to(c10::kCPU, at::kLong), want));
      // broadcast from the last rank
      at::Tensor y = values(count, t, r, device);
      plane->broadcast(y, n - 1);
      EXPECT_TRUE(at::equal(y.cpu(), values(count, t, n - 1, c10::Device(c10::kCPU))));
    }
  }
}

}  // namespace

TEST(NcclGpu, AllReduceAndBroadcastEveryDtypeAndSize) {
  ASSERT_TRUE(torch::cuda::is_available());
  if (under_mpirun()) {
    // one rank per GPU: the local rank's
    const int gpus = int(torch::cuda::device_count());
    ASSERT_GE(gpus, host().size()) << "run with at most one rank per GPU";
    check_plane_on(c10::Device(c10::kCUDA, c10::DeviceIndex(node_local_rank(host()) % gpus)));
  } else {
    for (int g = 0; g < int(torch::cuda::device_count()); ++g) {
      SCOPED_TRACE("GPU " + std::to_string(g));
      check_plane_on(c10::Device(c10::kCUDA, c10::DeviceIndex(g)));
    }
  }
}
