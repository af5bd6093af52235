// The two planes of a distributed run.
//
//   host plane  (Communicator, communicator.h): host memory, always MPI (or "single"). Every host
//               scalar the trainer and the evaluator exchange: label counts, loss parts, the stop
//               flag, validation counts, the bad-step flag, the evaluation's gather, barriers.
//   data plane  (DataPlane, here): tensors only, on the model's device. Gradient buckets (reducer.h)
//               and the start-of-run parameter broadcast. NCCL when the model is on CUDA
//               (dist.backend=auto), MPI otherwise.
//
// The split is in the types: a DataPlane takes torch::Tensor and checks its device, and is not a
// Communicator; the NCCL engine (nccl_comm.h) is reachable only through a DataPlane. So a host
// pointer cannot reach NCCL, and the trainer's host structs (all_reduce_sum) cannot reach the data
// plane. A device tensor on the MPI data plane is staged through a pinned host buffer (copies
// ordered on the comm stream) unless MPI says it is CUDA-aware (MPIX_Query_cuda_support).
//
//   ┌─ rank r ───────────────────────────────────────────────────────────────┐
//   │ trainer: counts, losses, flags ──► host plane (MPI) ─────────────────── │ ─► other ranks
//   │ backward (compute stream) ─ event ─► comm stream: data plane (NCCL|MPI) │ ─► other ranks
//   │ optimizer (compute stream) ◄─ event ─┘                                  │
//   └────────────────────────────────────────────────────────────────────────┘
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>

#include "prospect/distributed/communicator.h"
#include "prospect/distributed/stream.h"

namespace prospect {

// A collective in flight on the data plane: `work` polls it from the host (the watchdog), `done` is
// an event on the comm stream after it, for the compute stream to wait on.
struct Collective {
  std::unique_ptr<Work> work;
  std::shared_ptr<Event> done;
};

class DataPlane {
 public:
  virtual ~DataPlane() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "nccl" | "mpi" | "single"
  virtual c10::Device device() const = 0;   // every tensor it takes lives here
  virtual Stream& compute_stream() = 0;
  virtual Stream& comm_stream() = 0;

  // In place on t (contiguous, float32/float64/int64/uint8, on device()). The comm stream first waits
  // for `ready` (an event of the stream that wrote t).
  virtual Collective all_reduce_async(torch::Tensor t, ReduceOp op, Event& ready) = 0;
  // Rank root's t everywhere, in place; returns once the compute stream is ordered after it.
  virtual void broadcast(torch::Tensor t, int root) = 0;
};

// The data plane's backend for dist.backend, the model's device and whether this build has the NCCL
// data plane: "nccl" or "mpi". A pure function (the rule, tested without a GPU). UsageError (exit 2)
// naming dist.backend for an unknown value, or nccl without a CUDA device or without an NCCL build.
std::string choose_data_backend(const std::string& backend, bool device_is_cuda, bool nccl_built);

// Whether this build has the NCCL data plane: NCCL and the CUDA streams (a CUDA LibTorch 2.x).
bool nccl_data_plane_available();

// The data plane for dist.backend on `device`, over the host plane's ranks (host must outlive it and
// is used for the NCCL id, aborts, and MPI collectives). Logs the choice (with NCCL's version). One
// process with dist.backend=auto gets the identity plane even on a GPU (nothing to exchange); nccl
// asked for brings NCCL up even for one process (tools/gpu_check.sh's one-GPU step).
std::unique_ptr<DataPlane> make_data_plane(const std::string& backend, const c10::Device& device, Communicator& host,
                                           double timeout_s);

// The MPI data plane over host: the CPU streams for CPU tensors, staging for device tensors. Also
// what a Reducer built on a Communicator uses.
std::unique_ptr<DataPlane> make_mpi_data_plane(Communicator& host, const c10::Device& device);

// A data plane from its parts (tests: recording streams around the MPI plane's collectives).
std::unique_ptr<DataPlane> make_mpi_data_plane(Communicator& host, const c10::Device& device, DeviceStreams streams);

}  // namespace prospect
