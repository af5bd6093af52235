// Communication inside real training steps (CPU, MPI), reported, not gated: prospect_train on a small
// model at 1 and 2 ranks, with and without overlap (dist.overlap), from its metrics.jsonl:
//  - comm share: the seconds a step waits on communication (comm_s: the label-count all-reduce, the
//    gradient reduction's finalize() wait, the loss all-reduce) over the step time;
//  - weak scaling 1 -> 2 ranks: the same micro-batches per rank (data.virtual_ranks = ranks), tokens/s
//    per rank at 2 ranks over tokens/s at 1 rank.
// The first steps (warm-up) are left out. Run from the repository root after `prospect_data synth`:
//   build/bench/bench_allreduce DATA_DIR [OUT.json] [--steps N] [--hidden H] [--layers L] [--bucket-mb MB]
// It starts mpirun itself (with --bind-to none --oversubscribe, one thread per rank).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The 1-minute load average (other work on the machine while measuring).
double load_average() {
  double l = -1;
  std::ifstream("/proc/loadavg") >> l;
  return l;
}

struct Run {
  double comm_share = 0, step_s = 0, comm_s = 0, tokens_per_s = 0, tokens_per_s_per_rank = 0;
  int steps = 0;
};

Run train(const std::string& bin, const std::string& data, int ranks, bool overlap, int steps, int hidden, int layers,
          double bucket_mb, const std::string& work) {
  std::string dir = work + "/np" + std::to_string(ranks) + (overlap ? "_overlap" : "_no_overlap");
  fs::remove_all(dir);
  std::string cmd = "mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -n " +
                    std::to_string(ranks) + " " + bin + "/prospect_train --run-dir " + dir +
                    " --data.train=" + data + "/train.h5 --data.val=" + data + "/val.h5 --data.test=" + data +
                    "/test.h5 --data.tokenizer=" + data + "/tokenizer.model --data.max_seq_len=512" +
                    " --model.hidden_size=" + std::to_string(hidden) +
                    " --model.intermediate_size=" + std::to_string(3 * hidden) +
                    " --model.num_hidden_layers=" + std::to_string(layers) +
                    " --model.num_attention_heads=4 --model.num_key_value_heads=2 --train.micro_batch_size=2" +
                    " --train.threads=1 --train.val_every=0 --train.save_every=0 --train.log_every=1000" +
                    " --train.max_steps=" + std::to_string(steps) + " --data.virtual_ranks=" + std::to_string(ranks) +
                    " --dist.overlap=" + (overlap ? "true" : "false") +
                    " --dist.bucket_mb=" + std::to_string(bucket_mb) + " > " + dir + ".log 2>&1";
  int st = std::system(cmd.c_str());
  if (st != 0) {
    std::fprintf(stderr, "failed (%d): %s\n", st, cmd.c_str());
    std::exit(1);
  }
  Run r;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  const int skip = std::min(3, steps / 4);  // warm-up
  double tokens = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    if (j.contains("split") || j["step"].get<int>() <= skip) continue;
    r.step_s += j["step_time_s"].get<double>();
    r.comm_s += j["comm_s"].get<double>();
    tokens += j["tokens"].get<double>();
    ++r.steps;
  }
  r.comm_share = r.comm_s / r.step_s;
  r.tokens_per_s = tokens / r.step_s;
  r.tokens_per_s_per_rank = r.tokens_per_s / ranks;
  std::printf("%d rank(s), overlap %-5s: %d steps, %.3f s/step, comm %.1f ms/step (%.1f%%), %.0f tokens/s per rank\n",
              ranks, overlap ? "on" : "off", r.steps, r.step_s / r.steps, 1000 * r.comm_s / r.steps,
              100 * r.comm_share, r.tokens_per_s_per_rank);
  std::fflush(stdout);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, out = "bench/results/allreduce.json", bin = PROSPECT_BINARY_DIR;
  int steps = 30, hidden = 128, layers = 4;
  double bucket_mb = 25;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--hidden" && i + 1 < argc) hidden = std::atoi(argv[++i]);
    else if (a == "--layers" && i + 1 < argc) layers = std::atoi(argv[++i]);
    else if (a == "--bucket-mb" && i + 1 < argc) bucket_mb = std::atof(argv[++i]);
    else pos.push_back(a);
  }
  if (pos.empty()) {
    std::fprintf(stderr, "usage: %s DATA_DIR [OUT.json] [--steps N] [--hidden H] [--layers L] [--bucket-mb MB]\n", argv[0]);
    return 2;
  }
  data = fs::absolute(pos[0]).string();
  if (pos.size() > 1) out = pos[1];
  std::string work = bin + "/bench_allreduce_runs";
  fs::create_directories(work);

  json runs = json::array();
  const double load_before = load_average();
  double per_rank[3][2] = {};
  for (int ranks : {1, 2})
    for (bool overlap : {false, true}) {
      Run r = train(bin, data, ranks, overlap, steps, hidden, layers, bucket_mb, work);
      per_rank[ranks][overlap] = r.tokens_per_s_per_rank;
      runs.push_back({{"ranks", ranks},
                      {"overlap", overlap},
                      {"steps_timed", r.steps},
                      {"step_time_s", r.step_s / r.steps},
                      {"comm_s_per_step", r.comm_s / r.steps},
                      {"comm_share", r.comm_share},
                      {"tokens_per_s", r.tokens_per_s},
                      {"tokens_per_s_per_rank", r.tokens_per_s_per_rank}});
    }
  json result = {
      {"what", "prospect_train steps: share of the step waiting on communication, weak scaling 1 -> 2 ranks"},
      {"model", {{"hidden_size", hidden}, {"intermediate_size", 3 * hidden}, {"num_hidden_layers", layers}}},
      {"micro_batch_size", 2},
      {"bucket_mb", bucket_mb},
      {"threads_per_rank", 1},
      {"steps", steps},
      {"runs", runs},
      {"weak_scaling_efficiency_1_to_2",
       {{"overlap", per_rank[2][1] / per_rank[1][1]}, {"no_overlap", per_rank[2][0] / per_rank[1][0]}}},
      {"load_average_1min", {{"before", load_before}, {"after", load_average()}}},
      {"note", "2-core machine shared with other jobs while measured: times are noisy"}};
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  std::ofstream(out) << result.dump(2) << "\n";
  std::printf("weak scaling efficiency 1 -> 2 ranks: %.2f (overlap), %.2f (no overlap); wrote %s\n",
              per_rank[2][1] / per_rank[1][1], per_rank[2][0] / per_rank[1][0], out.c_str());
  return 0;
}
