// The Llama decoder against the float64 numpy reference (tests/reference/llama_ref.py, written from the
// HF equations) on tiny random checkpoints in HF layout, plus save/load, sharding, padding, KV-cache
// decoding, config.json round trips, load errors and prospect_lm's exit codes.
#include "prospect/model/llama.h"

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <ATen/SDPBackend.h>
#endif

#include <fstream>

#include "model_test_util.h"
#include "prospect/core/error.h"
#include "prospect/model/kv_cache.h"

namespace prospect {
namespace {
namespace fs = std::filesystem;

const char* kIds = "1,5,9,3,60,7,2,33,33,12,0,63";

struct RefCase {
  const char* name;
  const char* args;
};
const RefCase kCases[] = {
    {"gqa_untied", "--heads 4 --kv 2 --tied 0"},
    {"mha_untied", "--heads 4 --kv 4 --tied 0 --seed 1"},
    {"gqa_tied", "--heads 4 --kv 2 --tied 1 --seed 2"},
    {"mqa_tied_theta500k", "--heads 4 --kv 1 --tied 1 --theta 500000 --seed 3"},
    {"gqa_llama3_scaling", "--heads 4 --kv 2 --llama3 1 --theta 10000 --seed 4"},
    {"mha_llama3_tied_theta500k", "--heads 2 --kv 2 --tied 1 --llama3 1 --theta 500000 --seed 5"},
    {"weights_f16", "--dtype F16 --seed 6"},
    {"weights_bf16", "--dtype BF16 --seed 7 --layers 3"},
};

fs::path make_reference(const std::string& name, const std::string& args) {
  auto d = test::model_dir("ref_" + name);
  int rc = test::run_reference("make " + d.string() + " --ids " + kIds + " " + args);
  EXPECT_EQ(rc, 0) << "reference failed for " << name;
  return d;
}

at::Tensor ids_tensor() {
  std::vector<int64_t> v;
  std::stringstream ss(kIds);
  std::string s;
  while (std::getline(ss, s, ',')) v.push_back(std::stoll(s));
  return at::tensor(v, at::kLong).unsqueeze(0);
}

// Both attention paths where the build has both (the fused one needs LibTorch 2.x).
std::vector<bool> attention_paths() { return kFusedAttentionAvailable ? std::vector<bool>{false, true} : std::vector<bool>{false}; }

TEST(Llama, MatchesFloat64Reference) {
  at::set_num_threads(1);
  torch::NoGradGuard ng;
  for (auto& c : kCases) {
    SCOPED_TRACE(c.name);
    fs::path d = make_reference(c.name, c.args);
    LlamaForCausalLM m = load_llama(d.string());
    at::Tensor want = test::json_matrix(test::read_json(d / "expected.json")["logits"]);
    for (bool fused : attention_paths()) {
      m->fused_attention = fused;
      at::Tensor got = m->forward(ids_tensor())[0];
      ASSERT_EQ(got.sizes(), want.sizes());
      double diff = test::max_abs_diff(got, want);
      EXPECT_LE(diff, 1e-4) << c.name << (fused ? " fused" : " materialised");
      std::printf("  %-28s %-12s max |logit - reference| = %.3g\n", c.name, fused ? "fused" : "materialised", diff);
    }
  }
}

#if TORCH_VERSION_MAJOR >= 2
// at::scaled_dot_product_attention against the materialised scores on the same weights: SPEC §9's
// 1e-5 relative on every logit, including padded rows (left padding gives fully masked query rows,
// which must stay finite, as in the materialised path), and the KV-cache path of the fused attention
// against its full forward.
TEST(Llama, FusedAttentionEqualsMaterialised) {
  torch::NoGradGuard ng;
  at::Tensor ids = ids_tensor();
  for (const char* args : {"--heads 4 --kv 2 --seed 21", "--heads 4 --kv 4 --seed 22", "--heads 4 --kv 1 --llama3 1 --seed 23"}) {
    SCOPED_TRACE(args);
    LlamaForCausalLM m = load_llama(make_reference("fused_vs_mat", args).string());
    auto both = [&](const at::Tensor& x, const at::Tensor& mask) {
      m->fused_attention = false;
      at::Tensor a = m->forward(x, mask);
      m->fused_attention = true;
      at::Tensor b = m->forward(x, mask);
      EXPECT_TRUE(b.isfinite().all().item<bool>());
      double rel = test::rel_diff(b, a);
      std::printf("  %-40s B=%lld T=%lld mask=%d: fused vs materialised relative %.3g\n", args,
                  static_cast<long long>(x.size(0)), static_cast<long long>(x.size(1)), mask.defined(), rel);
      return rel;
    };
    EXPECT_LE(both(ids, {}), 1e-5);
    EXPECT_LE(both(ids, at::ones_like(ids)), 1e-5);  // a mask that masks nothing (is_causal)
    at::Tensor padded = at::tensor({4, 8, 15, 16, 23, 0, 0, 42, 7, 3, 9, 9, 0, 0}, at::kLong).view({2, 7});
    at::Tensor right = at::tensor({1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0}, at::kLong).view({2, 7});
    at::Tensor left = at::tensor({0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 7});
    EXPECT_LE(both(padded, right), 1e-5);
    EXPECT_LE(both(padded, left), 1e-5);
    // bf16 weights: the bias in bf16 stays finite, so fully masked rows (left padding) are the
    // materialised path's uniform rows, not NaN or zeros (bf16 tolerance).
    {
      LlamaForCausalLM h = load_llama(make_reference("fused_vs_mat_bf16", args).string());
      h->to(at::kBFloat16);
      h->inv_freq = h->inv_freq.to(at::kFloat);
      h->fused_attention = false;
      at::Tensor a = h->forward(padded, left).to(at::kFloat);
      h->fused_attention = true;
      at::Tensor b = h->forward(padded, left).to(at::kFloat);
      EXPECT_TRUE(b.isfinite().all().item<bool>());
      EXPECT_LE(test::rel_diff(b, a), 0.05);
      std::printf("  bf16, left padding: fused vs materialised relative %.3g\n", test::rel_diff(b, a));
    }
    // Incremental decoding with the cache (a mask tensor over past keys) equals the full fused forward.
    m->fused_attention = true;
    at::Tensor full = m->forward(ids)[0];
    KVCache cache(m->config, 1, 32);
    at::Tensor first = m->logits(m->hidden(m->embed(ids.narrow(1, 0, 5)), {}, {}, &cache))[0];
    EXPECT_LE(test::rel_diff(first, full.narrow(0, 0, 5)), 1e-5);
    for (int64_t t = 5; t < ids.size(1); ++t) {
      at::Tensor step = m->logits(m->hidden(m->embed(ids.narrow(1, t, 1)), {}, {}, &cache))[0][0];
      EXPECT_LE(test::rel_diff(step, full[t]), 1e-5) << "position " << t;
    }
  }
}

// The kernel at::scaled_dot_product_attention takes on the CPU for the calls the fused path makes:
// the fused flash kernel (not the math fallback, which would materialise the scores), fp32 and bf16.
TEST(Llama, FusedAttentionTakesCpuFlashKernel) {
  int64_t B = 2, H = 4, KV = 2, T = 16, hd = 8;
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    at::Tensor q = at::randn({B, H, T, hd}).to(dt), k = at::randn({B, KV, T, hd}).to(dt), v = at::randn({B, KV, T, hd}).to(dt);
    at::Tensor bias = at::zeros({B, 1, T, T}, dt);
    auto flash = static_cast<int64_t>(at::SDPBackend::flash_attention);
    EXPECT_EQ(at::_fused_sdp_choice(q, k, v, {}, 0.0, true, 1.0, true), flash);
    EXPECT_EQ(at::_fused_sdp_choice(q, k, v, bias, 0.0, false, 1.0, true), flash);
  }
}
#endif

TEST(Llama, TiedModelHasNoLmHeadTensor) {
  fs::path d = make_reference("tied_names", "--tied 1");
  LlamaForCausalLM m = load_llama(d.string());
  for (auto& p : m->named_parameters()) EXPECT_NE(p.key(), "lm_head.weight");
  EXPECT_EQ(m->named_parameters().size(), 1u + 2u * 9u + 1u);
}

TEST(Llama, SaveLoadBitIdenticalAndReadableByReference) {
  torch::NoGradGuard ng;
  fs::path d = make_reference("save_src", "--llama3 1 --kv 2");
  LlamaForCausalLM m = load_llama(d.string());
  auto out = test::model_dir("save_dst"), shard = test::model_dir("save_sharded");
  save_llama(m, out.string());
  save_llama(m, shard.string(), at::kFloat, 20000);
  EXPECT_TRUE(fs::exists(shard / "model.safetensors.index.json"));
  LlamaForCausalLM a = load_llama(out.string()), b = load_llama(shard.string());
  auto pm = m->named_parameters(), pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pm.size(), pa.size());
  for (auto& p : pm) {
    EXPECT_TRUE(p.value().equal(pa[p.key()])) << p.key();
    EXPECT_TRUE(p.value().equal(pb[p.key()])) << p.key();
  }
  // config.json round trip keeps the rope scaling and the unknown keys (bos/eos ids).
  LlamaConfig c = load_llama_config((out / "config.json").string());
  EXPECT_EQ(c.rope_type, "llama3");
  EXPECT_EQ(c.rope_original_max_position_embeddings, 64);
  EXPECT_EQ(c.raw["eos_token_id"].get<int>(), 2);
  EXPECT_EQ(c.num_key_value_heads, 2);
  // The reference (its own safetensors reader) reads both of our folders and agrees.
  for (auto& dir : {out, shard}) {
    std::string json = (dir / "ref.json").string();
    ASSERT_EQ(test::run_reference("logits " + dir.string() + " --ids " + kIds + " > " + json), 0);
    at::Tensor want = test::json_matrix(test::read_json(json)["logits"]);
    EXPECT_LE(test::max_abs_diff(a->forward(ids_tensor())[0], want), 1e-4);
  }
  // bf16 save: the bytes are bf16, the values round-trip through bf16.
  auto half = test::model_dir("save_bf16");
  save_llama(m, half.string(), at::kBFloat16);
  TensorMap t = load_safetensors((half / "model.safetensors").string());
  EXPECT_EQ(t.at("model.norm.weight").scalar_type(), at::kBFloat16);
}

