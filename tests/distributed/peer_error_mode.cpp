// The throwing mode of the watchdog (abort_on_timeout = false), under mpirun -n 2: rank 1 stays out
// of a barrier, rank 0 gets a PeerError naming rank 1 after the 1 s timeout, every later collective
// throws at once, and the broken communicator's destructor ends the job with exit 4 (MPI_Finalize
// could wait forever for the lost peer). Prints "peer error ok" when rank 0 saw what it should.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "prospect/core/error.h"
#include "prospect/core/log.h"
#include "prospect/distributed/mpi_comm.h"

using namespace prospect;

int main() {
  auto comm = make_mpi_communicator(/*timeout_s=*/1.0, /*abort_on_timeout=*/false);
  init_logging(comm->rank(), true);
  if (comm->size() != 2) return 2;
  if (comm->rank() == 1) {
    sleep(30);  // absent; killed by the abort
    return 0;
  }
  bool ok = false;
  try {
    comm->barrier();
  } catch (const PeerError& e) {
    std::string m = e.what();
    ok = m.find("barrier") != std::string::npos && m.find("suspected peer rank(s): 1") != std::string::npos;
    if (!ok) std::printf("unexpected message: %s\n", m.c_str());
  }
  try {
    int64_t x = 0;
    comm->all_reduce(&x, 1, DType::I64, ReduceOp::Sum);
    ok = false;
  } catch (const PeerError&) {
  }
  if (ok) std::printf("peer error ok\n");
  std::fflush(stdout);
  return 0;  // the communicator's destructor aborts the job with 4
}
