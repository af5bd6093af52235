// The NCCL backend of Communicator: all_reduce / all_reduce_async / broadcast on raw *device* pointers
// and counts (no LibTorch needed), on a dedicated CUDA stream; barrier and gather_bytes (host bytes)
// go through the MPI communicator it owns, which also carried the NCCL unique id from rank 0.
//
// Ordering with the caller's work: the stream is created *blocking* (cudaStreamDefault), so it
// synchronises implicitly with the legacy default stream that LibTorch uses unless told otherwise:
// copies into a buffer issued before the collective finish before it, and the caller's later
// kernels wait for it. Completion is a cudaEvent polled against timeout_s; past it ncclCommAbort,
// an error naming the collective, and MPI_Abort(4).
#pragma once
#include <memory>

#include "prospect/distributed/communicator.h"

namespace prospect {

// True when this build has the NCCL backend (PROSPECT_HAVE_NCCL).
bool nccl_available();

// device: the local rank; the GPU used is device % (visible GPUs). Throws Error when NCCL is not
// built in or no GPU is visible.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> mpi, int device,
                                                     double timeout_s);

}  // namespace prospect
