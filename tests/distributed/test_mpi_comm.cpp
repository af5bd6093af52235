// Runs under mpirun -n 2 and -n 3: every collective the trainer uses gives the exact values (the
// inputs are small integers, so float sums are exact and every rank can compute the answer).
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <thread>

#include "mpi_test.h"
#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/nccl_comm.h"

using namespace prospect;

TEST(MpiComm, RankAndSize) {
  EXPECT_EQ(test::world().backend(), "mpi");
  EXPECT_GE(test::world().size(), 1);
  EXPECT_GE(test::world().rank(), 0);
  EXPECT_LT(test::world().rank(), test::world().size());
}

template <typename T>
static void check_all_reduce(DType t) {
  int r = test::world().rank(), n = test::world().size();
  for (size_t count : {size_t(1), size_t(7), size_t(100000)}) {
    std::vector<T> v(count);
    for (size_t i = 0; i < count; ++i) v[i] = T((r + 1) * int64_t(i % 13) + r);
    std::vector<T> sum = v, mx = v;
    test::world().all_reduce(sum.data(), count, t, ReduceOp::Sum);
    test::world().all_reduce(mx.data(), count, t, ReduceOp::Max);
    for (size_t i = 0; i < count; ++i) {
      T want_sum = 0, want_max = T(-1e9);
      for (int q = 0; q < n; ++q) {
        T x = T((q + 1) * int64_t(i % 13) + q);
        want_sum += x;
        want_max = std::max(want_max, x);
      }
      ASSERT_EQ(sum[i], want_sum) << "count " << count << " i " << i;
      ASSERT_EQ(mx[i], want_max) << "count " << count << " i " << i;
    }
  }
}

TEST(MpiComm, AllReduceF32) { check_all_reduce<float>(DType::F32); }
TEST(MpiComm, AllReduceF64) { check_all_reduce<double>(DType::F64); }
TEST(MpiComm, AllReduceI64) { check_all_reduce<int64_t>(DType::I64); }

TEST(MpiComm, AllReduceI64Large) {
  // Values past 2^53 stay exact in int64 (a double round trip would not).
  int64_t v = (int64_t(1) << 60) + test::world().rank();
  test::world().all_reduce(&v, 1, DType::I64, ReduceOp::Max);
  EXPECT_EQ(v, (int64_t(1) << 60) + test::world().size() - 1);
}

TEST(MpiComm, AsyncAllReduceSeveralInFlight) {
  int r = test::world().rank(), n = test::world().size();
  std::vector<std::vector<float>> bufs(5, std::vector<float>(1000));
  std::vector<std::unique_ptr<Work>> works;
  for (size_t b = 0; b < bufs.size(); ++b) {
    std::fill(bufs[b].begin(), bufs[b].end(), float(r + b));
    works.push_back(test::world().all_reduce_async(bufs[b].data(), bufs[b].size(), DType::F32, ReduceOp::Sum));
  }
  // Completed from another thread (the reducer's communication thread does this).
  std::thread t([&] {
    for (auto& w : works) w->wait();
  });
  t.join();
  for (size_t b = 0; b < bufs.size(); ++b) {
    float want = float(n * (n - 1) / 2 + n * int(b));
    for (float x : bufs[b]) ASSERT_EQ(x, want) << "bucket " << b;
    EXPECT_TRUE(works[b]->test());
  }
}

TEST(MpiComm, Broadcast) {
  int r = test::world().rank(), n = test::world().size();
  for (int root = 0; root < n; ++root) {
    std::vector<double> v(33, r == root ? 1.5 * root + 0.25 : -1.0);
    test::world().broadcast(v.data(), v.size(), DType::F64, root);
    for (double x : v) ASSERT_EQ(x, 1.5 * root + 0.25);
    std::vector<uint8_t> bytes(5, r == root ? uint8_t(200 + root) : 0);
    test::world().broadcast(bytes.data(), bytes.size(), DType::U8, root);
    for (auto x : bytes) ASSERT_EQ(x, 200 + root);
  }
}

TEST(MpiComm, Barrier) {
  for (int i = 0; i < 10; ++i) test::world().barrier();
}

TEST(MpiComm, GatherBytes) {
  int r = test::world().rank(), n = test::world().size();
  // Rank sizes differ, one is empty, bytes include zeros.
  std::string mine = r == 1 ? std::string() : std::string(size_t(r * 3 + 2), char('a' + r));
  if (!mine.empty()) mine[0] = '\0';
  for (int root = 0; root < n; ++root) {
    auto all = test::world().gather_bytes(mine, root);
    if (r != root) {
      EXPECT_TRUE(all.empty());
      continue;
    }
    ASSERT_EQ(int(all.size()), n);
    for (int q = 0; q < n; ++q) {
      std::string want = q == 1 ? std::string() : std::string(size_t(q * 3 + 2), char('a' + q));
      if (!want.empty()) want[0] = '\0';
      EXPECT_EQ(all[q], want) << "from rank " << q;
    }
  }
}

TEST(MpiComm, BadRootIsUsageError) { EXPECT_THROW(test::world().broadcast(nullptr, 0, DType::F32, 99), UsageError); }

TEST(MakeCommunicator, HostPlaneIsMpiWhateverTheBackend) {
  // Collective (it duplicates MPI_COMM_WORLD): every rank makes the same calls. The host plane is MPI
  // for every dist.backend, nccl included (data_plane.h); only an unknown name is refused here.
  auto c = make_communicator("auto", 30.0);
  EXPECT_EQ(c->backend(), "mpi");
  EXPECT_EQ(c->size(), test::world().size());
  int64_t x = 1;
  c->all_reduce(&x, 1, DType::I64, ReduceOp::Sum);
  EXPECT_EQ(x, test::world().size());
  EXPECT_EQ(make_communicator("mpi", 30.0)->backend(), "mpi");
  EXPECT_EQ(make_communicator("nccl", 30.0)->backend(), "mpi");
  EXPECT_THROW(make_communicator("gloo", 30.0), UsageError);
  EXPECT_THROW(make_mpi_communicator(0.0), UsageError);
}

TEST(SingleComm, Identity) {
  auto c = make_single_communicator();
  EXPECT_EQ(c->size(), 1);
  float x = 3;
  c->all_reduce(&x, 1, DType::F32, ReduceOp::Sum);
  EXPECT_EQ(x, 3);
  c->all_reduce_async(&x, 1, DType::F32, ReduceOp::Max)->wait();
  EXPECT_EQ(x, 3);
  EXPECT_EQ(c->gather_bytes("ab", 0), std::vector<std::string>{"ab"});
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
}
