// Memory of full fine-tuning against LoRA for the Llama-3.2-1B-shaped model of
// configs/llama3_2_1b_siglip.ini (H 2048, I 8192, 16 layers, 32/8 heads, vocab 128256 + <image>, tied,
// 1152-d frames into the projector):
//  - bytes, from the shapes: parameters, gradients and AdamW state. Full: every parameter trained, fp32
//    master + fp32 gradient + two fp32 moments = 16 B a parameter (bf16 autocast keeps the fp32 master).
//    LoRA rank r on all seven projections: the base frozen in model.dtype (2 B bf16, 4 B fp32), no
//    gradient and no optimizer state for it; the LoRA pairs, the projector and the heads at 16 B.
//  - the peak RSS of one training step of each on the CPU (fp32; forward, LM loss on every position,
//    backward, AdamW), each in a fresh child process, measured with fewer layers and extrapolated
//    linearly in the layer count to 16 (the full model would not fit in this machine's 24 GiB).
//
//   bench_lora_memory [--rank 128] [--tokens 256] [--layers 1,2] [--threads 2] [--out bench/results/lora_memory.json]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "prospect/model/llama.h"
#include "prospect/model/lora.h"
#include "prospect/train/optim.h"

using nlohmann::json;
using namespace prospect;

namespace {

constexpr int64_t kLayers1B = 16;

LlamaConfig llama_1b(int64_t layers) {
  LlamaConfig c;
  c.vocab_size = 128256 + 1;  // + <image>
  c.hidden_size = 2048;
  c.intermediate_size = 8192;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.tie_word_embeddings = true;
  c.rope_theta = 500000;
  return c;
}

struct Counts {
  int64_t base = 0;     // the Llama's parameters
  int64_t lora = 0;     // the LoRA pairs
  int64_t heads = 0;    // projector and decision heads
};

Counts count(const LlamaConfig& c, int64_t rank, int64_t feature_dim) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, kv = c.num_key_value_heads * c.head_size(),
                q = c.num_attention_heads * c.head_size(), L = c.num_hidden_layers;
  Counts n;
  const int64_t per_layer = H * q + 2 * H * kv + q * H + 3 * H * I + 2 * H;
  n.base = c.vocab_size * H * (c.tie_word_embeddings ? 1 : 2) + L * per_layer + H;
  const int64_t lora_layer = (H + q) + 2 * (H + kv) + (q + H) + 2 * (H + I) + (I + H);
  n.lora = L * rank * lora_layer;
  n.heads = feature_dim * H + H + H * H + H + 2 * (H + 1);
  return n;
}

// One training step in this process; returns the peak RSS in MiB.
double one_step(int64_t layers, int64_t rank, int64_t tokens) {
  torch::manual_seed(0);
  LlamaForCausalLM m(llama_1b(layers));
  LoraAdapter adapter{nullptr};
  NamedParams trained;
  if (rank > 0) {
    ModelConfig mc;
    mc.lora_rank = rank;
    mc.lora_alpha = 2.0 * rank;
    adapter = LoraAdapter(m->config, lora_options(mc));
    adapter->attach(*m);
    for (auto& p : m->parameters()) p.set_requires_grad(false);
    for (auto& p : adapter->named_parameters()) trained.emplace_back(p.key(), p.value());
  } else {
    for (auto& p : m->named_parameters()) trained.emplace_back(p.key(), p.value());
  }
  m->train();
  OptimConfig oc;
  AdamW opt(trained, oc);
  at::Tensor ids = at::randint(0, 128256, {1, tokens}, at::kLong);
  at::Tensor logits = m->forward(ids);
  at::Tensor loss = at::cross_entropy_loss(logits[0].narrow(0, 0, tokens - 1), ids[0].narrow(0, 1, tokens - 1));
  loss.backward();
  opt.step(1e-4);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

// one_step in a child process (a fresh peak); -1 when it failed.
double in_child(int64_t layers, int64_t rank, int64_t tokens) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    double mb = one_step(layers, rank, tokens);
    ssize_t w = write(fd[1], &mb, sizeof mb);
    _exit(w == sizeof mb ? 0 : 1);
  }
  close(fd[1]);
  double mb = -1;
  if (read(fd[0], &mb, sizeof mb) != sizeof mb) mb = -1;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? mb : -1;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) v.push_back(std::stoll(x));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rank = 128, tokens = 256, feature_dim = 1152;
  int threads = 2;
  std::string layers_arg = "1,2", out = "bench/results/lora_memory.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--rank") rank = std::stoll(v);
    else if (a == "--tokens") tokens = std::stoll(v);
    else if (a == "--layers") layers_arg = v;
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--out") out = v;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  at::set_num_threads(threads);
  std::vector<int64_t> layers = parse_list(layers_arg);

  const Counts n = count(llama_1b(kLayers1B), rank, feature_dim);
  const double GiB = 1024.0 * 1024 * 1024;
  auto bytes = [&](bool lora, int base_bytes) {
    const int64_t trained = (lora ? n.lora : n.base) + n.heads;
    const int64_t frozen = lora ? n.base : 0;
    return json{{"parameter_bytes", trained * 4 + frozen * base_bytes},
                {"gradient_bytes", trained * 4},
                {"optimizer_state_bytes", trained * 8},
                {"total_gib", (trained * 16 + frozen * base_bytes) / GiB},
                {"trained_parameters", trained},
                {"frozen_parameters", frozen}};
  };
  json j = {{"model", "llama3.2-1b shape: H 2048, I 8192, 16 layers, 32/8 heads, vocab 128257, tied; projector 1152 -> 2048"},
            {"lora_rank", rank},
            {"parameters", {{"base", n.base}, {"lora", n.lora}, {"projector_and_heads", n.heads}}},
            {"full", {{"fp32", bytes(false, 4)}, {"bf16_autocast", bytes(false, 4)}}},
            {"lora", {{"fp32_base", bytes(true, 4)}, {"bf16_base", bytes(true, 2)}}}};

  // peak RSS of one CPU step (fp32), alternating full / LoRA, then the line through the layer counts
  json rss = json::array();
  std::vector<double> full_mb, lora_mb;
  for (int64_t L : layers) {
    double f = in_child(L, 0, tokens), l = in_child(L, rank, tokens);
    full_mb.push_back(f);
    lora_mb.push_back(l);
    rss.push_back({{"layers", L}, {"full_mib", f}, {"lora_mib", l}});
    std::cerr << "layers " << L << ": full " << f << " MiB, LoRA " << l << " MiB\n";
  }
  j["peak_rss_one_step_cpu_fp32"] = {{"tokens", tokens}, {"threads", threads}, {"measured", rss}};
  if (layers.size() >= 2 && full_mb.front() > 0 && full_mb.back() > 0 && lora_mb.front() > 0 && lora_mb.back() > 0) {
    const double dl = static_cast<double>(layers.back() - layers.front());
    auto at16 = [&](const std::vector<double>& v) {
      return v.back() + (v.back() - v.front()) / dl * (kLayers1B - layers.back());
    };
    j["peak_rss_one_step_cpu_fp32"]["extrapolated_16_layers_gib"] = {{"full", at16(full_mb) / 1024},
                                                                     {"lora", at16(lora_mb) / 1024}};
  }
  std::ofstream(out) << j.dump(2) << "\n";
  std::cout << j.dump(2) << "\n";
  return 0;
}
