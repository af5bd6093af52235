// Speed of the whole DST training step in C++ on real collated batches: the trainer's data path (the
// demo store, the chat template, the step planner with its sampling and padding) gives the micro-batches
// of the first optimizer steps; each timed step is what run_step does on one process: forward of
// DSTProActLlama (projector, decoder, heads, LM head at the LM positions), the four loss terms over the
// step's label counts, backward per micro-batch, gradient clipping, AdamW. The batches are written to a
// safetensors file (--write-batches) that tools/reference/hf_step.py --mode dst reads, so that the
// Hugging Face reference runs on the same tokens, padding and frames.
//
// Shapes: demo (the configuration's model) or llama1b_layers (Llama-3.2-1B-shaped layers: H 2048,
// I 8192, heads 32/8, vocab 32000 + `<image>`, --layers1b layers) on the same batches. Tokens/s counts
// the real (non-padding) tokens; the padding share is padded / all positions of the collated rows.
// Memory: the peak resident size during set-up and steps above the size before the model was made.
//
//   bench_dst_step [--config configs/demo.ini] [--shape demo|llama1b_layers] [--layers1b 2] [--steps 2]
//                  [--warmup 1] [--threads 2] [--virtual-ranks 2] [--max-micro-batches N]
//                  [--write-batches FILE] [--pack] [--profile] [--out bench/results/dst_step_cpp.json]
// --pack: time the step as train.pack = true plans it (several windows per row); the JSON gives the
// padding share of the step both ways.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../src/train/train_data.h"  // the trainer's data plan (private to src/train; read-only use here)
#include "profile_kinds.h"
#include "prospect/core/config.h"
#include "prospect/distributed/communicator.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/safetensors.h"
#include "prospect/seq/format.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"
#include "prospect/train/losses.h"
#include "prospect/train/optim.h"

using nlohmann::json;

namespace {

using bench_profile::cpu_now;
using bench_profile::now;

// Real and padded tokens of a step's micro-batches, counted as the trainer counts them.
prospect::PaddingCount count_tokens(const std::vector<prospect::Batch>& batches) {
  prospect::PaddingCount c;
  for (const auto& b : batches) c += prospect::padding_count(b);
  return c;
}

// One optimizer step as the trainer's run_step on one process (no reduction, no autocast).
double dst_step(prospect::DSTProActLlama& m, prospect::AdamW& opt, const prospect::NamedParams& params,
                const std::vector<prospect::Batch>& batches, const prospect::LabelCounts& global,
                const prospect::Config& cfg) {
  double loss = 0;
  for (const auto& b : batches) {
    prospect::DSTOutput out = m->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
    prospect::LossTerms t = prospect::compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, b, global,
                                                   cfg.loss, out.state_logits);
    t.loss.backward();
    loss += t.loss.item<double>();
  }
  {
    RECORD_FUNCTION("optimizer.step", std::vector<c10::IValue>());
    prospect::clip_grad_norm(params, cfg.optim.grad_clip);
    opt.step(1e-4);
  }
  for (auto& [n, p] : params) p.mutable_grad() = at::Tensor();
  return loss;
}

