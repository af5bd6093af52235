#include "prospect/model/grad_checkpoint.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace prospect {

namespace {

// What backward needs besides the input tensor: the block and the shared rotary/mask tensors.
struct BlockCall : torch::CustomClassHolder {
  LlamaDecoderLayer block{nullptr};
  BlockInputs in;
};

struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            c10::intrusive_ptr<BlockCall> call) {
    ctx->save_for_backward({x});
    at::Tensor y;
    {
      torch::NoGradGuard ng;
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
    // block has trainable parameters, or their gradients would be lost.
    bool trainable = false;
    for (auto& p : block->parameters()) trainable = trainable || p.requires_grad();
    if (!trainable) return block->forward(x, in);
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
