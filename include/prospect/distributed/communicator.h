// The host plane: the one interface the trainer and the evaluator talk to for collectives of *host*
// memory (counts, losses, flags, gathers, barriers). Backends: MPI (mpi_comm.cpp) and "single".
// Device memory (gradients, parameters) takes the data plane instead (data_plane.h: NCCL or MPI).
// Every collective is bounded by a timeout: a dead or stuck peer raises PeerError (exit 4), never a
// hang. Moves bytes and numbers only: knows nothing of tensors or layers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace prospect {

enum class DType { F32, F64, I64, U8 };
enum class ReduceOp { Sum, Max };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f64", "i64", "u8": for messages

// A collective in flight. wait() returns when done, throws PeerError past the deadline.
struct Work {
  virtual ~Work() = default;
  virtual bool test() = 0;  // true when complete (drives progress)
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi" | "single"

  virtual void all_reduce(void* buf, size_t count, DType t, ReduceOp op) = 0;
  virtual std::unique_ptr<Work> all_reduce_async(void* buf, size_t count, DType t, ReduceOp op) = 0;
  virtual void broadcast(void* buf, size_t count, DType t, int root) = 0;
  virtual void barrier() = 0;
  // A barrier bounded by its own limit instead of dist.timeout_s, for a wait known to be long: the
  // peers' wait while rank 0 writes a checkpoint (dist.save_timeout_s). `limit` names the setting in
  // the timeout's message.
  virtual void barrier(double timeout_s, const std::string& limit) = 0;
  // Gathers every rank's bytes on root, in rank order (empty vector on the other ranks).
  virtual std::vector<std::string> gather_bytes(const std::string& mine, int root) = 0;
  // Ends the whole job now with this exit code (MPI_Abort): for an error on one rank that the others
  // cannot know about (they would otherwise wait for it in the next collective until the timeout).
  virtual void abort(int code) = 0;
  // abort(code) after telling rank 0 which rank failed and why, so the job's log (rank 0's) says it:
  // rank 0 logs "rank R failed: <message>" when it next waits in a collective and ends the job itself.
  // A rank 0 that does not look within 30 s (busy outside collectives) is not waited for. The default
  // only aborts (the message stays in this rank's own log).
  virtual void fail_job(int code, const std::string& message) { (void)message, abort(code); }
  // Rank 0: ends the job here if another rank reported a failure (fail_job). Waits in collectives look
  // by themselves; a loop that runs long without one (evaluation's clips) calls this between its units.
  virtual void check_peer_failures() {}
};

// Sums a struct of named double fields over the ranks, in place, in one all-reduce: counts and sums
// travel with their names instead of as an array read by index. T must hold doubles only (its
// layout is then that of a double array; the assertion checks what the language can).
template <typename T>
void all_reduce_sum(Communicator& comm, T* fields) {
  static_assert(std::is_standard_layout_v<T> && std::is_trivially_copyable_v<T> && alignof(T) == alignof(double) &&
                    sizeof(T) % sizeof(double) == 0,
                "all_reduce_sum: T must be a struct of doubles");
  comm.all_reduce(fields, sizeof(T) / sizeof(double), DType::F64, ReduceOp::Sum);
}

// Runs a program's distributed part. An exception escaping body on one rank ends the whole job at
// once with the exception's exit code (Error::code, else 1; logged first, then fail_job(), which
// puts the rank and the message in rank 0's log too), instead of
// leaving the other ranks waiting for this one in their next collective until dist.timeout_s. With
// world size 1 the exception propagates (run_app maps it). StopRequested always propagates: the ranks
// agreed on it together, and aborting could cut rank 0's checkpoint short. Returns body's result.
//   return run_app([&] { ...parse...; auto comm = make_communicator(...);
//                        return run_ranks(*comm, [&] { return train(cfg, *comm); }); });
int run_ranks(Communicator& comm, const std::function<int()>& body);

// world size 1, no MPI needed (tests, single-process tools): every collective is the identity.
std::unique_ptr<Communicator> make_single_communicator();

// The host plane of a job launched by MPI (data_plane.h): always MPI, whatever dist.backend says
// (host scalars never take NCCL); dist.backend chooses the data plane (make_data_plane). Checks here
// that dist.backend names a backend (UsageError otherwise). Every collective is bounded by timeout_s
// (dist.timeout_s); past it the job ends with exit 4.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, double timeout_s);

// This process's rank among the processes of its node (which GPU it takes, model/device.h): MPI's
// shared-memory split for an MPI communicator; else the launcher's OMPI_COMM_WORLD_LOCAL_RANK or
// SLURM_LOCALID; else 0.
int node_local_rank(const Communicator& comm);

}  // namespace prospect
