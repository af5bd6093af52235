#include "prospect/train/optim.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (LibTorch 2.x no longer brings it with ATen.h)

#include <cmath>
#include <regex>
#include <sstream>
#include <vector>

#include "prospect/core/error.h"
#include "prospect/train/adamw_kernel.h"

namespace prospect {

namespace {
std::string shape_str(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}
}  // namespace

double lr_at(const OptimConfig& cfg, int64_t step, int64_t max_steps) {
  if (cfg.warmup_steps > 0 && step < cfg.warmup_steps) return cfg.lr * static_cast<double>(step + 1) / cfg.warmup_steps;
  int64_t decay_steps = std::max<int64_t>(1, max_steps - cfg.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(step - cfg.warmup_steps) / decay_steps);
  return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + std::cos(M_PI * progress));
}

NamedParams apply_freeze(const NamedParams& params, const std::string& patterns) {
  std::vector<std::regex> res;
  std::stringstream ss(patterns);
  std::string p;
  while (std::getline(ss, p, ',')) {
    if (p.empty()) continue;
    try {
      res.emplace_back(p);
    } catch (const std::regex_error& e) {
      usage_fail("model.freeze: bad pattern '{}': {}", p, e.what());
    }
  }
  NamedParams out;
  for (auto& [name, t] : params) {
    bool frozen = false;
    for (auto& r : res) frozen = frozen || std::regex_search(name, r);
    if (frozen) {
      at::Tensor x = t;
      x.set_requires_grad(false);
    } else {
      out.emplace_back(name, t);
    }
  }
  return out;
}

namespace {
// Sum of x^2 over a float array in double. The square of a float is exact in double, so only the
// additions round; they go in a fixed order (blocks of 64 Ki elements, four running sums each, then
// the blocks in order), so the result does not depend on the thread count, and no double copy of the
// gradient is made (ATen's g.to(kDouble).pow(2).sum() makes two and costs 4x the time).
double sum_squares_block(const float* x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    a0 += x0 * x0, a1 += x1 * x1, a2 += x2 * x2, a3 += x3 * x3;
  }
  for (; i < n; ++i) a0 += double(x[i]) * double(x[i]);
  return (a0 + a1) + (a2 + a3);
}

double sum_squares(const at::Tensor& g) {
  if (!g.device().is_cpu() || g.scalar_type() != at::kFloat || !g.is_contiguous())
    return g.to(at::kDouble).pow(2).sum().item<double>();
  constexpr int64_t kBlock = 1 << 16;
  const float* x = g.data_ptr<float>();
  const int64_t n = g.numel(), blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
  at::parallel_for(0, blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) partial[k] = sum_squares_block(x + k * kBlock, std::min(kBlock, n - k * kBlock));
  });
  double s = 0;
  for (double v : partial) s += v;
  return s;
}
}  // namespace

double clip_grad_norm(const NamedParams& params, double clip) {
  double sq = 0;
  for (auto& [name, p] : params)
    if (p.grad().defined()) sq += sum_squares(p.grad());
  double norm = std::sqrt(sq);
  if (std::isfinite(norm) && clip > 0 && norm > clip) {
    double scale = clip / (norm + 1e-6);
    for (auto& [name, p] : params)
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
  }
  return norm;
}

AdamW::AdamW(NamedParams params, const OptimConfig& cfg) : params_(std::move(params)), cfg_(cfg) {
  for (auto& [name, p] : params_) {
    m_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    v_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    decay_.push_back(p.dim() >= 2);
  }
}

void AdamW::step(double lr) {
  ++steps_;
  const double b1 = cfg_.beta1, b2 = cfg_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor p = params_[i].second;
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad().to(at::kFloat);
    if (p.scalar_type() == at::kFloat) {  // one pass over p, g, m, v; bitwise the op sequence below
      adamw_update_(p, g, m_[i], v_[i],
                    {lr, b1, b2, cfg_.eps, decay_[i] && cfg_.weight_decay > 0 ? cfg_.weight_decay : 0.0, bc1, bc2});
      continue;
    }
    if (decay_[i] && cfg_.weight_decay > 0) p.mul_(1.0 - lr * cfg_.weight_decay);
    m_[i].mul_(b1).add_(g, 1.0 - b1);
    v_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    at::Tensor denom = (v_[i].sqrt() / std::sqrt(bc2)).add_(cfg_.eps);
    p.addcdiv_(m_[i].to(p.scalar_type()), denom.to(p.scalar_type()), -lr / bc1);
  }
}

NamedParams AdamW::state() const {
  NamedParams out;
  out.emplace_back("step", at::full({1}, steps_, at::kLong));
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, m_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, v_[i]);
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& tensors, const std::string& source) {
  auto get = [&](const std::string& name, const at::Tensor& like) {
    auto it = tensors.find(name);
    PROSPECT_CHECK(it != tensors.end(), "{}: optimizer tensor '{}' missing", source, name);
    PROSPECT_CHECK(it->second.sizes() == like.sizes(), "{}: optimizer tensor '{}' has shape {}, expected {}", source,
                   name, shape_str(it->second), shape_str(like));
    return it->second.to(like.device(), at::kFloat).clone();
  };
  auto it = tensors.find("step");
  PROSPECT_CHECK(it != tensors.end(), "{}: optimizer tensor 'step' missing", source);
  steps_ = it->second.to(at::kLong).reshape(-1)[0].item<int64_t>();
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i] = get("exp_avg." + params_[i].first, m_[i]);
    v_[i] = get("exp_avg_sq." + params_[i].first, v_[i]);
  }
}

}  // namespace prospect