TEST(Llama, Bf16ComputeStaysClose) {
  torch::NoGradGuard ng;
  fs::path d = make_reference("bf16_compute", "--kv 2");
  LlamaForCausalLM m = load_llama(d.string());
  at::Tensor ref = m->forward(ids_tensor());
  m->to(at::kBFloat16);
  m->inv_freq = m->inv_freq.to(at::kFloat);
  at::Tensor ids = ids_tensor();
  at::Tensor mask = at::ones_like(ids);
  at::Tensor l = m->forward(ids, mask).to(at::kFloat);
  EXPECT_TRUE(l.isfinite().all().item<bool>());
  EXPECT_LE(test::rel_diff(l, ref), 0.1);
}

TEST(Llama, PaddingAndPositionsFromMask) {
  torch::NoGradGuard ng;
  fs::path d = make_reference("padding", "--kv 2");
  LlamaForCausalLM m = load_llama(d.string());
  at::Tensor a = at::tensor({4, 8, 15, 16, 23}, at::kLong).unsqueeze(0);
  at::Tensor b = at::tensor({42, 7, 3}, at::kLong).unsqueeze(0);
  at::Tensor la = m->forward(a)[0], lb = m->forward(b)[0];
  // Right padding: the valid positions equal the unpadded runs.
  at::Tensor ids = at::tensor({4, 8, 15, 16, 23, 42, 7, 3, 0, 0}, at::kLong).view({2, 5});
  at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 5});
  at::Tensor l = m->forward(ids, mask);
  EXPECT_LE(test::max_abs_diff(l[0], la), 1e-5);
  EXPECT_LE(test::max_abs_diff(l[1].narrow(0, 0, 3), lb), 1e-5);
  // Left padding: positions come from the mask, so the valid positions still match.
  ids = at::tensor({4, 8, 15, 16, 23, 0, 0, 42, 7, 3}, at::kLong).view({2, 5});
  mask = at::tensor({1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, at::kLong).view({2, 5});
  l = m->forward(ids, mask);
  EXPECT_TRUE(l.isfinite().all().item<bool>());
  EXPECT_LE(test::max_abs_diff(l[1].narrow(0, 2, 3), lb), 1e-5);
}

