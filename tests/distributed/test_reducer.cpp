// Runs under mpirun -n 2 and -n 3. Every rank can compute every other rank's local gradients (same
// weights, inputs seeded by rank), so the expected sum is known exactly up to float rounding.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn.h>
#include <torch/types.h>

#include "mpi_test.h"
#include "prospect/core/error.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/distributed/reducer.h"
#include "tiny_model.h"

using namespace prospect;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A small net: embedding -> 3 linear blocks -> head, plus a branch some ranks skip (unused
// parameters) and a frozen layer.
struct NetImpl : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear l1{nullptr}, l2{nullptr}, l3{nullptr}, branch{nullptr}, frozen{nullptr}, head{nullptr},
      never{nullptr};
  bool checkpoint_middle = false;
  NetImpl() {
    never = register_module("never", torch::nn::Linear(16, 16));  // used by no rank (in the last bucket)
    emb = register_module("emb", torch::nn::Embedding(50, 16));
    l1 = register_module("l1", torch::nn::Linear(16, 32));
    l2 = register_module("l2", torch::nn::Linear(32, 32));
    l3 = register_module("l3", torch::nn::Linear(32, 16));
    branch = register_module("branch", torch::nn::Linear(16, 16));
    frozen = register_module("frozen", torch::nn::Linear(16, 16));
    head = register_module("head", torch::nn::Linear(16, 3));
    for (auto& p : frozen->parameters()) p.set_requires_grad(false);
  }
  torch::Tensor middle(const torch::Tensor& h) { return torch::tanh(l2(torch::tanh(l1(h)))); }
  torch::Tensor forward(const torch::Tensor& ids, bool use_branch);
};
TORCH_MODULE(Net);

// Re-entrant gradient checkpointing as a model does it: forward without a graph, backward recomputes
// with one and runs an inner backward that accumulates into the parameters' .grad.
static NetImpl* g_ckpt_net = nullptr;
struct Checkpoint : torch::autograd::Function<Checkpoint> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x) {
    ctx->save_for_backward({x});
    torch::NoGradGuard no_grad;
    return g_ckpt_net->middle(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = g_ckpt_net->middle(x);
    }
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad()};
  }
};

torch::Tensor NetImpl::forward(const torch::Tensor& ids, bool use_branch) {
  auto h = emb(ids).mean(1);
  if (checkpoint_middle) {
    g_ckpt_net = this;
    h = Checkpoint::apply(h);
  } else {
    h = middle(h);
  }
  h = l3(h);
  if (use_branch) h = h + torch::relu(branch(h));
  h = h + 0.1 * frozen(h);
  return head(h);
}

struct Batch {
  torch::Tensor ids, target;
  bool use_branch;
};
static Batch batch_for(int rank, int micro) {
  torch::manual_seed(1000 + 17 * rank + micro);
  return {torch::randint(0, 50, {4, 5}), torch::randn({4, 3}), /*use_branch=*/rank % 2 == 0};
}
static torch::Tensor loss_of(Net& net, const Batch& b) {
  return (net->forward(b.ids, b.use_branch) - b.target).pow(2).sum() / 64.0;
}

static Net make_net(int seed) {
  torch::manual_seed(seed);
  return Net();
}

static void zero_grads(Net& net) {
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
}

// Sum over ranks and micro-steps of the local gradients, computed here without any communication.
static std::map<std::string, torch::Tensor> expected_grads(Net& net, int micros) {
  std::map<std::string, torch::Tensor> sum;
  for (int q = 0; q < test::world().size(); ++q)
    for (int m = 0; m < micros; ++m) {
      zero_grads(net);
      loss_of(net, batch_for(q, m)).backward();
      for (auto& it : net->named_parameters()) {
        if (!it.value().grad().defined()) continue;
        auto g = it.value().grad().clone();
        sum[it.key()] = sum.count(it.key()) ? sum[it.key()] + g : g;
      }
    }
  zero_grads(net);
  return sum;
}

