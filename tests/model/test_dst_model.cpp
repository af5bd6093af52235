// DSTProActLlama: the LM part equals plain Llama, frames land at their <image> positions in order,
// gradient checkpointing gives bitwise-equal gradients with the same hooks firing, streaming decoding
// with the KV cache equals the full forward, save/load and its errors, and freezing.
#include "prospect/model/dst_model.h"

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/version.h>

#include <map>

#include "model_test_util.h"
#include "prospect/core/error.h"
#include "prospect/model/generate.h"
#include "prospect/model/grad_checkpoint.h"
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

namespace prospect {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kD = 12;  // feature dim

ModelConfig small_config() {
  ModelConfig c = test::tiny_model_config();
  c.intermediate_size = 48;
  c.num_hidden_layers = 3;
  c.tie_word_embeddings = false;
  return c;
}

// A batch of two sequences with <image> tokens (id 64 for a base vocabulary of 64), right padded.
struct Batch {
  at::Tensor ids, mask, frames;
};
Batch make_batch(int64_t img) {
  Batch b;
  b.ids = at::tensor(std::vector<int64_t>{1, 5, img, img, 9, 3, img, 7, 2, img, 1, 4, img, 6, img, 8, 0, 0, 0, 0}, at::kLong).view({2, 10});
  b.mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, at::kLong).view({2, 10});
  b.frames = at::randn({6, kD});
  return b;
}

TEST(DSTModel, LanguagePartEqualsPlainLlama) {
  at::set_num_threads(1);
  torch::NoGradGuard ng;
  auto d = test::model_dir("dst_hf_base");
  ASSERT_EQ(test::run_reference("make " + d.string() + " --ids 1,2 --tied 0 --seed 11"), 0);
  LlamaForCausalLM base = load_llama(d.string());
  DSTProActLlama m = make_dst_model_from_hf(d.string(), kD, 5);
  EXPECT_EQ(m->image_token_id, 64);
  EXPECT_EQ(m->config.vocab_size, 65);
  at::Tensor ids = at::tensor({1, 5, 9, 3, 60, 7, 2, 33}, at::kLong).unsqueeze(0);
  at::Tensor all = at::arange(8, at::kLong);
  DSTOutput o = m->forward(ids, {}, {}, all.narrow(0, 0, 3), all);
  at::Tensor plain = base->forward(ids)[0];
  EXPECT_EQ(o.lm_logits.sizes(), (std::vector<int64_t>{8, 65}));
  EXPECT_TRUE(o.lm_logits.narrow(1, 0, 64).equal(plain));
  EXPECT_EQ(o.speaking_logits.sizes(), (std::vector<int64_t>{3}));
  // Tied base too.
  auto dt = test::model_dir("dst_hf_base_tied");
  ASSERT_EQ(test::run_reference("make " + dt.string() + " --ids 1,2 --tied 1 --seed 12"), 0);
  LlamaForCausalLM tb = load_llama(dt.string());
  DSTProActLlama tm = make_dst_model_from_hf(dt.string(), kD, 5);
  EXPECT_TRUE(tm->forward(ids, {}, {}, all, all).lm_logits.narrow(1, 0, 64).equal(tb->forward(ids)[0]));
}