// Packed windows (attention_mask holds each token's window number): every window's logits equal those
// of its own unpadded run, on both attention paths, and positions restart at 0 in each window.
TEST(Llama, PackedWindowsEqualSeparateRuns) {
  torch::NoGradGuard ng;
  fs::path d = make_reference("packed", "--kv 2 --llama3 1");
  LlamaForCausalLM m = load_llama(d.string());
  at::Tensor a = at::tensor({4, 8, 15, 16, 23}, at::kLong).unsqueeze(0);
  at::Tensor b = at::tensor({42, 7, 3}, at::kLong).unsqueeze(0);
  at::Tensor ids = at::tensor({4, 8, 15, 16, 23, 42, 7, 3, 0, 0, 42, 7, 3, 4, 8, 15, 16, 23, 0, 0}, at::kLong).view({2, 10});
  at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0}, at::kLong).view({2, 10});
  for (bool fused : attention_paths()) {
    SCOPED_TRACE(fused ? "fused" : "materialised");
    m->fused_attention = fused;
    at::Tensor la = m->forward(a)[0], lb = m->forward(b)[0];
    at::Tensor l = m->forward(ids, mask);
    EXPECT_TRUE(l.isfinite().all().item<bool>());
    EXPECT_LE(test::max_abs_diff(l[0].narrow(0, 0, 5), la), 1e-5);
    EXPECT_LE(test::max_abs_diff(l[0].narrow(0, 5, 3), lb), 1e-5);
    EXPECT_LE(test::max_abs_diff(l[1].narrow(0, 0, 3), lb), 1e-5);
    EXPECT_LE(test::max_abs_diff(l[1].narrow(0, 3, 5), la), 1e-5);
    // without the window numbers the second window would see the first: the check can fail
    EXPECT_GT(test::max_abs_diff(m->forward(ids, (mask != 0).to(at::kLong))[0].narrow(0, 5, 3), lb), 1e-3);
  }
  // the rotary tables: the first token of each window at position 0, padding after the last position
  BlockInputs in = m->block_inputs(2, 10, mask, {}, nullptr);
  auto pos_of = [&](int64_t row, int64_t t, int64_t p) { return at::equal(in.cos[row][t], in.cos[0][p]); };
  for (int64_t t = 0; t < 5; ++t) EXPECT_TRUE(pos_of(0, t, t)) << t;
  for (int64_t t = 5; t < 8; ++t) EXPECT_TRUE(pos_of(0, t, t - 5)) << t;
  for (int64_t t = 3; t < 8; ++t) EXPECT_TRUE(pos_of(1, t, t - 3)) << t;
  EXPECT_TRUE(pos_of(1, 9, 4));
  EXPECT_FALSE(in.causal_only);
}

