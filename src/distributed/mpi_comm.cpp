// The MPI backend: non-blocking collectives polled against a deadline (the watchdog), so a dead or
// stopped peer ends the job with a message naming it instead of a hang. See mpi_comm.h.
#include "prospect/distributed/mpi_comm.h"

// The C API only: the deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // Open MPI's MPIX_Query_cuda_support
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fmt/ranges.h>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>

#include "prospect/core/error.h"

namespace prospect {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kProbeTag = 7177;
constexpr int kFailTag = 7178;  // fail_job: a failed rank's exit code and message, to rank 0
constexpr size_t kMaxChunk = size_t(1) << 30;  // MPI counts are int: larger buffers go in chunks

bool g_we_initialised = false;
std::atomic<bool> g_broken{false};  // a collective failed: never MPI_Finalize (it could hang)

void finalize_at_exit() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin && !g_broken.load()) MPI_Finalize();
}

void ensure_mpi() {
  static std::once_flag once;
  std::call_once(once, [] {
    int init = 0;
    MPI_Initialized(&init);
    if (init) {
      int provided = 0;
      MPI_Query_thread(&provided);
      if (provided < MPI_THREAD_MULTIPLE)
        spdlog::warn("MPI was initialised without MPI_THREAD_MULTIPLE: do not poll collectives from a second thread");
      return;
    }
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
      fail("MPI_Init_thread failed");
    if (provided < MPI_THREAD_MULTIPLE)
      spdlog::warn("MPI provides thread level {} < MPI_THREAD_MULTIPLE: overlap thread unsafe", provided);
    g_we_initialised = true;
    std::atexit(finalize_at_exit);
  });
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I64: return MPI_INT64_T;
    case DType::U8: return MPI_UINT8_T;
  }
  return MPI_DATATYPE_NULL;
}

std::string mpi_error_string(int err) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, buf, &len);
  return std::string(buf, len);
}

