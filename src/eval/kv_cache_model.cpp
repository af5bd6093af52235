#include "prospect/eval/kv_cache_model.h"

#include <torch/types.h>

#include <cstring>

#include "prospect/core/error.h"
#include "prospect/model/generate.h"

namespace prospect::eval {

namespace {

class KVCacheModel : public ContextModel {
 public:
  KVCacheModel(DSTProActLlama model, int64_t max_len)
      : dim_(model->feature_dim), image_id_(model->image_token_id), dec_(std::move(model), max_len) {}
  void reset() override { dec_.reset(); }
  void feed_tokens(const std::vector<int32_t>& ids) override {
    if (ids.empty()) return;
    dec_.append(std::vector<int64_t>(ids.begin(), ids.end()));
  }
  void feed_frame(const float* embedding) override {
    // from_blob does not copy: the rows outlive the call, and append copies them into the cache
    dec_.append_frame(at::from_blob(const_cast<float*>(embedding), {dim_}, at::kFloat));
  }
  void feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames) override {
    if (ids.empty()) return;
    std::vector<int64_t> all;
    at::Tensor rows = at::empty({static_cast<int64_t>(frames.size()), dim_}, at::kFloat);
    size_t f = 0;
    for (int32_t id : ids) {
      if (id >= 0) {
        all.push_back(id);
        continue;
      }
      PROSPECT_CHECK(f < frames.size(), "feed_mixed: more frame markers than the {} frames given", frames.size());
      std::memcpy(rows[static_cast<int64_t>(f)].data_ptr<float>(), frames[f], sizeof(float) * dim_);
      ++f;
      all.push_back(image_id_);
    }
    dec_.append(all, f > 0 ? rows : at::Tensor());
  }
  float speaking_logit() override { return dec_.speaking_logit(); }
  float dst_logit() override { return dec_.dst_logit(); }
  std::vector<int> state_prediction(size_t n) override { return dec_.state_prediction(n); }
  std::vector<int32_t> generate(int max_new, int32_t end_id) override {
    Generation g = dec_.generate(end_id, max_new);
    return std::vector<int32_t>(g.ids.begin(), g.ids.end());
  }
  int64_t context_len() const override { return dec_.length(); }
  void drop(int64_t begin, int64_t end) override { dec_.drop(begin, end); }

 private:
  int64_t dim_, image_id_;
  IncrementalDecoder dec_;
};

}  // namespace

std::unique_ptr<ContextModel> make_kv_cache_model(DSTProActLlama model, int64_t max_len) {
  return std::make_unique<KVCacheModel>(std::move(model), max_len);
}

}  // namespace prospect::eval