// The fused path's window layout: rows of windows then right padding are attended window by window
// (BlockInputs::rows), anything else (left padding, a window in two pieces) keeps the mask.
TEST(Llama, FusedPathAttendsWindowByWindow) {
  if (!kFusedAttentionAvailable) GTEST_SKIP() << "no fused attention in LibTorch " << TORCH_VERSION;
  LlamaForCausalLM m = load_llama(make_reference("windows", "--kv 2").string());
  m->fused_attention = true;
  at::Tensor packed = at::tensor({1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3}, at::kLong).view({2, 10});
  BlockInputs in = m->block_inputs(2, 10, packed, {}, nullptr);
  ASSERT_EQ(in.rows.size(), 2u);
  using W = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(in.rows[0].windows, (W{{0, 5}, {5, 8}}));
  EXPECT_EQ(in.rows[0].pad_start, 8);
  EXPECT_EQ(in.rows[1].windows, (W{{0, 3}, {3, 8}, {8, 10}}));
  EXPECT_EQ(in.rows[1].pad_start, 10);
  EXPECT_FALSE(in.bias.defined());  // no [B, 1, T, T] bias on this path
  at::Tensor left = at::tensor({0, 0, 1, 1, 1}, at::kLong).view({1, 5});
  at::Tensor split = at::tensor({1, 1, 2, 2, 1}, at::kLong).view({1, 5});
  for (const at::Tensor& mask : {left, split}) {
    BlockInputs other = m->block_inputs(1, 5, mask, {}, nullptr);
    EXPECT_TRUE(other.rows.empty());
    EXPECT_TRUE(other.bias.defined());
  }
  EXPECT_TRUE(m->block_inputs(1, 5, at::ones({1, 5}, at::kLong), {}, nullptr).causal_only);
}