TEST(DSTModel, FramesReplaceImageRowsInOrder) {
  torch::NoGradGuard ng;
  DSTProActLlama m = make_dst_model_scratch(small_config(), 64, kD, 1);
  Batch b = make_batch(m->image_token_id);
  at::Tensor emb = m->inputs_embeds(b.ids, b.frames);
  at::Tensor where = flat_index(b.ids == m->image_token_id);
  EXPECT_TRUE(emb.reshape({20, -1}).index_select(0, where).equal(m->project(b.frames)));
  // Text rows are the embedding's.
  EXPECT_TRUE(emb[0][0].equal(m->model->embed_tokens->weight[1]));
  // The batch equals each sequence on its own with its own frames (rows 0-3 and 4-5).
  at::Tensor all = at::arange(20, at::kLong);
  DSTOutput o = m->forward(b.ids, b.mask, b.frames, all, all);
  at::Tensor ten = at::arange(10, at::kLong);
  DSTOutput o0 = m->forward(b.ids.narrow(0, 0, 1), {}, b.frames.narrow(0, 0, 4), ten, ten);
  DSTOutput o1 = m->forward(b.ids.narrow(0, 1, 1).narrow(1, 0, 6), {}, b.frames.narrow(0, 4, 2), ten.narrow(0, 0, 6),
                            ten.narrow(0, 0, 6));
  EXPECT_LE(test::max_abs_diff(o.speaking_logits.narrow(0, 0, 10), o0.speaking_logits), 1e-5);
  EXPECT_LE(test::max_abs_diff(o.dst_logits.narrow(0, 10, 6), o1.dst_logits), 1e-5);
  EXPECT_LE(test::max_abs_diff(o.lm_logits.narrow(0, 10, 6), o1.lm_logits), 1e-5);
  // Swapping the two sequences (and their frames) swaps the outputs.
  at::Tensor ids_sw = at::stack({b.ids[1], b.ids[0]}), mask_sw = at::stack({b.mask[1], b.mask[0]});
  at::Tensor fr_sw = at::cat({b.frames.narrow(0, 4, 2), b.frames.narrow(0, 0, 4)});
  DSTOutput s = m->forward(ids_sw, mask_sw, fr_sw, all, all);
  EXPECT_LE(test::max_abs_diff(s.speaking_logits.narrow(0, 10, 10), o.speaking_logits.narrow(0, 0, 10)), 1e-5);
  EXPECT_LE(test::max_abs_diff(s.dst_logits.narrow(0, 0, 6), o.dst_logits.narrow(0, 10, 6)), 1e-5);
  // Permuting frames within a sequence changes exactly what the permuted <image> positions see: the
  // first <image> of sequence 0 (position 2) then reads frame 1's projection.
  at::Tensor perm = b.frames.index_select(0, at::tensor({1, 0, 2, 3, 4, 5}, at::kLong));
  at::Tensor embp = m->inputs_embeds(b.ids, perm).reshape({20, -1});
  EXPECT_TRUE(embp[2].equal(emb.reshape({20, -1})[3]));
  EXPECT_TRUE(embp[3].equal(emb.reshape({20, -1})[2]));
  DSTOutput p = m->forward(b.ids, b.mask, perm, all, all);
  EXPECT_LE(test::max_abs_diff(p.speaking_logits.narrow(0, 0, 2), o.speaking_logits.narrow(0, 0, 2)), 1e-6);
  EXPECT_GT(test::max_abs_diff(p.speaking_logits.narrow(0, 2, 1), o.speaking_logits.narrow(0, 2, 1)), 1e-7);
  // Wrong frame count or dim.
  EXPECT_THROW(m->forward(b.ids, b.mask, b.frames.narrow(0, 0, 5), all, all), Error);
  EXPECT_THROW(m->forward(b.ids, b.mask, at::randn({6, kD + 1}), all, all), Error);
}

// Runs forward+backward and returns every parameter's gradient and how often its hooks fired: the
// tensor hook (register_hook, before accumulation) as "name" and a post-accumulate hook on the
// parameter's AccumulateGrad node (what an overlapped all-reduce uses; .grad is ready) as "name+post".
// cpu_bf16: the forward (and loss) under CPU bf16 autocast; backward runs after the region closed, as
// the trainer does.
std::pair<std::map<std::string, at::Tensor>, std::map<std::string, int>> grads_of(DSTProActLlama& m, const Batch& b,
                                                                                    bool ckpt, bool cpu_bf16 = false) {
  m->zero_grad();
  m->train();
  m->gradient_checkpointing = ckpt;
  std::map<std::string, int> fired;
  std::vector<std::pair<at::Tensor, unsigned>> hooks;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  for (auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    std::string name = p.key();
    unsigned h = p.value().register_hook([&fired, name](const at::Tensor& g) { ++fired[name]; });
    hooks.emplace_back(p.value(), h);
    // The accumulator must be kept alive (the tensor holds it weakly) for its hook to persist.
    auto acc = torch::autograd::impl::grad_accumulator(p.value());
    at::Tensor param = p.value();
    acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [&fired, name, param](const torch::autograd::variable_list& out, const torch::autograd::variable_list& in) {
          if (param.grad().defined()) ++fired[name + "+post"];
          return out;
        }));
    accumulators.push_back(acc);
  }
  at::Tensor dec = at::tensor({2, 3, 6, 12, 14}, at::kLong), lm = at::tensor({0, 4, 5, 7, 8, 11, 13}, at::kLong);
  at::Tensor loss;
  {
    AutocastState bf16 = AutocastState::current();
    bf16.cpu = cpu_bf16;
    bf16.cpu_dtype = at::kBFloat16;
    AutocastStateGuard region(bf16, /*clear_cache_on_exit=*/true);
    DSTOutput o = m->forward(b.ids, b.mask, b.frames, dec, lm);
    at::Tensor target = at::tensor({4, 9, 3, 2, 1, 6, 8}, at::kLong);
    loss = at::cross_entropy_loss(o.lm_logits, target) + o.speaking_logits.to(at::kFloat).sigmoid().sum() +
           (o.dst_logits.to(at::kFloat) * o.dst_logits.to(at::kFloat)).sum();
  }
  loss.backward();
  for (auto& [t, h] : hooks) t.remove_hook(h);
  std::map<std::string, at::Tensor> g;
  for (auto& p : m->named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
  return {g, fired};
}