void write_batches(const std::string& path, const std::vector<prospect::Batch>& batches,
                   const prospect::LabelCounts& global, const prospect::PaddingCount& tc, int64_t vocab, int64_t feature_dim) {
  prospect::NamedTensors t;
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto& b = batches[i];
    std::string p = std::to_string(i) + "/";
    t.emplace_back(p + "input_ids", b.input_ids);
    t.emplace_back(p + "attention_mask", b.attention_mask);
    t.emplace_back(p + "frames", b.frames.to(at::kFloat));
    t.emplace_back(p + "decision_index", b.decision_index);
    t.emplace_back(p + "lm_index", b.lm_index);
    t.emplace_back(p + "speaking_labels", b.speaking_labels);
    t.emplace_back(p + "dst_update_labels", b.dst_update_labels);
    t.emplace_back(p + "speaking_gen_labels", b.speaking_gen_labels);
    t.emplace_back(p + "dst_gen_labels", b.dst_gen_labels);
  }
  json meta = {{"batches", batches.size()}, {"vocab_size", vocab},     {"feature_dim", feature_dim},
               {"speaking", global.speaking}, {"dst_update", global.dst_update}, {"speaking_gen", global.speaking_gen},
               {"dst_gen", global.dst_gen},   {"tokens_real", tc.tokens},  {"tokens_padded", tc.tokens_padded}};
  std::string s = meta.dump();
  at::Tensor bytes = at::empty({static_cast<int64_t>(s.size())}, at::kByte);
  std::memcpy(bytes.data_ptr(), s.data(), s.size());
  t.emplace_back("meta", bytes);
  prospect::save_safetensors(path, t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "configs/demo.ini", shape = "demo", write = "", out = "bench/results/dst_step_cpp.json";
  int steps = 2, warmup = 1, threads = 2, virtual_ranks = 2, layers1b = 2, max_mb = 0;
  bool profile = false, pack = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--config") config = next();
    else if (a == "--shape") shape = next();
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--virtual-ranks") virtual_ranks = std::stoi(next());
    else if (a == "--layers1b") layers1b = std::stoi(next());
    else if (a == "--max-micro-batches") max_mb = std::stoi(next());
    else if (a == "--write-batches") write = next();
    else if (a == "--profile") profile = true;
    else if (a == "--pack") pack = true;
    else if (a == "--out") out = next();
    else {
      std::cerr << "usage: bench_dst_step [--config INI] [--shape demo|llama1b_layers] [--layers1b N] [--steps N] "
                   "[--warmup N] [--threads N] [--virtual-ranks N] [--max-micro-batches N] [--write-batches FILE] "
                   "[--pack] [--profile] [--out FILE]\n";
      return 2;
    }
  }
  if (pack && !write.empty()) {
    std::cerr << "bench_dst_step: --pack and --write-batches: the reference reads unpacked batches only\n";
    return 2;
  }
  if (shape != "demo" && shape != "llama1b_layers") {
    std::cerr << "bench_dst_step: --shape is demo or llama1b_layers, not '" << shape << "'\n";
    return 2;
  }
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);
  prospect::Config cfg;
  prospect::load_ini_file(config, cfg);
  if (shape == "llama1b_layers") {
    cfg.model.hidden_size = 2048, cfg.model.intermediate_size = 8192, cfg.model.num_hidden_layers = layers1b;
    cfg.model.num_attention_heads = 32, cfg.model.num_key_value_heads = 8, cfg.model.vocab_size = 32000;
    cfg.model.tie_word_embeddings = false, cfg.model.rope_theta = 500000.0;
  }
  bool peak_ok = bench_profile::reset_peak_rss();
  double rss0 = bench_profile::rss_mib("VmRSS");

  // The data exactly as the trainer plans it on one process running `virtual_ranks` virtual ranks.
  auto comm = prospect::make_single_communicator();
  auto tok = prospect::load_tokenizer(cfg.data.tokenizer);
  prospect::ChatTemplate tmpl = prospect::make_chat_template(cfg.data.template_name, *tok);
  prospect::train::Split split = prospect::train::open_split(cfg.data.train, cfg, cfg.model.feature_dim, "train", *comm);
  const int64_t feature_dim = split.store->embedding_dim();
  int64_t base_vocab = cfg.model.vocab_size > 0 ? cfg.model.vocab_size : tok->vocab_size();
  prospect::DSTProActLlama m = prospect::make_dst_model(cfg.model, base_vocab, feature_dim, cfg.train.seed);
  m->train();
  prospect::SeqOptions opt = prospect::seq_options(cfg.data, static_cast<int32_t>(m->image_token_id), split.store->fps());
  // The first optimizer step, packed (train.pack) or not, and the same step the other way, for the
  // padding share before and after packing.
  auto plan = [&](bool packed) {
    prospect::Config c = cfg;
    c.train.pack = packed;
    prospect::train::StepPlanner planner(c, split, tmpl, opt, 0, 1, virtual_ranks);
    prospect::train::StepData d = planner.step({});
    if (max_mb > 0 && static_cast<int>(d.batches.size()) > max_mb) {
      d.batches.resize(max_mb);
      d.counts = {};
      for (const auto& b : d.batches) d.counts += b.counts;
    }
    return d;
  };
  prospect::train::StepData d = plan(pack);
  prospect::PaddingCount tc = count_tokens(d.batches), other = count_tokens(plan(!pack).batches);
  if (!write.empty()) write_batches(write, d.batches, d.counts, tc, m->config.vocab_size, feature_dim);

  prospect::NamedParams params;
  for (auto& p : m->named_parameters()) params.emplace_back(p.key(), p.value());
  prospect::OptimConfig oc = cfg.optim;
  prospect::AdamW adamw(params, oc);
  std::vector<double> wall, cpu;
  double first = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    double t0 = now(), c0 = cpu_now();
    double loss = dst_step(m, adamw, params, d.batches, d.counts, cfg);
    double dt = now() - t0, dc = cpu_now() - c0;
    if (i == 0) first = loss;
    if (i >= warmup) wall.push_back(dt), cpu.push_back(dc);
    std::fprintf(stderr, "  c++ dst %s step %d: %.3f s (cpu %.3f s)\n", shape.c_str(), i, dt, dc);
  }
  double hwm = bench_profile::rss_mib("VmHWM");
  const auto& c = m->config;
  int64_t H = c.hidden_size, hd = c.head_size();
  int64_t n_layer = H * c.num_attention_heads * hd * 2 + H * c.num_key_value_heads * hd * 2 + 3 * H * c.intermediate_size;
  // The step's FLOPs (forward + backward = 3x the forward's 2 per multiply-add), over the positions
  // the model computes (padding included, as the kernels run): decoder layers 6*n_layer per position,
  // attention 12*L*H*T per position of a row of length T, the projector per frame, the LM head per LM
  // position, the two heads per decision position. Divided by the best step: % of the matmul peak.
  double flop = 0;
  for (const auto& b : d.batches) {
    double positions = double(b.input_ids.numel()), T = double(b.input_ids.size(1));
    flop += 6.0 * double(n_layer) * c.num_hidden_layers * positions + 12.0 * c.num_hidden_layers * H * T * positions;
    flop += 6.0 * double(feature_dim * H + H * H) * double(b.frames.size(0));
    flop += 6.0 * double(H) * c.vocab_size * double(b.lm_index.numel()) + 6.0 * 2 * H * double(b.decision_index.numel());
  }
  json r = {{"benchmark", "dst_step"}, {"shape", shape}, {"torch", TORCH_VERSION}, {"threads", threads},
            {"step_s", wall}, {"cpu_s", cpu}, {"loss", first}, {"micro_batches", d.batches.size()},
            {"tokens_real", tc.tokens}, {"tokens_padded", tc.tokens_padded}, {"padding_share", tc.padding_share()},
            {"packed", pack}, {"padding_share_unpacked", (pack ? other : tc).padding_share()},
            {"padding_share_packed", (pack ? tc : other).padding_share()},
            {"rows", [&] { int64_t n = 0; for (auto& b : d.batches) n += b.input_ids.size(0); return n; }()},
            {"hidden_size", H}, {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
            {"vocab_size", c.vocab_size}, {"decoder_params_per_layer", n_layer},
            {"gflop_per_step", flop / 1e9},
            {"rss_peak_mib", peak_ok ? json(hwm - rss0) : json(nullptr)}};
  if (profile) {
    r["profile"] = bench_profile::profile_kinds([&] { dst_step(m, adamw, params, d.batches, d.counts, cfg); });
  }
  std::ofstream(out) << r.dump(2) << "\n";
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}
