// The two planes and the streams, on the CPU (data_plane.h, stream.h): the backend choice as a pure
// rule; the reducer's bucket sequencing through recording streams (an event after the last gradient
// of each bucket, the comm stream waiting for it before the all-reduce, the compute stream waiting for
// every all-reduce before finalize() returns to the optimizer); and that host scalars cannot take the
// data plane nor host pointers the NCCL engine. The host is a loopback "2-rank" communicator whose sum
// doubles a buffer (the other rank is this one again), so no MPI is needed.
#include <gtest/gtest.h>
#include <torch/nn.h>
#include <torch/types.h>

#include <map>
#include <mutex>
#include <set>
#include <type_traits>

#include "prospect/core/error.h"
#include "prospect/distributed/communicator.h"
#include "prospect/distributed/data_plane.h"
#include "prospect/distributed/nccl_comm.h"
#include "prospect/distributed/reducer.h"

using namespace prospect;

// ---- the backend choice (acceptance: auto + CUDA model -> NCCL; nccl without a GPU -> exit 2)

TEST(ChooseDataBackend, AutoTakesNcclForACudaModelWhereBuilt) {
  EXPECT_EQ(choose_data_backend("auto", /*device_is_cuda=*/true, /*nccl_built=*/true), "nccl");
  EXPECT_EQ(choose_data_backend("auto", true, false), "mpi");  // a build without the NCCL data plane
  EXPECT_EQ(choose_data_backend("auto", false, true), "mpi");  // a CPU model
  EXPECT_EQ(choose_data_backend("mpi", true, true), "mpi");    // asked for: MPI (staged or CUDA-aware)
  EXPECT_EQ(choose_data_backend("nccl", true, true), "nccl");
}

