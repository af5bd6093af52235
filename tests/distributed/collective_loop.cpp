// A stand-in for a training loop: all-reduces and barriers forever (or --iters N), with the
// collective timeout given on the command line. Each rank writes "rank R pid P" to the file named by
// --pids (one line per rank) so a test can kill -9 or kill -STOP one of them. Also the "hello" of
// the Slurm test: with --iters it checks the sums and rank 0 prints "collective_loop ok: N ranks".
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "prospect/core/error.h"
#include "prospect/core/log.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/signals.h"

using namespace prospect;

static int loop(Communicator& comm, long iters, int fail_rank, bool stop_on_signal) {
  int n = comm.size();
  for (long it = 0; iters < 0 || it < iters; ++it) {
    if (comm.rank() == fail_rank && it == 10) fail("rank {} fails on purpose at iteration {}", fail_rank, it);
    double v[3] = {double(comm.rank()), 1.0, double(it)};
    comm.all_reduce(v, 3, DType::F64, ReduceOp::Sum);
    PROSPECT_CHECK(v[0] == n * (n - 1) / 2.0 && v[1] == n && v[2] == double(it) * n,
                   "wrong sums at iteration {}: {} {} {}", it, v[0], v[1], v[2]);
    if (stop_on_signal && stop_requested_agreed(comm)) {
      spdlog::info("stop requested (signal {}) at iteration {}: exiting with {}", stop_signal_number(), it,
                   int(kExitStopped));
      return int(kExitStopped);
    }
    if (iters < 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  comm.barrier();
  if (comm.rank() == 0) std::printf("collective_loop ok: %d ranks\n", n);
  return 0;
}

int main(int argc, char** argv) {
  double timeout_s = 5;
  long iters = -1;
  std::string pids;
  bool stop_on_signal = false;
  int fail_rank = -1;  // this rank throws an Error at iteration 10 (run_ranks ends the job with 1)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc) timeout_s = std::atof(argv[++i]);
    else if (a == "--iters" && i + 1 < argc) iters = std::atol(argv[++i]);
    else if (a == "--pids" && i + 1 < argc) pids = argv[++i];
    else if (a == "--stop-on-signal") stop_on_signal = true;
    else if (a == "--fail-rank" && i + 1 < argc) fail_rank = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: collective_loop [--timeout S] [--iters N] [--pids FILE] [--stop-on-signal] [--fail-rank R]\n");
      return kExitUsage;
    }
  }
  return run_app([&] {
    if (stop_on_signal) install_stop_signal_handlers();
    auto comm = make_mpi_communicator(timeout_s);
    init_logging(comm->rank(), /*all_ranks=*/true);
    if (!pids.empty()) {
      FILE* f = std::fopen(pids.c_str(), "a");
      PROSPECT_CHECK(f, "cannot open {}", pids);
      std::fprintf(f, "rank %d pid %d\n", comm->rank(), int(getpid()));
      std::fclose(f);
    }
    comm->barrier();
    return run_ranks(*comm, [&] { return loop(*comm, iters, fail_rank, stop_on_signal); });
  });
}
