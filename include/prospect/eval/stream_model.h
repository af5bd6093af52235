// The streaming loop's model (stream.h) on a DSTProActLlama with a KV cache (model/generate.h): one
// window of at most max_len positions, frames through the projector, greedy generation with
// `<image>` masked. Also a recorder that wraps any StreamModel and keeps what was fed, for tests that
// compare the streamed heads with a teacher-forced forward over the same context.
#pragma once
#include <memory>
#include <vector>

#include "prospect/eval/stream.h"
#include "prospect/model/dst_model.h"

namespace prospect::eval {

std::unique_ptr<StreamModel> make_stream_model(DSTProActLlama model, int64_t max_len);

// One position of the context as fed: a token id, or a frame (id = the `<image>` id, row = its features).
struct FedItem {
  int64_t id = -1;
  std::vector<float> frame;  // empty for a token
};

// Passes every call through and records, per window (a reset starts one), the context as fed, the
// heads read (with the context length they were read at) and the generations.
struct RecordingModel : StreamModel {
  RecordingModel(StreamModel& inner, int64_t image_id, int64_t dim) : inner(inner), image_id(image_id), dim(dim) {}
  void reset() override;
  void feed_tokens(const std::vector<int32_t>& ids) override;
  void feed_frame(const float* embedding) override;
  void feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames) override;
  float speaking_logit() override;
  float dst_logit() override;
  std::vector<int32_t> generate(int max_new, int32_t end_id) override;
  int64_t context_len() const override { return inner.context_len(); }

  struct Read {
    int64_t pos = 0;  // the context length when read (the head is at position pos - 1)
    bool dst = false;
    float logit = 0;
  };
  struct Gen {
    int64_t start = 0;  // context length before the first generated token
    std::vector<int32_t> ids;
  };
  struct Window {
    std::vector<FedItem> context;
    std::vector<Read> reads;
    std::vector<Gen> gens;
  };
  StreamModel& inner;
  int64_t image_id, dim;
  std::vector<Window> windows;  // one per reset

 private:
  Window& cur();
};

}  // namespace prospect::eval