TEST(DSTModel, GradientCheckpointingGivesEqualGradientsAndHooks) {
  DSTProActLlama m = make_dst_model_scratch(small_config(), 64, kD, 3);
  Batch b = make_batch(m->image_token_id);
  auto [plain, plain_hooks] = grads_of(m, b, false);
  auto [ckpt, ckpt_hooks] = grads_of(m, b, true);
  ASSERT_EQ(plain.size(), m->named_parameters().size());
  ASSERT_EQ(plain.size(), ckpt.size());
  double worst = 0;
  int bitwise = 0;
  for (auto& [n, g] : plain) {
    ASSERT_TRUE(ckpt.count(n)) << n;
    worst = std::max(worst, test::rel_diff(ckpt[n], g));
    bitwise += ckpt[n].equal(g);
  }
  std::printf("  checkpointed vs plain: worst relative difference %.3g, %d of %zu tensors bitwise equal\n", worst,
              bitwise, plain.size());
  EXPECT_LE(worst, 1e-6);
  EXPECT_EQ(bitwise, static_cast<int>(plain.size()));
  EXPECT_EQ(plain_hooks, ckpt_hooks);
  for (auto& [n, c] : plain_hooks) EXPECT_EQ(c, 1) << n;
  EXPECT_EQ(plain_hooks.size(), 2 * plain.size());
  // The checkpointed path really is the recomputing function.
  {
    at::Tensor x = at::randn({1, 4, 32}, at::requires_grad());
    BlockInputs in = m->block_inputs(1, 4, {}, {}, nullptr);
    at::Tensor y = checkpoint_block(m->model->blocks[0], x, in);
    ASSERT_TRUE(y.grad_fn());
    EXPECT_NE(y.grad_fn()->name().find("CheckpointedBlock"), std::string::npos) << y.grad_fn()->name();
  }

  // Frozen embedding and projector: the blocks' input needs no grad, the blocks still get theirs.
  freeze_parameters(*m, "^model\\.embed_tokens\\.,^mm_projector\\.");
  auto [fp, fph] = grads_of(m, b, false);
  auto [fc, fch] = grads_of(m, b, true);
  EXPECT_EQ(fp.size(), fc.size());
  EXPECT_EQ(fph, fch);
  EXPECT_TRUE(fc.count("model.layers.0.self_attn.q_proj.weight"));
  for (auto& [n, g] : fp) EXPECT_TRUE(fc[n].equal(g)) << n;
}

