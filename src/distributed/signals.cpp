// SIGUSR1/SIGTERM set a flag; ranks agree on it at step boundaries. See signals.h.
#include "prospect/distributed/signals.h"

#include <atomic>
#include <csignal>
#include <cstdint>

#include "prospect/core/error.h"

namespace prospect {

namespace {

// Written from the signal handler: a lock-free atomic int is async-signal-safe to store.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the stop flag must be lock-free for a signal handler");

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a signal during a read() must not turn into an I/O error
  for (int sig : {SIGUSR1, SIGTERM})
    if (sigaction(sig, &sa, nullptr) != 0) fail("cannot install the handler for signal {}", sig);
}

bool stop_signal_received() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }
int stop_signal_number() { return g_stop_signal.load(std::memory_order_relaxed); }
void request_stop() { g_stop_signal.store(-1, std::memory_order_relaxed); }
void clear_stop_request() { g_stop_signal.store(0, std::memory_order_relaxed); }

bool stop_requested_agreed(Communicator& comm) {
  int64_t flag = stop_signal_received() ? 1 : 0;
  comm.all_reduce(&flag, 1, DType::I64, ReduceOp::Max);
  return flag != 0;
}

}  // namespace prospect
