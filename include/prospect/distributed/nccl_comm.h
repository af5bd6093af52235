// NCCL on raw *device* pointers: the engine under the NCCL data plane (data_plane.h), never a
// Communicator, so no host buffer can reach it through the trainer's host collectives. No LibTorch
// here. Compiled only with PROSPECT_HAVE_NCCL.
//
// Bring-up: rank 0 makes the unique id (ncclGetUniqueId) and broadcasts it over the host
// communicator (MPI), then every rank joins (ncclCommInitRankConfig, non-blocking). The version of
// the NCCL library loaded is logged.
//
// Collectives are enqueued on the stream given at creation (the data plane's comm stream; the
// caller makes it wait for the stream that produced the data). Completion is a cudaEvent polled from
// the host against timeout_s (the watchdog): past it, or on an asynchronous NCCL error, the
// communicator is aborted (ncclCommAbort), the error names the rank and the collective, and the job
// ends with exit 4 (the host communicator's abort).
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "prospect/distributed/communicator.h"

namespace prospect {

// True when this build has NCCL (PROSPECT_HAVE_NCCL).
bool nccl_available();

// The NCCL library's version at run time ("2.29.7"), or "" without NCCL.
std::string nccl_version();

class NcclComm {
 public:
  virtual ~NcclComm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place, on device memory, enqueued on the stream; the Work polls its completion.
  virtual std::unique_ptr<Work> all_reduce_async(void* device_buf, size_t count, DType t, ReduceOp op) = 0;
  virtual std::unique_ptr<Work> broadcast_async(void* device_buf, size_t count, DType t, int root) = 0;
};

// gpu: the CUDA device index (already current); cuda_stream: a cudaStream_t on it. host carries the
// unique id and ends the job on failure; it must outlive the NcclComm.
std::unique_ptr<NcclComm> make_nccl_comm(Communicator& host, int gpu, void* cuda_stream, double timeout_s);

}  // namespace prospect