TEST(ChooseDataBackend, NcclWithoutAGpuIsAUsageErrorNamingTheKey) {
  for (bool built : {true, false}) {
    try {
      choose_data_backend("nccl", /*device_is_cuda=*/false, built);
      ADD_FAILURE() << "no error";
    } catch (const UsageError& e) {
      EXPECT_EQ(e.code, kExitUsage);
      EXPECT_NE(std::string(e.what()).find("dist.backend=nccl"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("CUDA device"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(choose_data_backend("nccl", true, /*nccl_built=*/false), UsageError);
  EXPECT_THROW(choose_data_backend("gloo", false, false), UsageError);
}

TEST(ChooseDataBackend, ThisBuildsCpuModelGetsAnMpiDataPlane) {
  auto host = make_single_communicator();
  auto plane = make_data_plane("auto", c10::Device(c10::kCPU), *host, 30.0);
  EXPECT_EQ(plane->backend(), "single");
  EXPECT_EQ(plane->device(), c10::Device(c10::kCPU));
  EXPECT_THROW(make_data_plane("nccl", c10::Device(c10::kCPU), *host, 30.0), UsageError);
}

// ---- test doubles

namespace {

// What the streams and the host saw, in order.
struct Trace {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> on_record;  // called at each compute record (inspection)
  void add(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(s);
  }
};

struct NamedEvent : Event {
  std::string name;
  explicit NamedEvent(std::string n) : name(std::move(n)) {}
  bool query() override { return true; }
  void synchronize() override {}
};

class RecordingStream : public Stream {
 public:
  RecordingStream(std::string name, Trace& trace) : name_(std::move(name)), trace_(trace) {}
  std::string name() const override { return name_; }
  std::shared_ptr<Event> record() override {
    auto e = std::make_shared<NamedEvent>(name_ + "#" + std::to_string(n_++));
    if (name_ == "compute" && trace_.on_record) trace_.on_record(e->name);
    trace_.add(name_ + " record " + e->name);
    return e;
  }
  void wait(Event& e) override {
    auto* ne = dynamic_cast<NamedEvent*>(&e);
    ASSERT_NE(ne, nullptr) << "a wait on an event no recording stream made";
    trace_.add(name_ + " wait " + ne->name);
  }
  void synchronize() override { trace_.add(name_ + " synchronize"); }
  void run(const std::function<void()>& enqueue) override { enqueue(); }

 private:
  std::string name_;
  Trace& trace_;
  int n_ = 0;
};

struct DoneWork : Work {
  bool test() override { return true; }
  void wait() override {}
};

// Rank 0 of 2 where rank 1 is this rank again: a sum doubles the buffer, a broadcast keeps it. Every
// call is traced with its element count.
class LoopbackHost : public Communicator {
 public:
  explicit LoopbackHost(Trace& trace) : trace_(trace) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "mpi"; }
  void all_reduce(void* buf, size_t count, DType t, ReduceOp op) override { all_reduce_async(buf, count, t, op); }
  std::unique_ptr<Work> all_reduce_async(void* buf, size_t count, DType t, ReduceOp op) override {
    trace_.add("host all_reduce " + std::to_string(count));
    if (op == ReduceOp::Sum) {
      if (t == DType::F32)
        for (size_t i = 0; i < count; ++i) static_cast<float*>(buf)[i] *= 2;
      if (t == DType::F64)
        for (size_t i = 0; i < count; ++i) static_cast<double*>(buf)[i] *= 2;
      if (t == DType::I64)
        for (size_t i = 0; i < count; ++i) static_cast<int64_t*>(buf)[i] *= 2;
    }
    return std::make_unique<DoneWork>();
  }
  void broadcast(void*, size_t count, DType, int) override { trace_.add("host broadcast " + std::to_string(count)); }
  void barrier() override {}
  void barrier(double, const std::string&) override {}
  std::vector<std::string> gather_bytes(const std::string& mine, int root) override {
    trace_.add("host gather_bytes " + std::to_string(mine.size()));
    return {mine, mine};
  }
  void abort(int code) override { FAIL() << "abort(" << code << ")"; }

 private:
  Trace& trace_;
};

struct NetImpl : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr};
  NetImpl() {
    a = register_module("a", torch::nn::Linear(8, 64));
    b = register_module("b", torch::nn::Linear(64, 64));
    c = register_module("c", torch::nn::Linear(64, 4));
  }
  torch::Tensor forward(torch::Tensor x) { return c(torch::tanh(b(torch::tanh(a(x))))); }
};
TORCH_MODULE(Net);

std::vector<std::pair<std::string, torch::Tensor>> named(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : m.named_parameters(true)) out.emplace_back(item.key(), item.value());
  return out;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The MPI data plane on the CPU over host, its compute and comm streams recording into trace.
std::unique_ptr<DataPlane> recording_plane(Communicator& host, Trace& trace) {
  return make_mpi_data_plane(host, c10::Device(c10::kCPU),
                             DeviceStreams{std::make_unique<RecordingStream>("compute", trace),
                                           std::make_unique<RecordingStream>("comm", trace)});
}

}  // namespace

// ---- the bucket sequencing (acceptance 2)

TEST(ReducerStreams, EventAfterEachBucketsLastGradientAndWaitsBeforeTheOptimizer) {
  torch::manual_seed(3);
  Net net;
  Trace trace;
  LoopbackHost host(trace);
  auto plane = recording_plane(host, trace);
  // Tiny buckets: several per backward, so the order between them shows.
  Reducer reducer(named(*net), *plane, ReducerOptions{/*bucket_mb=*/0.004, /*first_bucket_mb=*/0.001, true});
  ASSERT_GE(reducer.num_buckets(), 3);
  std::map<std::string, torch::Tensor> params;
  for (auto& [n, p] : named(*net)) params[n] = p;

  // At each compute record (a bucket leaving), which buckets have all their gradients: the record of
  // the k-th bucket must come once bucket k is complete.
  std::vector<std::set<int>> complete_at_record;
  trace.on_record = [&](const std::string&) {
    std::set<int> done;
    for (int b = 0; b < reducer.num_buckets(); ++b) {
      bool all = true;
      for (auto& n : reducer.bucket_names(b)) all = all && params[n].grad().defined();
      if (all) done.insert(b);
    }
    complete_at_record.push_back(done);
  };

  auto x = torch::randn({5, 8});
  reducer.set_sync(true);
  auto local = net->forward(x).pow(2).sum();
  local.backward();
  std::map<std::string, torch::Tensor> before;
  for (auto& [n, p] : params) before[n] = p.grad().clone();
  trace.add("backward done");
  reducer.finalize();
  trace.add("optimizer");

  // Each bucket, in bucket order: compute record e -> comm wait e -> the all-reduce -> comm record d.
  const auto& L = trace.lines;
  std::vector<std::string> done_events;
  size_t i = 0;
  for (int b = 0; b < reducer.num_buckets(); ++b) {
    while (i < L.size() && !starts_with(L[i], "compute record ")) ++i;
    ASSERT_LT(i + 3, L.size()) << "bucket " << b << " never started";
    const std::string e = L[i].substr(std::string("compute record ").size());
    EXPECT_EQ(L[i + 1], "comm wait " + e) << "bucket " << b;
    EXPECT_TRUE(starts_with(L[i + 2], "host all_reduce ")) << L[i + 2];
    ASSERT_TRUE(starts_with(L[i + 3], "comm record ")) << L[i + 3];
    done_events.push_back(L[i + 3].substr(std::string("comm record ").size()));
    // the k-th record saw buckets 0..k complete (the last gradient of bucket k had arrived)
    ASSERT_LT(size_t(b), complete_at_record.size());
    EXPECT_TRUE(complete_at_record[size_t(b)].count(b)) << "bucket " << b << " left before its last gradient";
    i += 4;
  }
  // Overlap: the first bucket left during backward.
  auto pos = [&](const std::string& s) { return std::find(L.begin(), L.end(), s) - L.begin(); };
  EXPECT_LT(pos("compute record compute#0"), pos("backward done"));
  // finalize(): the compute stream waits for every bucket's all-reduce, after the last of them and
  // before the optimizer.
  for (auto& d : done_events) {
    auto w = pos("compute wait " + d);
    EXPECT_LT(w, pos("optimizer")) << d;
    EXPECT_GT(w, pos("comm record " + done_events.back())) << d;
  }
  // no host-side synchronisation of a stream on the CPU path
  EXPECT_EQ(std::count(L.begin(), L.end(), "comm synchronize"), 0);
  // and the sums are what the loopback's other rank adds
  for (auto& [n, p] : params) EXPECT_TRUE(torch::equal(p.grad(), 2 * before[n])) << n;
}

// ---- the planes' separation (acceptance 2)

template <typename C, typename = void>
struct sums_host_struct : std::false_type {};
template <typename C>
struct sums_host_struct<C, std::void_t<decltype(all_reduce_sum(std::declval<C&>(), std::declval<double(*)[1]>()))>>
    : std::true_type {};

TEST(Planes, HostScalarsCannotTakeTheDataPlane) {
  // By type: the data plane is no Communicator, so the trainer's host collectives (all_reduce_sum of a
  // struct, the stop flag, barriers, gathers) cannot be handed it; and it has no call taking a pointer.
  static_assert(!std::is_base_of_v<Communicator, DataPlane>);
  static_assert(!std::is_convertible_v<DataPlane&, Communicator&>);
  static_assert(sums_host_struct<Communicator>::value);
  static_assert(!sums_host_struct<DataPlane>::value);
  // The NCCL engine is reachable only through the data plane: no Communicator is an NcclComm.
  static_assert(!std::is_base_of_v<Communicator, NcclComm> && !std::is_base_of_v<NcclComm, Communicator>);
  SUCCEED();
}

TEST(Planes, ParametersAndGradientsTakeTheDataPlaneOnlyWithTheirTensors) {
  // A run's start and one step: the host plane carries only the parameter list's hash and the
  // mismatch flag; everything the size of a tensor goes through the data plane's streams.
  torch::manual_seed(4);
  Net net;
  Trace trace;
  LoopbackHost host(trace);
  auto plane = recording_plane(host, trace);
  broadcast_parameters(*net, host, *plane);
  Reducer reducer(named(*net), *plane);
  reducer.set_sync(true);
  net->forward(torch::randn({3, 8})).sum().backward();
  reducer.finalize();
  int64_t numel = 0;
  for (auto& p : net->parameters()) numel += p.numel();
  int64_t on_data = 0;
  for (size_t i = 0; i < trace.lines.size(); ++i) {
    const std::string& l = trace.lines[i];
    if (starts_with(l, "host gather_bytes")) {
      EXPECT_EQ(l, "host gather_bytes 8");  // the hash
    } else if (starts_with(l, "host ")) {
      // every other host call is a data-plane collective: right after the comm stream's wait
      ASSERT_GT(i, 0u);
      EXPECT_TRUE(starts_with(trace.lines[i - 1], "comm wait ") || l == "host broadcast 1") << l;
      if (l != "host broadcast 1") on_data += std::stoll(l.substr(l.rfind(' ') + 1));
    }
  }
  // every parameter broadcast once, every gradient reduced once (plus one flag per parameter), and,
  // after the first sync step, the order backward produced the gradients in, one index per parameter
  // (the reducer rebuilds its buckets in that order; the order's length, one element, is left out of
  // the count above like the mismatch flag)
  const int64_t params = int64_t(net->parameters().size());
  EXPECT_EQ(on_data, numel + (numel + params) + params);
}

TEST(Planes, TheDataPlaneRefusesATensorOnAnotherDevice) {
  auto host = make_single_communicator();
  auto plane = make_mpi_data_plane(*host, c10::Device(c10::kCPU));
  auto meta = torch::empty({4}, torch::TensorOptions().device(c10::kMeta));  // not the plane's device
  auto ready = plane->compute_stream().record();
  EXPECT_THROW(plane->all_reduce_async(meta, ReduceOp::Sum, *ready), Error);
  EXPECT_THROW(plane->broadcast(meta, 0), Error);
  auto strided = torch::zeros({4, 4}).t();  // not contiguous
  EXPECT_THROW(plane->all_reduce_async(strided, ReduceOp::Sum, *ready), Error);
}