static void check_grads(Net& net, const std::map<std::string, torch::Tensor>& want) {
  for (auto& it : net->named_parameters()) {
    const auto& g = it.value().grad();
    if (!it.value().requires_grad()) {
      EXPECT_FALSE(g.defined()) << it.key() << " is frozen";
      continue;
    }
    if (it.key().rfind("never", 0) == 0) {
      EXPECT_FALSE(g.defined()) << it.key() << " is used by no rank: its grad stays undefined";
      continue;
    }
    ASSERT_TRUE(g.defined()) << it.key();
    auto w = want.count(it.key()) ? want.at(it.key()) : torch::zeros_like(g);
    EXPECT_LE(test::rel_diff(g, w), 1e-5) << it.key();
  }
}

static void run_case(ReducerOptions opts, int micros, bool checkpoint) {
  Net net = make_net(7);
  net->checkpoint_middle = checkpoint;
  broadcast_parameters(*net, test::world());
  Reducer reducer(*net, test::world(), opts);
  if (opts.bucket_mb < 0.01) EXPECT_GT(reducer.num_buckets(), 3);
  auto want = expected_grads(net, micros);
  // Two optimizer steps in a row: the reducer's per-step state resets.
  for (int step = 0; step < 2; ++step) {
    zero_grads(net);
    for (int m = 0; m < micros; ++m) {
      reducer.set_sync(m == micros - 1);
      loss_of(net, batch_for(test::world().rank(), m)).backward();
      if (m < micros - 1) {
        // An accumulation micro-step communicates nothing: the grads are still local.
        EXPECT_EQ(reducer.finalize(), 0.0);
      }
    }
    reducer.finalize();
    check_grads(net, want);
  }
}

TEST(Reducer, SumsEqualSumOfRankGradients) { run_case(ReducerOptions{}, 1, false); }

TEST(Reducer, ManySmallBuckets) {
  ReducerOptions o;
  o.bucket_mb = 0.001;
  o.first_bucket_mb = 0.0005;
  run_case(o, 1, false);
}

// Buckets of a few parameters each, so that a step starts several of them.
ReducerOptions small_buckets(bool overlap = true) {
  ReducerOptions o;
  o.bucket_mb = 0.002;
  o.first_bucket_mb = 0.001;
  o.overlap = overlap;
  return o;
}

TEST(Reducer, Accumulation) { run_case(small_buckets(), 3, false); }
TEST(Reducer, NoOverlap) { run_case(small_buckets(/*overlap=*/false), 2, false); }
TEST(Reducer, GradientCheckpointing) { run_case(small_buckets(), 2, true); }

TEST(Reducer, BucketsInReverseOrderSmallFirst) {
  Net net = make_net(7);
  ReducerOptions o;
  o.first_bucket_mb = 1e-9;  // the first bucket closes after one parameter
  o.bucket_mb = 1.0;
  Reducer r(*net, test::world(), o);
  ASSERT_EQ(r.num_buckets(), 2);
  EXPECT_EQ(r.bucket_names(0), std::vector<std::string>{"head.bias"});
  auto b1 = r.bucket_names(1);
  EXPECT_EQ(b1.front(), "head.weight");
  EXPECT_EQ(b1.back(), "never.weight");
  for (auto& n : b1) EXPECT_EQ(n.rfind("frozen", 0), std::string::npos) << n;
}

class Overlap : public ::testing::TestWithParam<bool> {};
TEST_P(Overlap, StartsEveryBucketDuringBackward) {
  if (test::world().size() == 1) GTEST_SKIP() << "needs 2 ranks";
  Net net = make_net(7);
  net->checkpoint_middle = GetParam();  // the hooks fire from the inner backward of a checkpoint too
  broadcast_parameters(*net, test::world());
  ReducerOptions o;
  o.bucket_mb = 0.001;
  o.first_bucket_mb = 0.0005;
  Reducer r(*net, test::world(), o);
  r.set_sync(true);
  // Every rank uses the branch, so every bucket completes during backward.
  auto b = batch_for(test::world().rank(), 0);
  b.use_branch = true;
  loss_of(net, b).backward();
  r.finalize();
  EXPECT_GT(r.num_buckets(), 3);
  // All but the last bucket, which holds the parameters no rank uses.
  EXPECT_EQ(r.last_started_early(), r.num_buckets() - 1);
}
INSTANTIATE_TEST_SUITE_P(Reducer, Overlap, ::testing::Values(false, true));