TEST(Llama, KVCacheIncrementalEqualsFullForward) {
  torch::NoGradGuard ng;
  fs::path d = make_reference("kvcache", "--kv 2 --llama3 1");
  LlamaForCausalLM m = load_llama(d.string());
  at::Tensor ids = ids_tensor();
  at::Tensor full = m->forward(ids)[0];
  KVCache cache(m->config, 1, 32);
  at::Tensor first = m->logits(m->hidden(m->embed(ids.narrow(1, 0, 5)), {}, {}, &cache))[0];
  EXPECT_EQ(cache.length, 5);
  EXPECT_LE(test::max_abs_diff(first, full.narrow(0, 0, 5)), 1e-5);
  for (int64_t t = 5; t < ids.size(1); ++t) {
    at::Tensor step = m->logits(m->hidden(m->embed(ids.narrow(1, t, 1)), {}, {}, &cache))[0][0];
    EXPECT_LE(test::max_abs_diff(step, full[t]), 1e-5) << "position " << t;
  }
  // Reset and re-encode a window.
  cache.reset();
  at::Tensor again = m->logits(m->hidden(m->embed(ids.narrow(1, 3, 4)), {}, {}, &cache))[0];
  EXPECT_LE(test::max_abs_diff(again, m->forward(ids.narrow(1, 3, 4))[0]), 1e-5);
  // Overflow is an error, not a write past the buffer.
  KVCache small(m->config, 1, 4);
  EXPECT_THROW(m->hidden(m->embed(ids.narrow(1, 0, 5)), {}, {}, &small), Error);
}

