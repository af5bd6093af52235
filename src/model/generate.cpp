#include "prospect/model/generate.h"

#include <limits>

#include "prospect/core/error.h"

namespace prospect {

IncrementalDecoder::IncrementalDecoder(DSTProActLlama model, int64_t max_len)
    : model_(std::move(model)),
      cache_(model_->config, 1, max_len, at::TensorOptions().dtype(model_->lm_head_weight().scalar_type())
                                              .device(model_->lm_head_weight().device())) {}

at::Tensor IncrementalDecoder::append(const std::vector<int64_t>& ids, const at::Tensor& frames) {
  PROSPECT_CHECK(!ids.empty(), "IncrementalDecoder::append: no tokens");
  PROSPECT_CHECK(static_cast<int64_t>(ids.size()) <= cache_.free(),
                 "window full: {} tokens do not fit in the {} free of {} cache slots", ids.size(), cache_.free(),
                 cache_.max_len);
  torch::NoGradGuard ng;
  auto dev = model_->lm_head_weight().device();
  at::Tensor x = at::tensor(ids, at::kLong).to(dev).unsqueeze(0);
  at::Tensor emb = model_->inputs_embeds(x, frames.defined() ? frames.to(dev) : frames);
  at::Tensor h = model_->hidden(emb, {}, {}, &cache_)[0];
  last_ = h[h.size(0) - 1];
  return h;
}

at::Tensor IncrementalDecoder::append_frame(const at::Tensor& feature) {
  return append({model_->image_token_id}, feature.reshape({1, -1}));
}

at::Tensor IncrementalDecoder::append_token(int64_t id) {
  PROSPECT_CHECK(id >= 0 && id < model_->config.vocab_size && id != model_->image_token_id,
                 "append_token: {} is not a text token id", id);
  return append({id});
}

float IncrementalDecoder::speaking_logit() {
  PROSPECT_CHECK(last_.defined(), "IncrementalDecoder: nothing appended yet");
  torch::NoGradGuard ng;
  return model_->speaking_logit(last_).item<float>();
}

float IncrementalDecoder::dst_logit() {
  PROSPECT_CHECK(last_.defined(), "IncrementalDecoder: nothing appended yet");
  torch::NoGradGuard ng;
  return model_->dst_logit(last_).item<float>();
}

std::vector<int> IncrementalDecoder::state_prediction(size_t n) {
  if (!model_->has_state_head()) return {};
  PROSPECT_CHECK(last_.defined(), "IncrementalDecoder: nothing appended yet");
  PROSPECT_CHECK(static_cast<int64_t>(n) <= model_->state_steps, "{} steps, but the state head covers {}", n,
                 model_->state_steps);
  torch::NoGradGuard ng;
  at::Tensor a = model_->state_logits(last_).argmax(-1).to(at::kCPU).contiguous();  // [S]
  const int64_t* p = a.data_ptr<int64_t>();
  return std::vector<int>(p, p + n);
}

at::Tensor IncrementalDecoder::lm_logits() {
  PROSPECT_CHECK(last_.defined(), "IncrementalDecoder: nothing appended yet");
  torch::NoGradGuard ng;
  at::Tensor l = model_->logits(last_);
  l[model_->image_token_id] = -std::numeric_limits<float>::infinity();
  return l;
}

Generation IncrementalDecoder::generate(int64_t end_id, int64_t max_new_tokens) {
  Generation g;
  while (static_cast<int64_t>(g.ids.size()) < max_new_tokens && cache_.free() > 0) {
    int64_t next = lm_logits().argmax().item<int64_t>();
    append({next});
    g.ids.push_back(next);
    if (next == end_id) {
      g.ended = true;
      break;
    }
  }
  return g;
}

void IncrementalDecoder::drop(int64_t begin, int64_t end) {
  torch::NoGradGuard ng;
  const bool last_dropped = begin < end && end == cache_.length;
  cache_.drop(begin, end);
  if (last_dropped) last_ = at::Tensor();  // otherwise the last position is kept, and its heads with it
}

void IncrementalDecoder::reset() {
  cache_.reset();
  last_ = at::Tensor();
}

}  // namespace prospect
