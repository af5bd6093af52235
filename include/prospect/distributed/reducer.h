// Gradient all-reduce in buckets, overlapped with backward (like PyTorch DDP), on a data plane (data_plane.h).
//
// Buckets: the trainable parameters in *reverse* order (the order backward usually produces their
// gradients), cut into buckets of ~bucket_mb (the first one ~first_bucket_mb, so communication starts
// early), one dtype and device per bucket. The layout depends only on the parameter list, which
// broadcast_parameters() checks is the same on every rank, so every rank has the same buckets.
// Registration order is not always use order (the DST model's frame projector is registered after the
// decoder but used first, so its gradients come last): after the first sync step, with overlap, the
// buckets are rebuilt once in the order rank 0's backward produced the gradients (broadcast from rank
// 0, so every rank again has the same buckets; unseen parameters last), as DDP does. The sums do not
// depend on the layout (each element is reduced on its own).
//
// Hooks: a post hook on each parameter's AccumulateGrad node fires once its gradient has been added
// to param.grad() (so the value read is final for this backward, earlier micro-steps included). When
// every parameter of a bucket has fired, the bucket is copied into a flat buffer and its all-reduce
// (SUM, no averaging: the losses are already divided by global counts) is started. Buckets are
// started strictly in bucket order, on every rank, so collectives match even when ranks see their
// gradients in a different order or some parameters get none.
//
// Only on the sync micro-step (set_sync(true): the last of an accumulation); the others just
// accumulate locally. Parameters that got no gradient in this backward (unused) are reduced at
// finalize() with their current grad (zeros when undefined), so every rank ends with the same sum,
// as DDP's find_unused_parameters; a parameter no rank has a gradient for keeps an undefined grad
// (as in a single process). Frozen parameters (requires_grad false) are not in any bucket. Buckets
// start in order, so a bucket with a parameter unused on some rank holds back the buckets after it
// until finalize() (correct, less overlap; logged once): freeze parameters that are never used.
//
// Streams (stream.h, data_plane.h): a bucket's flat buffer is filled on the compute stream (the one
// backward runs on), an event is recorded after it, and the all-reduce on the data plane's comm
// stream waits for that event; finalize() makes the compute stream wait for every bucket's "done"
// event before copying the sums back, so the optimizer step is ordered after the communication with
// no device-wide synchronisation. On the CPU the same calls go to the CPU streams (tests record them).
//
// Progress: Debian's Open MPI has no asynchronous progress (a non-blocking all-reduce advances only
// inside MPI calls), so with overlap a communication thread owned by the reducer polls each started
// all-reduce (Work::test() every 50 us, then Work::wait(), which watches the timeout) while backward
// goes on. The main thread only *starts* collectives (in bucket order); the thread only polls them.
// No other collective may be started on the same communicator between the first backward hook of a
// sync step and finalize().
//
// Per optimizer step, k micro-steps:
//   for (int m = 0; m < k; ++m) {
//     reducer.set_sync(m == k - 1);
//     loss_m.backward();
//   }
//   double waited_s = reducer.finalize();   // every grad now holds the sum over ranks
//   ... clip, optimizer step, zero_grad ...
//
// A parameter whose AccumulateGrad runs twice in one backward after its bucket was started (used both
// inside and outside a re-entrant checkpoint) cannot be reduced early: finalize() throws an Error
// naming it; run with dist.overlap=false (everything reduced in finalize(), always correct).
#pragma once
#include <torch/nn/module.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "prospect/distributed/communicator.h"
#include "prospect/distributed/data_plane.h"

namespace prospect {

struct ReducerOptions {
  double bucket_mb = 25.0;       // dist.bucket_mb
  double first_bucket_mb = 1.0;  // DDP's small first bucket
  bool overlap = true;           // dist.overlap: false = reduce everything in finalize()
};

class Reducer {
 public:
  // Over a data plane (data_plane.h) on the parameters' device: the trainer's way.
  Reducer(std::vector<std::pair<std::string, torch::Tensor>> named_params, DataPlane& data, ReducerOptions opts = {});
  // Over an MPI host communicator: an MPI data plane of its own on the parameters' device.
  Reducer(std::vector<std::pair<std::string, torch::Tensor>> named_params, Communicator& comm,
          ReducerOptions opts = {});
  Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // true: the next backward reduces (the last micro-step of an accumulation).
  void set_sync(bool sync);
  bool sync() const { return sync_; }