#if TORCH_VERSION_MAJOR >= 2
// Under CPU bf16 autocast (LibTorch 2.x; 1.13 refuses it) the checkpointed gradients are bitwise those
// of the plain run, because the recompute runs under the forward's autocast state. Negative control:
// with the state not restored (the recompute then runs in fp32), the same comparison fails.
TEST(DSTModel, GradientCheckpointingUnderBf16AutocastGivesBitwiseEqualGradients) {
  DSTProActLlama m = make_dst_model_scratch(small_config(), 64, kD, 3);
  Batch b = make_batch(m->image_token_id);
  auto [fp32, fp32_hooks] = grads_of(m, b, false);
  auto [plain, plain_hooks] = grads_of(m, b, false, true);
  auto [ckpt, ckpt_hooks] = grads_of(m, b, true, true);
  ASSERT_EQ(plain.size(), m->named_parameters().size());
  ASSERT_EQ(plain.size(), ckpt.size());
  auto compare = [&](std::map<std::string, at::Tensor>& got, const char* what) {
    double worst = 0;
    int bitwise = 0;
    for (auto& [n, g] : plain) {
      EXPECT_TRUE(got.count(n)) << n;
      if (!got.count(n)) continue;
      worst = std::max(worst, test::rel_diff(got[n], g));
      bitwise += got[n].equal(g);
    }
    std::printf("  %s vs plain under bf16 autocast: worst relative difference %.3g, %d of %zu tensors bitwise equal\n",
                what, worst, bitwise, plain.size());
    return bitwise;
  };
  // Autocast really changed the computation: the bf16 gradients are not the fp32 ones.
  EXPECT_LT(compare(fp32, "fp32 run"), static_cast<int>(plain.size()));
  EXPECT_EQ(compare(ckpt, "checkpointed"), static_cast<int>(plain.size()));
  EXPECT_EQ(plain_hooks, ckpt_hooks);
  // The autocast state is left as it was (off), with no cached casts behind.
  EXPECT_FALSE(AutocastState::current().cpu);

  test_only::set_checkpoint_restores_autocast(false);
  auto [dropped, dropped_hooks] = grads_of(m, b, true, true);
  test_only::set_checkpoint_restores_autocast(true);
  // Without the restore the recompute differs from the forward, and so do the block gradients.
  EXPECT_LT(compare(dropped, "checkpointed, state not restored"), static_cast<int>(plain.size()));
  EXPECT_FALSE(dropped["model.layers.0.self_attn.q_proj.weight"].equal(plain["model.layers.0.self_attn.q_proj.weight"]));
}
#endif

TEST(DSTModel, StreamDecoderEqualsFullForward) {
  torch::NoGradGuard ng;
  DSTProActLlama m = make_dst_model_scratch(small_config(), 64, kD, 4);
  m->eval();
  int64_t img = m->image_token_id;
  std::vector<int64_t> ids = {1, 5, 9, img, img, 3, 7, img, 2, 11, img, 4};
  at::Tensor frames = at::randn({4, kD});
  at::Tensor x = at::tensor(ids, at::kLong).unsqueeze(0);
  at::Tensor h = m->hidden_states(x, {}, frames)[0];
  IncrementalDecoder s(m, 64);
  at::Tensor hp = s.append({1, 5, 9, img}, frames.narrow(0, 0, 1));
  EXPECT_LE(test::max_abs_diff(hp, h.narrow(0, 0, 4)), 1e-5);
  int64_t f = 1;
  for (size_t t = 4; t < ids.size(); ++t) {
    at::Tensor step = ids[t] == img ? s.append_frame(frames[f++]) : s.append_token(ids[t]);
    EXPECT_LE(test::max_abs_diff(step[0], h[t]), 1e-5) << t;
    EXPECT_NEAR(s.speaking_logit(), m->speaking_logit(h[t]).item<float>(), 1e-5);
    EXPECT_NEAR(s.dst_logit(), m->dst_logit(h[t]).item<float>(), 1e-5);
    at::Tensor full = m->logits(h[t]);
    EXPECT_LE(test::max_abs_diff(s.lm_logits().narrow(0, 0, 64), full.narrow(0, 0, 64)), 1e-5);
  }
  EXPECT_EQ(s.length(), 12);
  // Greedy generation equals re-running the whole prefix at every step, and never emits <image> even
  // when its logit would win.
  m->lm_head->weight[img].fill_(0).add_(m->lm_head->weight[7] * 1000);
  Generation g = s.generate(/*end_id=*/63, /*max_new_tokens=*/6);
  std::vector<int64_t> seq = ids;
  for (int64_t tok : g.ids) {
    at::Tensor hh = m->hidden_states(at::tensor(seq, at::kLong).unsqueeze(0), {}, frames)[0];
    at::Tensor l = m->logits(hh[hh.size(0) - 1]);
    l[img] = -INFINITY;
    EXPECT_EQ(tok, l.argmax().item<int64_t>());
    EXPECT_NE(tok, img);
    seq.push_back(tok);
  }
  EXPECT_TRUE(g.ended || g.ids.size() == 6u);
  // A new window: reset and re-encode.
  s.reset();
  at::Tensor again = s.append({1, 5, 9, img}, frames.narrow(0, 0, 1));
  EXPECT_LE(test::max_abs_diff(again, h.narrow(0, 0, 4)), 1e-5);
  // A full window is an error, and generation stops at the cache end.
  IncrementalDecoder tiny(m, 3);
  EXPECT_THROW(tiny.append({1, 2, 3, 4}), Error);
  tiny.append({1, 2});
  EXPECT_EQ(tiny.generate(-1, 10).ids.size(), 1u);
}