// How a waiting thread polls. Open MPI has no asynchronous progress: a non-blocking collective only
// moves (fragment by fragment) inside MPI calls, so a large buffer needs frequent MPI_Tests. For the
// first 50 ms the waiter tests back to back, yielding the core to anything else runnable; past that
// it is most likely waiting for a slower peer, and sleeps a little longer each time (at most 1 ms).
struct Backoff {
  Clock::time_point start = Clock::now();
  int n = 0;
  void pause() {
    if (++n < 64) return;
    if (Clock::now() - start < std::chrono::milliseconds(50)) {
      std::this_thread::yield();
      return;
    }
    int us = std::min(1000, 10 * (n % 100000));
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
};

class MpiCommunicator;

// One collective in flight: one or more requests (chunks), all polled together.
struct MpiWork : Work {
  MpiCommunicator* comm;
  std::string what;  // "all_reduce (1024 x f32, sum)" for messages
  long seq;
  double timeout_s;   // the deadline of wait()
  std::string limit;  // the setting that gave it ("dist.timeout_s"), for the message
  std::vector<MPI_Request> reqs;
  bool done = false;
  MpiWork(MpiCommunicator* c, std::string w, long s, double t, std::string l)
      : comm(c), what(std::move(w)), seq(s), timeout_s(t), limit(std::move(l)) {}
  ~MpiWork() override;
  bool test() override;
  void wait() override;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(double timeout_s, bool abort_on_timeout) : timeout_s_(timeout_s), abort_(abort_on_timeout) {
    ensure_mpi();
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_dup(MPI_COMM_WORLD, &probe_comm_);
    MPI_Comm_dup(MPI_COMM_WORLD, &fail_comm_);
    // Errors come back to us (and end the job through fail_collective) rather than through
    // MPI's default handler, so the message says which collective and which peers.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(probe_comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(fail_comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int fin = 0;
    MPI_Finalized(&fin);
    if (fin) return;
    if (broken_) {
      // A peer is lost: MPI_Finalize (or freeing communicators) could wait for it forever.
      spdlog::default_logger()->flush();
      MPI_Abort(MPI_COMM_WORLD, kExitPeerFailed);
    }
    MPI_Comm_free(&fail_comm_);
    MPI_Comm_free(&probe_comm_);
    MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(void* buf, size_t count, DType t, ReduceOp op) override {
    all_reduce_async(buf, count, t, op)->wait();
  }

  std::unique_ptr<Work> all_reduce_async(void* buf, size_t count, DType t, ReduceOp op) override {
    auto w = start("all_reduce", fmt::format("{} x {}, {}", count, dtype_name(t), op == ReduceOp::Sum ? "sum" : "max"));
    MPI_Op mop = op == ReduceOp::Sum ? MPI_SUM : MPI_MAX;
    char* p = static_cast<char*>(buf);
    for (size_t off = 0; off < count; off += kMaxChunk) {
      int n = int(std::min(kMaxChunk, count - off));
      MPI_Request r;
      check(MPI_Iallreduce(MPI_IN_PLACE, p + off * dtype_size(t), n, mpi_type(t), mop, comm_, &r), *w);
      w->reqs.push_back(r);
    }
    return w;
  }

  void broadcast(void* buf, size_t count, DType t, int root) override {
    check_root(root, "broadcast");
    auto w = start("broadcast", fmt::format("{} x {}, root {}", count, dtype_name(t), root));
    char* p = static_cast<char*>(buf);
    for (size_t off = 0; off < count; off += kMaxChunk) {
      int n = int(std::min(kMaxChunk, count - off));
      MPI_Request r;
      check(MPI_Ibcast(p + off * dtype_size(t), n, mpi_type(t), root, comm_, &r), *w);
      w->reqs.push_back(r);
    }
    w->wait();
  }

  void barrier() override { barrier(timeout_s_, "dist.timeout_s"); }

  void barrier(double timeout_s, const std::string& limit) override {
    auto w = start("barrier", "");
    w->timeout_s = timeout_s;
    w->limit = limit;
    MPI_Request r;
    check(MPI_Ibarrier(comm_, &r), *w);
    w->reqs.push_back(r);
    w->wait();
  }

  std::vector<std::string> gather_bytes(const std::string& mine, int root) override {
    check_root(root, "gather_bytes");
    PROSPECT_CHECK(mine.size() <= size_t(INT_MAX), "gather_bytes: {} bytes on rank {} exceed 2 GiB", mine.size(), rank_);
    int n = int(mine.size());
    std::vector<int> sizes(rank_ == root ? size_ : 0);
    {
      auto w = start("gather_bytes", "sizes");
      MPI_Request r;
      check(MPI_Igather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, comm_, &r), *w);
      w->reqs.push_back(r);
      w->wait();
    }
    std::vector<int> displs;
    std::string all;
    if (rank_ == root) {
      displs.resize(size_);
      size_t total = 0;
      for (int i = 0; i < size_; ++i) {
        displs[i] = int(total);
        total += size_t(sizes[i]);
      }
      PROSPECT_CHECK(total <= size_t(INT_MAX), "gather_bytes: {} bytes in all exceed 2 GiB", total);
      all.resize(total);
    }
    {
      auto w = start("gather_bytes", fmt::format("{} bytes", n));
      MPI_Request r;
      check(MPI_Igatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), displs.data(), MPI_BYTE, root, comm_, &r),
            *w);
      w->reqs.push_back(r);
      w->wait();
    }
    std::vector<std::string> out;
    if (rank_ == root)
      for (int i = 0; i < size_; ++i) out.push_back(all.substr(size_t(displs[i]), size_t(sizes[i])));
    return out;
  }

  void abort(int code) override {
    g_broken = true;
    spdlog::default_logger()->flush();
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

  // Another rank sends its code and message to rank 0 on a communicator of their own, then waits for
  // rank 0 to end the job (check_peer_failures, from rank 0's next wait in a collective), but no
  // longer than kFailGraceS: a rank 0 busy outside MPI does not keep the job alive.
  void fail_job(int code, const std::string& message) override {
    if (rank_ == 0 || size_ == 1) abort(code);
    constexpr double kFailGraceS = 30;
    std::string bytes(sizeof(int32_t), '\0');
    const int32_t c = code;
    std::memcpy(bytes.data(), &c, sizeof c);
    bytes += message.substr(0, 1 << 16);
    MPI_Request r;
    if (MPI_Isend(bytes.data(), int(bytes.size()), MPI_BYTE, 0, kFailTag, fail_comm_, &r) == MPI_SUCCESS) {
      auto deadline = Clock::now() + std::chrono::duration<double>(std::min(kFailGraceS, timeout_s_));
      Backoff backoff;
      while (Clock::now() < deadline) {
        int flag = 0;
        if (r != MPI_REQUEST_NULL && MPI_Test(&r, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        backoff.pause();
      }
    }
    spdlog::error("rank 0 did not end the job within {:.0f} s; aborting from rank {}", std::min(kFailGraceS, timeout_s_),
                  rank_);
    abort(code);
  }

  // ---- used by MpiWork ----
  double timeout_s() const { return timeout_s_; }

  // Rank 0: a failure report of another rank (fail_job) ends the job here, with that rank's exit code
  // and its message in rank 0's log. Looks at most every 10 ms (any thread may call; every wait does).
  void check_peer_failures() override {
    if (rank_ != 0 || size_ == 1) return;
    const int64_t now = Clock::now().time_since_epoch().count();
    int64_t last = last_report_check_.load();
    if (now - last < std::chrono::nanoseconds(std::chrono::milliseconds(10)).count() ||
        !last_report_check_.compare_exchange_strong(last, now))
      return;
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, kFailTag, fail_comm_, &flag, &msg, &st) != MPI_SUCCESS || !flag) return;
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    std::string bytes(size_t(std::max(n, 0)), '\0');
    MPI_Mrecv(bytes.data(), n, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    int32_t code = kExitError;
    if (bytes.size() >= sizeof code) std::memcpy(&code, bytes.data(), sizeof code);
    std::string message = bytes.size() >= sizeof code ? bytes.substr(sizeof code) : std::string();
    spdlog::error("rank {} failed: {}", st.MPI_SOURCE, message);
    spdlog::error("rank {} failed: ending the job with exit code {}", st.MPI_SOURCE, int(code));
    abort(code);
  }

  // A collective failed (timeout or MPI error): name it and the suspected peers, then end the job
  // (or throw PeerError when abort is not wanted).
  [[noreturn]] void fail_collective(const MpiWork& w, const std::string& why) {
    broken_ = true;
    g_broken = true;
    std::string msg = fmt::format("collective {} #{} {}", w.what, w.seq, why);
    spdlog::error("{}; probing peers for up to {:.1f} s", msg, probe_grace_s());
    std::string suspects = probe_peers(w.seq);
    msg += "; " + suspects;
    spdlog::error("{}", msg);
    if (abort_) {
      spdlog::error("aborting the job (exit {})", int(kExitPeerFailed));
      spdlog::default_logger()->flush();
      MPI_Abort(MPI_COMM_WORLD, kExitPeerFailed);
      std::_Exit(kExitPeerFailed);
    }
    throw PeerError(msg);
  }

 private:
  void check_root(int root, const char* what) {
    if (root < 0 || root >= size_) throw UsageError(fmt::format("{}: root {} out of range for world size {}", what, root, size_));
  }

  std::unique_ptr<MpiWork> start(const char* name, const std::string& detail) {
    if (broken_) throw PeerError(fmt::format("{}: the communicator is broken by an earlier failed collective", name));
    long s = ++seq_;
    std::string what = detail.empty() ? std::string(name) : fmt::format("{} ({})", name, detail);
    return std::make_unique<MpiWork>(this, what, s, timeout_s_, "dist.timeout_s");
  }

  void check(int err, const MpiWork& w) {
    if (err != MPI_SUCCESS) fail_collective(w, "failed to start: " + mpi_error_string(err));
  }

  double probe_grace_s() const { return std::clamp(0.2 * timeout_s_, 1.0, 5.0); }

  // Every rank in trouble sends its collective number to every peer on a side communicator and
  // listens for theirs. A peer that does not answer within the grace period is not inside any of
  // our collectives (stopped, dead, or stuck elsewhere); one that answers with a smaller number has
  // not reached this collective. Returns the sentence naming them.
  std::string probe_peers(long my_seq) {
    std::vector<long> theirs(size_, -1);
    std::vector<MPI_Request> recvs(size_, MPI_REQUEST_NULL), sends(size_, MPI_REQUEST_NULL);
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      MPI_Irecv(&theirs[p], 1, MPI_LONG, p, kProbeTag, probe_comm_, &recvs[p]);
      MPI_Isend(&my_seq, 1, MPI_LONG, p, kProbeTag, probe_comm_, &sends[p]);
    }
    auto deadline = Clock::now() + std::chrono::duration<double>(probe_grace_s());
    std::vector<bool> answered(size_, false);
    answered[rank_] = true;
    Backoff backoff;
    while (Clock::now() < deadline) {
      bool all = true;
      for (int p = 0; p < size_; ++p) {
        if (answered[p]) continue;
        int flag = 0;
        if (MPI_Test(&recvs[p], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
          answered[p] = false;  // an error talking to it: it stays suspected
          recvs[p] = MPI_REQUEST_NULL;
          continue;
        }
        if (flag) answered[p] = true;
        else all = false;
      }
      if (all) break;
      backoff.pause();
    }
    std::vector<std::string> silent, behind;
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      if (!answered[p]) silent.push_back(std::to_string(p));
      else if (theirs[p] < my_seq) behind.push_back(fmt::format("{} (at collective #{})", p, theirs[p]));
    }
    // The requests are left pending on purpose: the job is about to end.
    if (silent.empty() && behind.empty())
      return "every peer answered and reached this collective: the network or MPI itself stalled";
    std::string s = "suspected peer rank(s):";
    if (!silent.empty()) s += fmt::format(" {} (no answer: stopped, dead or stuck outside MPI)", fmt::join(silent, ", "));
    if (!behind.empty()) s += fmt::format(" {} (never reached this collective)", fmt::join(behind, ", "));
    return s;
  }

  MPI_Comm comm_ = MPI_COMM_NULL, probe_comm_ = MPI_COMM_NULL, fail_comm_ = MPI_COMM_NULL;
  std::atomic<int64_t> last_report_check_{0};
  int rank_ = 0, size_ = 1;
  double timeout_s_;
  bool abort_;
  std::atomic<long> seq_{0};
  std::atomic<bool> broken_{false};
};

