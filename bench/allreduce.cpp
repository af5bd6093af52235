// Communication inside real training steps (CPU, MPI), reported, not gated: prospect_train on a small
// model at 1 and 2 ranks, from its metrics.jsonl, per gradient bucket size (dist.bucket_mb):
//  - comm share: the seconds a step waits on communication (comm_s) over the step time, and its parts:
//    comm_counts_s (the label-count all-reduce before the first forward: 7 numbers, so its time is
//    waiting for the slower rank to arrive), comm_grad_s (the gradient reduction's finalize(): the
//    part of the all-reduces backward did not hide, plus waiting for the slower rank's backward),
//    comm_loss_s (the loss all-reduce after clipping: again a few numbers);
//  - the all-reduce itself: the same buckets (first 1 MB, then bucket_mb each, of the model's
//    gradient bytes) all-reduced back to back by two processes with nothing else to do, in the same
//    run (`--collectives`, under mpirun), so the part of comm_grad_s that is transfer can be told
//    from the part that is waiting;
//  - weak scaling 1 -> 2 ranks: the same micro-batches per rank (data.virtual_ranks = ranks), tokens/s
//    per rank at 2 ranks over tokens/s at 1 rank.
// Rounds alternate every configuration (and, with --baseline-bin, another build's prospect_train right
// after each), so a change in the machine's load hits all of them alike; the load average is recorded
// per run. The first steps (warm-up) are left out. Run from the repository root after `prospect_data
// synth`:
//   build/bench/bench_allreduce DATA_DIR [OUT.json] [--steps N] [--hidden H] [--layers L] [--rounds R]
//       [--bucket-mb 0.25,1,4,25] [--baseline-bin DIR]
// It starts mpirun itself (with --bind-to none --oversubscribe, one thread per rank).
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"

using nlohmann::json;
namespace fs = std::filesystem;
using namespace prospect;

