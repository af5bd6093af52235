// The MPI backend of Communicator (CPU memory), and the few MPI facts other backends need.
//
// Initialises MPI (MPI_THREAD_MULTIPLE) if nobody did, and finalises it at exit if it did. Every
// blocking collective is a non-blocking one (MPI_Iallreduce, MPI_Ibcast, ...) polled with MPI_Test
// against a deadline of timeout_s. Past the deadline the watchdog logs which collective stalled and
// which peers are suspected (those that do not answer a probe on a side communicator, or answer that
// they have not reached this collective yet), then, by default, MPI_Abort(4) ends the whole job.
// With abort_on_timeout = false it throws PeerError instead (tests; callers that want to clean up);
// the communicator is then broken: every later call throws, and its destructor calls MPI_Abort(4)
// because MPI_Finalize could wait forever for the lost peer.
//
// Threads: MPI_THREAD_MULTIPLE, so a communication thread may poll Work::test()/wait() while the
// main thread starts other collectives. Collectives must still be *started* in the same order on
// every rank (the reducer starts its buckets in one fixed order).
#pragma once
#include <memory>

#include "prospect/distributed/communicator.h"

namespace prospect {

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s, bool abort_on_timeout = true);

// The rank among the processes on this node (MPI_Comm_split_type SHARED); initialises MPI if needed.
int mpi_local_rank();

// Whether this MPI reads and writes CUDA device memory itself (Open MPI's MPIX_Query_cuda_support at
// run time; false where the build cannot ask). Initialises MPI if needed.
bool mpi_cuda_aware();

}  // namespace prospect