// A net registered in another order than it is used: `input` (used first, so its gradient comes last)
// is registered after `output`, as the DST model's frame projector is after the decoder.
struct LateInputImpl : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr}, output{nullptr}, input{nullptr};
  LateInputImpl() {
    a = register_module("a", torch::nn::Linear(16, 16));
    b = register_module("b", torch::nn::Linear(16, 16));
    output = register_module("output", torch::nn::Linear(16, 3));
    input = register_module("input", torch::nn::Linear(8, 16));
  }
  torch::Tensor forward(const torch::Tensor& x) { return output(torch::tanh(b(torch::tanh(a(input(x)))))); }
};
TORCH_MODULE(LateInput);

// In registration order the first bucket holds `input`, complete only when backward ends, so no
// bucket can start early. After the first sync step the buckets follow backward's order: `input`
// last, every other bucket started during backward, and the sums are those of any layout.
TEST(Reducer, RebuildsBucketsInBackwardOrder) {
  if (test::world().size() == 1) GTEST_SKIP() << "needs 2 ranks";
  torch::manual_seed(3);
  LateInput net;
  broadcast_parameters(*net, test::world());
  ReducerOptions o;
  o.bucket_mb = 0.0005;  // one or two parameters per bucket
  o.first_bucket_mb = 0.0005;
  Reducer r(*net, test::world(), o);
  auto starts_with = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
  for (auto& n : r.bucket_names(0)) ASSERT_TRUE(starts_with(n, "input.")) << n;
  auto input_of = [](int rank) {
    torch::manual_seed(500 + rank);
    return torch::randn({4, 8});
  };
  std::map<std::string, torch::Tensor> want;
  for (int q = 0; q < test::world().size(); ++q) {
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    net->forward(input_of(q)).pow(2).sum().backward();
    for (auto& it : net->named_parameters())
      want[it.key()] = want.count(it.key()) ? want[it.key()] + it.value().grad() : it.value().grad().clone();
  }
  std::vector<int> early;
  for (int step = 0; step < 2; ++step) {
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    r.set_sync(true);
    net->forward(input_of(test::world().rank())).pow(2).sum().backward();
    r.finalize();
    early.push_back(r.last_started_early());
    for (auto& it : net->named_parameters())
      EXPECT_LE(test::rel_diff(it.value().grad(), want.at(it.key())), 1e-6) << it.key() << " step " << step;
  }
  EXPECT_EQ(early[0], 0) << "registration order: the first bucket waits for the input layer";
  ASSERT_GT(r.num_buckets(), 2);
  std::vector<std::string> names;  // all buckets' parameters, first bucket first
  for (int k = 0; k < r.num_buckets(); ++k)
    for (auto& n : r.bucket_names(k)) names.push_back(n);
  ASSERT_EQ(names.size(), 8u);
  EXPECT_TRUE(starts_with(names[0], "output.")) << names[0];
  EXPECT_TRUE(starts_with(names[6], "input.") && starts_with(names[7], "input.")) << names[6] << " " << names[7];
  EXPECT_EQ(early[1], r.num_buckets() - 1) << "backward's order: all but the input layer's bucket start early";
}

TEST(BroadcastParameters, MakesRank0sValues) {
  Net net = make_net(100 + test::world().rank());  // different weights on every rank
  broadcast_parameters(*net, test::world());
  Net ref = make_net(100);
  auto mine = net->named_parameters();
  for (auto& it : ref->named_parameters()) EXPECT_TRUE(torch::equal(mine[it.key()], it.value())) << it.key();
}

struct OtherImpl : torch::nn::Module {
  OtherImpl(int extra) {
    register_parameter("a", torch::zeros({2, 3}));
    register_parameter("b", torch::zeros({extra == 0 ? 4 : 5}));
  }
};
TORCH_MODULE(Other);

TEST(BroadcastParameters, MismatchNamesTheParameter) {
  if (test::world().size() == 1) GTEST_SKIP() << "needs 2 ranks";
  Other m(test::world().rank() == 1 ? 1 : 0);
  try {
    broadcast_parameters(*m, test::world());
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("param b [4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("param b [5]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1"), std::string::npos) << msg;
  }
}