TEST(Llama, LoadErrorsNameFileAndTensor) {
  fs::path src = make_reference("load_err_src", "--tied 0");
  TensorMap good = load_safetensors_dir(src.string());
  LlamaConfig cfg = load_llama_config((src / "config.json").string());
  auto check = [&](const std::string& name, TensorMap t, std::initializer_list<std::string> words) {
    auto d = test::model_dir("load_err_" + name);
    fs::copy_file(src / "config.json", d / "config.json");
    NamedTensors nt(t.begin(), t.end());
    save_safetensors_dir(d.string(), nt);
    try {
      load_llama(d.string());
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(d.string()), std::string::npos) << msg;
      for (auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << name << ": " << msg;
    }
  };
  TensorMap t = good;
  t.erase("model.layers.1.mlp.up_proj.weight");
  check("missing", t, {"model.layers.1.mlp.up_proj.weight", "missing"});
  t = good;
  t["model.layers.0.extra.weight"] = at::zeros({2});
  check("extra", t, {"model.layers.0.extra.weight"});
  t = good;
  t["model.norm.weight"] = at::zeros({31});
  check("misshaped", t, {"model.norm.weight", "[31]", "[32]"});
  // Missing folder / config.
  std::string e;
  try {
    load_llama("/nonexistent/llama");
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("/nonexistent/llama"), std::string::npos) << e;
  // Bad config values.
  nlohmann::json j = cfg.raw;
  j["num_key_value_heads"] = 3;
  EXPECT_THROW(parse_llama_config(j), Error);
  j = cfg.raw;
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_THROW(parse_llama_config(j), Error);
  j = cfg.raw;  // older files spell the key "type"
  j["rope_scaling"] = {{"type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 64}};
  EXPECT_EQ(parse_llama_config(j).rope_type, "llama3");
  j["head_dim"] = 16;  // an explicit head_dim wins over hidden_size / heads
  EXPECT_EQ(parse_llama_config(j).head_size(), 16);
  j = cfg.raw;
  j.erase("hidden_size");
  EXPECT_THROW(parse_llama_config(j), Error);
}

int run(const std::string& args) {
  std::string cmd = std::string(PROSPECT_BINARY_DIR) + "/prospect_lm logits " + args + " > /dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Llama, ProspectLmLogitsAndExitCodes) {
  fs::path d = make_reference("cli", "--tied 1 --llama3 1");
  fs::path out = d / "out.json";
  ASSERT_EQ(run("--model " + d.string() + " --ids " + kIds + " --out " + out.string()), 0);
  at::Tensor got = test::json_matrix(test::read_json(out)["logits"]);
  at::Tensor want = test::json_matrix(test::read_json(d / "expected.json")["logits"]);
  EXPECT_LE(test::max_abs_diff(got, want), 1e-4);
  EXPECT_EQ(run("--model " + d.string() + " --ids 1,x,3"), 2);
  EXPECT_EQ(run("--model " + d.string() + " --ids 1,64"), 2);  // vocab is 64
  EXPECT_EQ(run("--model " + d.string() + " --ids -1"), 2);
  EXPECT_EQ(run("--model " + d.string()), 2);
  EXPECT_EQ(run("--model " + d.string() + " --ids 1 --bogus"), 2);
  EXPECT_EQ(run("--model /nonexistent/m --ids 1"), 1);
  // A corrupt model file: exit 1, no crash.
  auto bad = test::model_dir("cli_corrupt");
  fs::copy_file(d / "config.json", bad / "config.json");
  std::ifstream in(d / "model.safetensors", std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::ofstream(bad / "model.safetensors", std::ios::binary).write(bytes.data(), bytes.size() / 2);
  EXPECT_EQ(run("--model " + bad.string() + " --ids 1"), 1);
}

}  // namespace
}  // namespace prospect

// transformers 5 writes the rotary settings as one rope_parameters object (rope_theta inside it, no
// top-level rope_theta or rope_scaling): both are read from it, and written back in both forms.
TEST(Llama, ConfigRopeParametersOfTransformers5) {
  using namespace prospect;
  nlohmann::json j = {{"vocab_size", 300},        {"hidden_size", 64},        {"intermediate_size", 128},
                      {"num_hidden_layers", 2},   {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"rope_parameters",
                       {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}}};
  LlamaConfig c = parse_llama_config(j);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_type, "llama3");
  EXPECT_EQ(c.rope_original_max_position_embeddings, 64);
  c.rope_theta = 250000.0;
  nlohmann::json back = llama_config_json(c);
  EXPECT_EQ(back["rope_parameters"]["rope_theta"], 250000.0);
  EXPECT_EQ(back["rope_parameters"]["factor"], 8.0);
  EXPECT_EQ(back["rope_theta"], 250000.0);
  EXPECT_EQ(back["rope_scaling"]["rope_type"], "llama3");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000.0}};
  c = parse_llama_config(j);
  EXPECT_EQ(c.rope_theta, 1000.0);
  EXPECT_TRUE(c.rope_type.empty());
}