MpiWork::~MpiWork() {
  // A Work dropped before completion would leave MPI writing into a buffer the caller may free.
  if (!done && !g_broken.load()) {
    try {
      wait();
    } catch (...) {
    }
  }
}

bool MpiWork::test() {
  if (done) return true;
  int flag = 0;
  int err = MPI_Testall(int(reqs.size()), reqs.data(), &flag, MPI_STATUSES_IGNORE);
  if (err != MPI_SUCCESS) comm->fail_collective(*this, "failed: " + mpi_error_string(err));
  done = flag != 0;
  if (!done) comm->check_peer_failures();
  return done;
}

void MpiWork::wait() {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  Backoff backoff;
  while (!test()) {
    if (Clock::now() > deadline) comm->fail_collective(*this, fmt::format("timed out after {:.1f} s ({})", timeout_s, limit));
    backoff.pause();
  }
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s, bool abort_on_timeout) {
  if (!(timeout_s > 0)) throw UsageError(fmt::format("dist.timeout_s: expected > 0, found {}", timeout_s));
  return std::make_unique<MpiCommunicator>(timeout_s, abort_on_timeout);
}

int mpi_local_rank() {
  ensure_mpi();
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int r = 0;
  MPI_Comm_rank(local, &r);
  MPI_Comm_free(&local);
  return r;
}

bool mpi_cuda_aware() {
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  ensure_mpi();
  return MPIX_Query_cuda_support() == 1;  // built with CUDA support *and* running with it
#else
  return false;  // not known to be CUDA-aware: device memory is staged through host buffers
#endif
}

}  // namespace prospect
