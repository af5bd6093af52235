// The single-pass AdamW update equals PyTorch's AdamW op sequence bit for bit (torch::optim::AdamW, and
// the plain op sequence for non-contiguous tensors), over several steps, with and without weight decay.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <cmath>

#include "prospect/train/adamw_kernel.h"

TEST(AdamWKernel, BitwiseEqualToTorchAdamW) {
  at::set_num_threads(2);
  at::manual_seed(3);
  for (double wd : {0.0, 0.05}) {
    at::Tensor ours = at::randn({300, 257});  // > one parallel grain, odd size
    at::Tensor theirs = ours.clone().requires_grad_(true);
    at::Tensor m = at::zeros_like(ours), v = at::zeros_like(ours);
    torch::optim::AdamW opt({theirs}, torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).eps(1e-8).weight_decay(wd));
    for (int step = 1; step <= 5; ++step) {
      at::Tensor g = at::randn_like(ours) * (step == 3 ? 1e-6 : 1.0);
      theirs.mutable_grad() = g.clone();
      opt.step();
      prospect::AdamWStep s{3e-3, 0.9, 0.95, 1e-8, wd, 1 - std::pow(0.9, step), 1 - std::pow(0.95, step)};
      at::NoGradGuard ng;
      prospect::adamw_update_(ours, g, m, v, s);
      ASSERT_TRUE(at::equal(ours, theirs.detach())) << "step " << step << " wd " << wd << " max diff "
                                                    << (ours - theirs.detach()).abs().max().item<double>();
    }
  }
}

TEST(AdamWKernel, NonContiguousTakesTheOpSequence) {
  at::manual_seed(4);
  at::Tensor base = at::randn({64, 32});
  at::Tensor p = base.clone().t();  // not contiguous
  at::Tensor m = at::zeros_like(p), v = at::zeros_like(p), g = at::randn_like(p);
  at::Tensor q = p.contiguous(), mq = at::zeros_like(q), vq = at::zeros_like(q);
  prospect::AdamWStep s{1e-2, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.001};
  at::NoGradGuard ng;
  prospect::adamw_update_(p, g, m, v, s);
  prospect::adamw_update_(q, g.contiguous(), mq, vq, s);
  EXPECT_TRUE(at::equal(p, q));
  EXPECT_TRUE(at::equal(m, mq));
  EXPECT_TRUE(at::equal(v, vq));
}