  // After the sync backward: starts the buckets not started yet, waits for all, copies the sums back
  // into param.grad(). Returns the seconds it waited (communication not hidden by backward). A no-op
  // returning 0 when the last backward was not a sync one. Throws PeerError/Error on failure.
  double finalize();

  int num_buckets() const { return int(buckets_.size()); }
  // The parameter names of bucket b, in the bucket's order (tests, logs).
  std::vector<std::string> bucket_names(int b) const;
  // Buckets started in the last sync step while backward still had gradients to produce (before the
  // last trainable parameter's first gradient; a parameter no gradient reaches counts as still to
  // come): the overlap achieved. Buckets that start only at backward's last gradient hide nothing.
  int last_started_early() const { return last_started_early_; }

 private:
  struct Param {
    std::string name;
    torch::Tensor tensor;
    int bucket = -1;
    int64_t offset = 0;  // in the bucket's flat buffer, in elements
    int fired = 0;       // AccumulateGrad calls in this sync backward
  };
  struct Bucket {
    std::vector<int> params;
    torch::Tensor flat;  // the gradients (numel elements), then one "has a gradient" flag per parameter
    int64_t numel = 0;
    DType dtype = DType::F32;
    int pending = 0;  // parameters not fired yet in this sync backward
    bool started = false;
    std::unique_ptr<Work> work;   // its all-reduce in this round (polled by the communication thread)
    std::shared_ptr<Event> done;  // on the comm stream after it: the compute stream waits in finalize()
  };

  void init(std::vector<std::pair<std::string, torch::Tensor>> named_params);
  void build_buckets(const std::vector<int>& order);  // params_ indices, first bucket first
  void adopt_backward_order();                         // in finalize() of the first sync step
  void note_first_gradient(int p);                     // p's first gradient in this sync backward
  void install_hooks();
  void on_grad_ready(int p);       // from the AccumulateGrad post hook
  void start_ready_buckets();      // in order, while the next one is complete
  void start_bucket(int b);
  void comm_thread_main();
  void reset_round();

  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // keep the hooked nodes alive
  std::vector<uintptr_t> hook_keys_;                                  // to remove the hooks again
  std::unique_ptr<DataPlane> owned_plane_;  // built from a Communicator
  DataPlane* data_;
  ReducerOptions opts_;
  bool sync_ = false;
  bool active_ = false;  // a sync backward has fired hooks since the last finalize()
  int next_bucket_ = 0;  // the next bucket to start
  std::vector<std::string> late_;  // parameters that fired after their bucket started
  int last_started_early_ = 0;
  bool warned_unused_ = false;
  std::vector<int> fire_order_;  // first sync backward: parameters in the order their gradient came
  bool order_fixed_ = false;     // buckets follow backward's order (or need not: no overlap)
  int first_gradients_ = 0;      // parameters with a gradient so far in this sync backward
  int started_before_last_ = 0;  // buckets started while some parameter had none yet

  // The communication thread: waits on the started all-reduces in order.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Work*> queue_;  // started (owned by their buckets), not yet waited on by the thread
  int launched_ = 0, completed_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Makes every rank's parameters and buffers equal to rank 0's. First checks that every rank has the
// same list (name, shape, dtype, requires_grad; a hash of it is gathered on rank 0): a mismatch is an
// Error on every rank naming the first differing entry and the rank. Collective. The check goes over
// the host plane (comm), the values over the data plane (data).
void broadcast_parameters(torch::nn::Module& module, Communicator& comm, DataPlane& data);
// The same with an MPI data plane of its own on the module's device.
void broadcast_parameters(torch::nn::Module& module, Communicator& comm);

// The parameter list description hashed by broadcast_parameters (one "name shape dtype trainable"
// line per parameter, then buffers).
std::string describe_parameters(torch::nn::Module& module);

}  // namespace prospect
