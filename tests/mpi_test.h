// MPI GoogleTest binaries (tests/distributed): mpi_main.cpp is their main. Every rank runs every test
// (they are collectives); rank 0 prints the progress; every rank exits with the worst result.
#pragma once
#include "prospect/distributed/communicator.h"

namespace prospect::test {

// The MPI communicator of all ranks (timeout 60 s, MPI_Abort on a stuck collective).
Communicator& world();

}  // namespace prospect::test
