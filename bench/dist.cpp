// Communication benchmarks on this machine (CPU, MPI), reported, not gated:
//  - all-reduce (sum, f32) time and bus bandwidth for 4 KB .. 64 MB buffers;
//  - gradient reduction of an MLP (~8 M parameters) per optimizer step: backward alone (no
//    reduction), backward + reducer with overlap, and without overlap; the seconds finalize() waited
//    (communication not hidden by backward).
// Run under MPI from the repository root; rank 0 writes bench/results/dist.json (or OUT.json):
//   mpirun -n 2 --bind-to none build/bench/bench_dist [OUT.json] [--quick]
#include <ATen/Parallel.h>
#include <torch/nn.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/reducer.h"

using namespace prospect;
using nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median of `reps` timed runs of fn, all ranks in step (a barrier before each).
template <typename F>
double median_time(Communicator& comm, int reps, F fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    comm.barrier();
    double t0 = now_s();
    fn();
    double dt = now_s() - t0;
    comm.all_reduce(&dt, 1, DType::F64, ReduceOp::Max);  // the slowest rank's time
    t.push_back(dt);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct MlpImpl : torch::nn::Module {
  std::vector<torch::nn::Linear> layers;
  MlpImpl(int width, int depth) {
    for (int i = 0; i < depth; ++i)
      layers.push_back(register_module("layer" + std::to_string(i), torch::nn::Linear(width, width)));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (auto& l : layers) x = torch::gelu(l(x));
    return x;
  }
};
TORCH_MODULE(Mlp);

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench/results/dist.json";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else out = argv[i];
  }
  return run_app([&] {
    auto comm = make_mpi_communicator(120.0);
    at::set_num_threads(1);
    const int world = comm->size();
    json result = {{"world_size", world}, {"threads_per_rank", 1}, {"backend", "mpi"}};

    // ---- all-reduce sizes ----
    json ar = json::array();
    for (int64_t bytes = 4096; bytes <= (quick ? (int64_t(1) << 20) : (int64_t(64) << 20)); bytes *= 4) {
      std::vector<float> buf(size_t(bytes / 4), 1.0f);
      int reps = bytes <= (1 << 20) ? 50 : 10;
      double t = median_time(*comm, reps, [&] { comm->all_reduce(buf.data(), buf.size(), DType::F32, ReduceOp::Sum); });
      // Bus bandwidth as NCCL reports it: 2 (n-1)/n of the buffer crosses each link.
      double busbw = world > 1 ? 2.0 * (world - 1) / world * double(bytes) / t / 1e9 : 0.0;
      ar.push_back({{"bytes", bytes}, {"median_s", t}, {"bus_gb_per_s", busbw}});
      if (comm->rank() == 0)
        std::printf("all_reduce %9lld B: %9.1f us, bus %.2f GB/s\n", (long long)bytes, t * 1e6, busbw);
    }
    result["all_reduce_f32_sum"] = ar;

    // ---- gradient reduction with and without overlap ----
    const int width = quick ? 512 : 1024, depth = 8, batch = 64;
    torch::manual_seed(1);
    Mlp model(width, depth);
    broadcast_parameters(*model, *comm);
    auto x = torch::randn({batch, width});
    int64_t n_params = 0;
    for (auto& p : model->parameters()) n_params += p.numel();
    auto backward = [&] {
      for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
      model->forward(x).pow(2).mean().backward();
    };
    const int reps = quick ? 3 : 10;
    double t_plain = median_time(*comm, reps, backward);
    json steps = {{"parameters", n_params}, {"layers", depth}, {"width", width}, {"batch", batch},
                  {"forward_backward_no_reduction_s", t_plain}};
    for (bool overlap : {true, false}) {
      ReducerOptions o;
      o.overlap = overlap;
      Reducer reducer(*model, *comm, o);
      double waited = 0;
      double t = median_time(*comm, reps, [&] {
        reducer.set_sync(true);
        backward();
        waited = reducer.finalize();
      });
      std::string key = overlap ? "overlap" : "no_overlap";
      steps[key] = {{"forward_backward_reduce_s", t}, {"finalize_wait_s_last", waited}, {"buckets", reducer.num_buckets()},
                    {"buckets_started_during_backward", reducer.last_started_early()}};
      if (comm->rank() == 0)
        std::printf("%s: step %.1f ms (no reduction %.1f ms), finalize waited %.1f ms, %d/%d buckets started early\n",
                    key.c_str(), t * 1e3, t_plain * 1e3, waited * 1e3, reducer.last_started_early(),
                    reducer.num_buckets());
    }
    result["gradient_reduction"] = steps;
    result["note"] =
        "2-core VM, ranks oversubscribe the cores with the communication thread; overlap and scaling are "
        "reported, not gated";
    if (comm->rank() == 0) {
      std::ofstream f(out);
      PROSPECT_CHECK(f.good(), "cannot write {}", out);
      f << result.dump(2) << "\n";
      std::printf("wrote %s\n", out.c_str());
    }
    return 0;
  });
}
