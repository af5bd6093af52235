#include "prospect/model/grad_checkpoint.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <atomic>

namespace prospect {

namespace {

std::atomic<bool> g_restore_autocast{true};

}  // namespace

AutocastState AutocastState::current() {
  AutocastState s;
#if TORCH_VERSION_MAJOR >= 2
  s.cpu = at::autocast::is_autocast_enabled(at::kCPU);
  s.cuda = at::autocast::is_autocast_enabled(at::kCUDA);
  s.cpu_dtype = at::autocast::get_autocast_dtype(at::kCPU);
  s.cuda_dtype = at::autocast::get_autocast_dtype(at::kCUDA);
#else
  s.cpu = at::autocast::is_cpu_enabled();
  s.cuda = at::autocast::is_enabled();
  s.cpu_dtype = at::autocast::get_autocast_cpu_dtype();
  s.cuda_dtype = at::autocast::get_autocast_gpu_dtype();
#endif
  s.cache = at::autocast::is_autocast_cache_enabled();
  return s;
}

void AutocastState::apply() const {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_enabled(at::kCPU, cpu);
  at::autocast::set_autocast_enabled(at::kCUDA, cuda);
  at::autocast::set_autocast_dtype(at::kCPU, cpu_dtype);
  at::autocast::set_autocast_dtype(at::kCUDA, cuda_dtype);
#else
  at::autocast::set_cpu_enabled(cpu);
  at::autocast::set_enabled(cuda);
  at::autocast::set_autocast_cpu_dtype(cpu_dtype);
  at::autocast::set_autocast_gpu_dtype(cuda_dtype);
#endif
  at::autocast::set_autocast_cache_enabled(cache);
}

AutocastStateGuard::AutocastStateGuard(const AutocastState& s, bool clear_cache_on_exit)
    : saved_(AutocastState::current()), clear_(clear_cache_on_exit) {
  s.apply();
}

AutocastStateGuard::~AutocastStateGuard() {
  if (clear_) at::autocast::clear_cache();
  saved_.apply();
}

namespace test_only {
void set_checkpoint_restores_autocast(bool on) { g_restore_autocast = on; }
}  // namespace test_only

namespace {

// What backward needs besides the input tensor: the block, the shared rotary/mask tensors and the
// autocast state the forward ran under.
struct BlockCall : torch::CustomClassHolder {
  LlamaDecoderLayer block{nullptr};
  BlockInputs in;
  AutocastState autocast;
};

struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            c10::intrusive_ptr<BlockCall> call) {
    ctx->save_for_backward({x});
    call->autocast = AutocastState::current();
    at::Tensor y;
    {
      torch::NoGradGuard ng;
      // Without grad mode a cached cast would have no autograd history, and a recompute inside the
      // same autocast region would then find it and lose the weight's gradient: no caching here (each
      // weight of a block is cast once per forward anyway).
      AutocastState no_cache = call->autocast;
      no_cache.cache = false;
      AutocastStateGuard ac(no_cache, /*clear_cache_on_exit=*/false);
      y = call->block->forward(x, call->in);
    }
    ctx->saved_data["call"] = c10::IValue::make_capsule(std::move(call));
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto call = c10::static_intrusive_pointer_cast<BlockCall>(ctx->saved_data["call"].toCapsule());
    at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Tensor y;
    {
      torch::AutoGradMode on(true);
      // Backward usually runs after the autocast region has closed: the recompute must see the
      // forward's state (enabled per device type, dtype, cache), or it computes in fp32 what the
      // forward computed in bf16 and the gradients are not those of the forward.
      // The casts cached meanwhile (bf16 copies of the block's weights, with their autograd history)
      // belong to this recompute: dropped on exit, so no weight copies outlive it (as leaving PyTorch's
      // outermost autocast region does).
      AutocastStateGuard ac(g_restore_autocast ? call->autocast : AutocastState::current(),
                            /*clear_cache_on_exit=*/true);
      y = call->block->forward(x, call->in);
    }
    // Accumulates into the block's parameters (their hooks fire here) and into x.
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpoint_block(LlamaDecoderLayer& block, const at::Tensor& x, const BlockInputs& in) {
  if (!torch::GradMode::is_enabled() || in.cache) return block->forward(x, in);
  at::Tensor input = x;
  if (!input.requires_grad()) {
    // Frozen layers below (or frozen inputs): the function's output must still require grad when the
    // block has trainable weights (its own, or LoRA pairs attached to a frozen block, which are not
    // its parameters), or their gradients would be lost.
    if (!block->has_trainable_weights()) return block->forward(x, in);
    input = x.detach().requires_grad_(true);
  }
  auto call = c10::make_intrusive<BlockCall>();
  call->block = block;
  call->in = in;
  call->in.cache = nullptr;
  return CheckpointedBlock::apply(input, call);
}

BlockRunner checkpoint_runner() {
  return [](LlamaDecoderLayer& block, const at::Tensor& x, const BlockInputs& in) {
    return checkpoint_block(block, x, in);
  };
}

}  // namespace prospect
