// Gradient checkpointing per decoder block. The block runs forward without keeping activations
// (NoGradGuard); backward recomputes it from the saved input and runs a nested autograd backward on the
// recomputed outputs, which accumulates the block's parameter gradients through the ordinary
// AccumulateGrad path: gradients are bitwise equal to a plain run and every parameter hook fires once
// per backward, as the overlapped all-reduce needs. Nothing writes .grad by hand.
#pragma once
#include "prospect/model/llama.h"

namespace prospect {

// y = block(x, in) with the activations recomputed in backward. Without grad mode (or a KV cache in
// `in`) it is the plain call.
at::Tensor checkpoint_block(LlamaDecoderLayer& block, const at::Tensor& x, const BlockInputs& in);

// A BlockRunner for LlamaForCausalLMImpl::hidden that checkpoints every block.
BlockRunner checkpoint_runner();

}  // namespace prospect
