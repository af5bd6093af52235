// The main of the MPI GoogleTest binaries (mpi_test.h).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <memory>

#include "mpi_test.h"
#include "prospect/core/log.h"
#include "prospect/distributed/mpi_comm.h"

namespace {
std::unique_ptr<prospect::Communicator> g_world;
}

prospect::Communicator& prospect::test::world() { return *g_world; }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  g_world = prospect::make_mpi_communicator(60.0);
  prospect::init_logging(g_world->rank());
  if (g_world->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int64_t worst = RUN_ALL_TESTS();
  g_world->all_reduce(&worst, 1, prospect::DType::I64, prospect::ReduceOp::Max);
  return static_cast<int>(worst);
}