namespace {

// The 1-minute load average (other work on the machine while measuring).
double load_average() {
  double l = -1;
  std::ifstream("/proc/loadavg") >> l;
  return l;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

// One prospect_train run's timed steps.
struct Steps {
  std::vector<double> step, comm, counts, grad, loss, tokens;
  bool parts = false;  // the binary writes comm_counts_s etc. (older builds only comm_s)
  double params_m = 0;  // "0.87 M trainable parameters" from train.log
};

struct Setting {
  int ranks = 2;
  bool overlap = true;
  double bucket_mb = 25;
  std::string label() const {
    char b[64];
    std::snprintf(b, sizeof b, "np%d_%s_%gmb", ranks, overlap ? "overlap" : "no_overlap", bucket_mb);
    return b;
  }
};

Steps train(const std::string& bin, const std::string& data, const Setting& s, int steps, int hidden, int layers,
            const std::string& dir) {
  fs::remove_all(dir);
  char mb[32];
  std::snprintf(mb, sizeof mb, "%g", s.bucket_mb);
  std::string cmd = "mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -n " +
                    std::to_string(s.ranks) + " " + bin + "/prospect_train --run-dir " + dir +
                    " --data.train=" + data + "/train.h5 --data.val=" + data + "/val.h5 --data.test=" + data +
                    "/test.h5 --data.tokenizer=" + data + "/tokenizer.model --data.max_seq_len=512" +
                    " --model.hidden_size=" + std::to_string(hidden) +
                    " --model.intermediate_size=" + std::to_string(3 * hidden) +
                    " --model.num_hidden_layers=" + std::to_string(layers) +
                    " --model.num_attention_heads=4 --model.num_key_value_heads=2 --train.micro_batch_size=2" +
                    " --train.threads=1 --train.val_every=0 --train.save_every=0 --train.log_every=1000" +
                    " --train.max_steps=" + std::to_string(steps) +
                    " --data.virtual_ranks=" + std::to_string(s.ranks) +
                    " --dist.overlap=" + (s.overlap ? "true" : "false") + " --dist.bucket_mb=" + mb + " > " + dir +
                    ".log 2>&1";
  int st = std::system(cmd.c_str());
  if (st != 0) {
    std::fprintf(stderr, "failed (%d): %s\n", st, cmd.c_str());
    std::exit(1);
  }
  Steps r;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  const int skip = std::min(3, steps / 4);  // warm-up
  while (std::getline(in, line)) {
    json j = json::parse(line);
    if (j.contains("split") || j["step"].get<int>() <= skip) continue;
    r.step.push_back(j["step_time_s"].get<double>());
    r.comm.push_back(j["comm_s"].get<double>());
    r.tokens.push_back(j["tokens"].get<double>());
    r.parts = j.contains("comm_grad_s");
    if (r.parts) {
      r.counts.push_back(j["comm_counts_s"].get<double>());
      r.grad.push_back(j["comm_grad_s"].get<double>());
      r.loss.push_back(j["comm_loss_s"].get<double>());
    }
  }
  std::ifstream log(dir + ".log");
  while (std::getline(log, line)) {
    auto at = line.find(" M trainable parameters");
    if (at == std::string::npos) continue;
    auto from = line.rfind(' ', at - 1);
    r.params_m = std::atof(line.substr(from + 1, at - from - 1).c_str());
  }
  return r;
}

// The bucket sizes (bytes) the reducer cuts `bytes` of float32 gradients into: ~1 MB first, then
// ~bucket_mb each (by whole parameters there; here by bytes, close enough for timing).
std::vector<int64_t> bucket_bytes(int64_t bytes, double bucket_mb) {
  std::vector<int64_t> out;
  double cap = 1.0;
  while (bytes > 0) {
    int64_t b = std::min(bytes, std::max<int64_t>(4, int64_t(cap * 1024 * 1024) / 4 * 4));
    out.push_back(b);
    bytes -= b;
    cap = bucket_mb;
  }
  return out;
}

// --collectives BYTES MB[,MB...] under mpirun: the median time of all-reducing the buckets of BYTES
// (started back to back, then all waited for, as finalize() does without overlap), per MB, printed
// as JSON on rank 0.
int collectives(int64_t bytes, const std::vector<double>& mbs) {
  return run_app([&] {
    auto comm = make_mpi_communicator(120.0);
    json out = json::object();
    for (double mb : mbs) {
      auto sizes = bucket_bytes(bytes, mb);
      std::vector<std::vector<float>> bufs;
      for (auto b : sizes) bufs.emplace_back(size_t(b / 4), 1.0f);
      std::vector<double> t;
      for (int rep = 0; rep < 21; ++rep) {
        comm->barrier();
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::unique_ptr<Work>> works;
        for (auto& b : bufs) works.push_back(comm->all_reduce_async(b.data(), b.size(), DType::F32, ReduceOp::Sum));
        for (auto& w : works) w->wait();
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        comm->all_reduce(&dt, 1, DType::F64, ReduceOp::Max);
        t.push_back(dt);
      }
      char key[32];
      std::snprintf(key, sizeof key, "%g", mb);
      out[key] = {{"buckets", sizes.size()}, {"median_s", median(t)}};
    }
    if (comm->rank() == 0) std::printf("%s\n", out.dump().c_str());
    return 0;
  });
}

json collective_times(const std::string& self, int64_t bytes, const std::vector<double>& mbs, const std::string& work) {
  std::string list;
  for (double mb : mbs) list += (list.empty() ? "" : ",") + std::to_string(mb);
  std::string out = work + "/collectives.json";
  std::string cmd = "mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -n 2 " + self +
                    " --collectives " + std::to_string(bytes) + " " + list + " > " + out + " 2>" + work +
                    "/collectives.log";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  std::ifstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') last = line;
  return json::parse(last);
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::atof(x.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 3 && std::strcmp(argv[1], "--collectives") == 0)
    return collectives(std::atoll(argv[2]), parse_list(argv[3]));

  std::string data, out = "bench/results/allreduce.json", bin = PROSPECT_BINARY_DIR, baseline;
  int steps = 30, hidden = 128, layers = 4, rounds = 2;
  std::vector<double> mbs = {0.25, 1, 4, 25};
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--hidden" && i + 1 < argc) hidden = std::atoi(argv[++i]);
    else if (a == "--layers" && i + 1 < argc) layers = std::atoi(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--bucket-mb" && i + 1 < argc) mbs = parse_list(argv[++i]);
    else if (a == "--baseline-bin" && i + 1 < argc) baseline = fs::absolute(argv[++i]).string();
    else pos.push_back(a);
  }
  if (pos.empty() || mbs.empty()) {
    std::fprintf(stderr,
                 "usage: %s DATA_DIR [OUT.json] [--steps N] [--hidden H] [--layers L] [--rounds R] "
                 "[--bucket-mb 0.25,1,4,25] [--baseline-bin DIR]\n",
                 argv[0]);
    return 2;
  }
  data = fs::absolute(pos[0]).string();
  if (pos.size() > 1) out = pos[1];
  std::string work = bin + "/bench_allreduce_runs";
  fs::create_directories(work);

  // Every configuration once per round: 1 rank (the weak-scaling reference), 2 ranks without overlap
  // (everything reduced after backward), 2 ranks with overlap per bucket size.
  std::vector<Setting> settings = {{1, true, 25}, {2, false, 25}};
  for (double mb : mbs) settings.push_back({2, true, mb});
  std::vector<std::pair<std::string, std::string>> builds = {{"this", bin}};
  if (!baseline.empty()) builds.push_back({"baseline", baseline});

  struct Acc {
    Steps all;
    std::vector<double> load, share_per_round;
  };
  std::map<std::string, Acc> acc;  // build/setting label -> every round's steps
  double params_m = 0;
  const double load_before = load_average();
  for (int round = 0; round < rounds; ++round)
    for (auto& s : settings)
      for (auto& [name, dir] : builds) {
        std::string key = name + "/" + s.label();
        double load = load_average();
        Steps r = train(dir, data, s, steps, hidden, layers, work + "/" + name + "_" + s.label());
        params_m = std::max(params_m, r.params_m);
        auto& a = acc[key];
        for (auto v : {&Steps::step, &Steps::comm, &Steps::counts, &Steps::grad, &Steps::loss, &Steps::tokens})
          (a.all.*v).insert((a.all.*v).end(), (r.*v).begin(), (r.*v).end());
        a.all.parts = r.parts;
        a.load.push_back(load);
        double sum_step = 0, sum_comm = 0;
        for (size_t i = 0; i < r.step.size(); ++i) sum_step += r.step[i], sum_comm += r.comm[i];
        a.share_per_round.push_back(sum_comm / sum_step);
        std::printf("round %d %-8s %-22s: %.3f s/step (median %.3f), comm %5.1f ms/step (%4.1f%%)%s, load %.1f\n",
                    round, name.c_str(), s.label().c_str(), mean(r.step), median(r.step), 1000 * mean(r.comm),
                    100 * sum_comm / sum_step,
                    r.parts ? (", counts " + std::to_string(int(1000 * mean(r.counts))) + " grad " +
                               std::to_string(int(1000 * mean(r.grad))) + " loss " +
                               std::to_string(int(1000 * mean(r.loss))) + " ms")
                                  .c_str()
                            : "",
                    load);
        std::fflush(stdout);
      }

  // The same buckets all-reduced with nothing else running in the two processes.
  const int64_t grad_bytes = int64_t(params_m * 1e6) * 4;
  std::vector<double> all_mbs = mbs;
  if (std::find(mbs.begin(), mbs.end(), 25.0) == mbs.end()) all_mbs.push_back(25);  // no overlap's layout
  double load_coll = load_average();
  json alone = collective_times(fs::absolute(argv[0]).string(), grad_bytes, all_mbs, work);

  json runs = json::array();
  double tps1[2] = {0, 0};  // this build's 1-rank tokens/s per rank, baseline's
  for (auto& [name, dir] : builds)
    for (auto& s : settings) {
      auto& a = acc[name + "/" + s.label()];
      const auto& st = a.all;
      double sum_step = 0, sum_comm = 0, tokens = 0;
      for (size_t i = 0; i < st.step.size(); ++i) sum_step += st.step[i], sum_comm += st.comm[i], tokens += st.tokens[i];
      double tps_rank = tokens / sum_step / s.ranks;
      if (s.ranks == 1) tps1[name == "baseline"] = tps_rank;
      char mb[32];
      std::snprintf(mb, sizeof mb, "%g", s.bucket_mb);
      json j = {{"build", name},
                {"ranks", s.ranks},
                {"overlap", s.overlap},
                {"bucket_mb", s.bucket_mb},
                {"steps_timed", st.step.size()},
                {"step_time_s", sum_step / double(st.step.size())},
                {"step_time_s_median", median(st.step)},
                {"comm_s_per_step", sum_comm / double(st.step.size())},
                {"comm_share", sum_comm / sum_step},
                {"comm_share_per_round", a.share_per_round},
                {"load_average_1min_per_round", a.load},
                {"tokens_per_s_per_rank", tps_rank}};
      if (st.parts) {
        j["comm_counts_s_per_step"] = mean(st.counts);
        j["comm_grad_s_per_step"] = mean(st.grad);
        j["comm_grad_s_median"] = median(st.grad);
        j["comm_grad_s_min"] = st.grad.empty() ? 0 : *std::min_element(st.grad.begin(), st.grad.end());
        j["comm_loss_s_per_step"] = mean(st.loss);
      }
      if (s.ranks == 2) {
        j["weak_scaling_efficiency_1_to_2"] = tps_rank / tps1[name == "baseline"];
        if (alone.contains(mb)) j["all_reduce_alone_s"] = alone[mb]["median_s"];
      }
      runs.push_back(j);
    }
  json result = {
      {"what",
       "prospect_train steps: share of the step waiting on communication and its parts, per gradient bucket size; "
       "weak scaling 1 -> 2 ranks"},
      {"model",
       {{"hidden_size", hidden},
        {"intermediate_size", 3 * hidden},
        {"num_hidden_layers", layers},
        {"trainable_parameters_m", params_m}}},
      {"gradient_bytes", grad_bytes},
      {"micro_batch_size", 2},
      {"max_seq_len", 512},
      {"threads_per_rank", 1},
      {"steps", steps},
      {"rounds", rounds},
      {"baseline_bin", baseline.empty() ? json(nullptr) : json(baseline)},
      {"runs", runs},
      {"all_reduce_alone", alone},
      {"all_reduce_alone_load_average_1min", load_coll},
      {"load_average_1min", {{"before", load_before}, {"after", load_average()}}},
      {"note", "2-core machine shared with other jobs while measured: times are noisy; compare within a round"}};
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  std::ofstream(out) << result.dump(2) << "\n";
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
