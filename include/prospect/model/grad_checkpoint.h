// Gradient checkpointing per decoder block. The block runs forward without keeping activations
// (NoGradGuard); backward recomputes it from the saved input and runs a nested autograd backward on the
// recomputed outputs, which accumulates the block's parameter gradients through the ordinary
// AccumulateGrad path: gradients are bitwise equal to a plain run and every parameter hook fires once
// per backward, as the overlapped all-reduce needs. Nothing writes .grad by hand.
//
// Mixed precision: the recompute runs under the autocast state the forward ran under (saved at forward
// time: enabled per device type, the lower-precision dtype, cache on/off), whatever state backward is
// called in, as PyTorch's torch.utils.checkpoint does. Otherwise a bf16 forward whose backward runs
// after the autocast region closed would recompute the block in fp32, and the gradients would be those
// of a different forward.
#pragma once
#include <c10/core/ScalarType.h>

#include "prospect/model/llama.h"

namespace prospect {

// y = block(x, in) with the activations recomputed in backward. Without grad mode (or a KV cache in
// `in`) it is the plain call.
at::Tensor checkpoint_block(LlamaDecoderLayer& block, const at::Tensor& x, const BlockInputs& in);

// A BlockRunner for LlamaForCausalLMImpl::hidden that checkpoints every block.
BlockRunner checkpoint_runner();

// The calling thread's autocast state for the device types the project runs on.
struct AutocastState {
  bool cpu = false, cuda = false;  // autocast enabled for CPU / CUDA ops
  at::ScalarType cpu_dtype = at::kBFloat16, cuda_dtype = at::kHalf;
  bool cache = true;  // casts of fp32 leaf weights are cached inside the region
  static AutocastState current();
  void apply() const;
};

// Sets a state for its scope and puts the previous one back; clear_cache_on_exit also drops the casts
// cached meanwhile.
class AutocastStateGuard {
 public:
  AutocastStateGuard(const AutocastState& s, bool clear_cache_on_exit);
  ~AutocastStateGuard();
  AutocastStateGuard(const AutocastStateGuard&) = delete;
  AutocastStateGuard& operator=(const AutocastStateGuard&) = delete;

 private:
  AutocastState saved_;
  bool clear_;
};

namespace test_only {
// false: the recompute runs in backward's own autocast state (the defect above), so the negative
// control of the bitwise bf16 test can show that the comparison catches it. Default true.
void set_checkpoint_restores_autocast(bool on);
}  // namespace test_only

}  // namespace prospect