TEST(DSTModel, SaveLoadAndErrors) {
  torch::NoGradGuard ng;
  ModelConfig cfg = small_config();
  cfg.tie_word_embeddings = true;
  DSTProActLlama m = make_dst_model_scratch(cfg, 64, kD, 9);
  auto d = test::model_dir("dst_save");
  save_dst_model(m, d.string());
  EXPECT_TRUE(is_dst_model_dir(d.string()));
  DSTProActLlama back = load_dst_model(d.string(), kD);
  EXPECT_EQ(back->image_token_id, 64);
  auto pb = back->named_parameters();
  for (auto& p : m->named_parameters()) EXPECT_TRUE(p.value().equal(pb[p.key()])) << p.key();
  // The LM part alone is an HF Llama folder (vocab 65), readable by the reference.
  LlamaForCausalLM lm = load_llama(d.string());
  EXPECT_EQ(lm->config.vocab_size, 65);
  ASSERT_EQ(test::run_reference("logits " + d.string() + " --ids 1,2,3 > " + (d / "ref.json").string()), 0);
  at::Tensor want = test::json_matrix(test::read_json(d / "ref.json")["logits"]);
  EXPECT_LE(test::max_abs_diff(lm->forward(at::tensor({1, 2, 3}, at::kLong).unsqueeze(0))[0], want), 1e-4);
  // make_dst_model dispatches on model.init.
  cfg.init = d.string();
  cfg.gradient_checkpointing = true;
  DSTProActLlama viaInit = make_dst_model(cfg, 64, kD, 0);
  EXPECT_TRUE(viaInit->gradient_checkpointing);
  EXPECT_TRUE(viaInit->speaking_decision_head->weight.equal(m->speaking_decision_head->weight));

  auto message = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string e = message([&] { load_dst_model(d.string(), kD + 4); });
  EXPECT_NE(e.find("mm_projector.0.weight"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(kD + 4)), std::string::npos) << e;
  // Missing head.
  auto d2 = test::model_dir("dst_missing_head");
  for (auto f : {"config.json", "model.safetensors"}) fs::copy_file(d / f, d2 / f);
  TensorMap heads = load_safetensors((d / "prospect.safetensors").string());
  heads.erase("dst_update_head.weight");
  save_safetensors((d2 / "prospect.safetensors").string(), NamedTensors(heads.begin(), heads.end()));
  e = message([&] { load_dst_model(d2.string()); });
  EXPECT_NE(e.find("dst_update_head.weight"), std::string::npos) << e;
  EXPECT_NE(e.find(d2.string()), std::string::npos) << e;
  // An HF folder is not one of ours.
  fs::remove(d2 / "prospect.safetensors");
  e = message([&] { load_dst_model(d2.string()); });
  EXPECT_NE(e.find("prospect.safetensors"), std::string::npos) << e;
  cfg.init = "/nonexistent/init";
  EXPECT_THROW(make_dst_model(cfg, 64, kD, 0), Error);
}

// The state head (model.dst_state_head): created last, so every other parameter is drawn as without
// it; its logits are [..., S, 3] from Linear(H, 3 S); saved and loaded with the model; a model folder
// and the configuration must agree on it (errors name the key).
TEST(DSTModel, StateHeadInitSaveLoadAndKeys) {
  torch::NoGradGuard ng;
  ModelConfig off = small_config();
  ModelConfig on = off;
  on.dst_state_head = true;
  on.dst_state_steps = 5;
  DSTProActLlama a = make_dst_model_scratch(off, 64, kD, 9);
  DSTProActLlama b = make_dst_model_scratch(on, 64, kD, 9);
  EXPECT_FALSE(a->has_state_head());
  ASSERT_TRUE(b->has_state_head());
  auto pb = b->named_parameters();
  EXPECT_EQ(pb.size(), a->named_parameters().size() + 2);
  for (auto& p : a->named_parameters()) EXPECT_TRUE(p.value().equal(pb[p.key()])) << p.key();
  EXPECT_EQ(pb["dst_state_head.weight"].sizes(), (at::IntArrayRef{15, 32}));

  // logits: row s of the head's output reshaped, at every decision position of forward
  Batch x = make_batch(64);
  at::Tensor dec = at::tensor({2, 5, 13}, at::kLong), lm = at::tensor({0}, at::kLong);
  DSTOutput out = b->forward(x.ids, x.mask, x.frames, dec, lm);
  ASSERT_EQ(out.state_logits.sizes(), (at::IntArrayRef{3, 5, 3}));
  at::Tensor h = b->hidden_states(x.ids, x.mask, x.frames).reshape({-1, 32}).index_select(0, dec);
  at::Tensor flat = at::matmul(h, pb["dst_state_head.weight"].t()) + pb["dst_state_head.bias"];
  EXPECT_LE(test::max_abs_diff(out.state_logits[1][4][2], flat[1][4 * 3 + 2]), 1e-6);
  EXPECT_FALSE(a->forward(x.ids, x.mask, x.frames, dec, lm).state_logits.defined());

  auto message = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto with = test::model_dir("dst_state_head"), without = test::model_dir("dst_no_state_head");
  save_dst_model(b, with.string());
  save_dst_model(a, without.string());
  DSTProActLlama back = load_dst_model(with.string(), kD);
  EXPECT_EQ(back->state_steps, 5);
  auto pback = back->named_parameters();
  for (auto& p : b->named_parameters()) EXPECT_TRUE(p.value().equal(pback[p.key()])) << p.key();
  EXPECT_FALSE(load_dst_model(without.string(), kD)->has_state_head());
  // model.init = a folder of ours: it must agree with the keys
  on.init = with.string();
  EXPECT_TRUE(make_dst_model(on, 64, kD, 0)->dst_state_head->weight.equal(pb["dst_state_head.weight"]));
  off.init = without.string();
  EXPECT_FALSE(make_dst_model(off, 64, kD, 0)->has_state_head());
  std::string e = message([&] { off.init = with.string(), make_dst_model(off, 64, kD, 0); });
  EXPECT_NE(e.find("model.dst_state_head"), std::string::npos) << e;
  EXPECT_NE(e.find(with.string()), std::string::npos) << e;
  e = message([&] { on.init = without.string(), make_dst_model(on, 64, kD, 0); });
  EXPECT_NE(e.find("model.dst_state_head"), std::string::npos) << e;
  on.dst_state_steps = 6;
  e = message([&] { check_state_head(on, *back, with.string()); });
  EXPECT_NE(e.find("model.dst_state_steps"), std::string::npos) << e;
  // a head whose rows are not a multiple of 3 is refused, naming the tensor
  auto bad = test::model_dir("dst_bad_state_head");
  for (auto f : {"config.json", "model.safetensors"}) fs::copy_file(with / f, bad / f);
  TensorMap heads = load_safetensors((with / "prospect.safetensors").string());
  heads["dst_state_head.weight"] = heads["dst_state_head.weight"].narrow(0, 0, 14);
  save_safetensors((bad / "prospect.safetensors").string(), NamedTensors(heads.begin(), heads.end()));
  e = message([&] { load_dst_model(bad.string()); });
  EXPECT_NE(e.find("dst_state_head.weight"), std::string::npos) << e;
}

TEST(DSTModel, FreezeByPattern) {
  DSTProActLlama m = make_dst_model_scratch(small_config(), 64, kD, 2);
  int total = m->parameters().size();
  int n = freeze_parameters(*m, "^model\\.,^lm_head\\.");
  int trainable = 0;
  for (auto& p : m->named_parameters()) {
    bool extra = p.key().rfind("mm_projector", 0) == 0 || p.key().find("_head.") != std::string::npos;
    EXPECT_EQ(p.value().requires_grad(), extra && p.key().rfind("lm_head", 0) != 0) << p.key();
    trainable += p.value().requires_grad();
  }
  EXPECT_EQ(n + trainable, total);
  EXPECT_EQ(trainable, 8);  // projector 2x(w, b), two heads (w, b)
  EXPECT_THROW(freeze_parameters(*m, "(unclosed"), UsageError);
  EXPECT_THROW(freeze_parameters(*m, "no_such_param"), UsageError);
}

}  // namespace
}  // namespace prospect
