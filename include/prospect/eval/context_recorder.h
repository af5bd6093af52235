// A ContextModel (stream.h) that wraps another and records, per window (a reset starts one), the
// context as fed, the heads read (with the context length they were read at) and the generations: for
// tests that compare the streamed heads with a teacher-forced forward over the same context.
#pragma once
#include <cstdint>
#include <vector>

#include "prospect/eval/stream.h"

namespace prospect::eval {

// One position of the context as fed: a token id, or a frame (id = the `<image>` id, row = its features).
struct FedItem {
  int64_t id = -1;
  std::vector<float> frame;  // empty for a token
};

struct ContextRecorder : ContextModel {
  ContextRecorder(ContextModel& inner, int64_t image_id, int64_t dim) : inner(inner), image_id(image_id), dim(dim) {}
  void reset() override;
  void feed_tokens(const std::vector<int32_t>& ids) override;
  void feed_frame(const float* embedding) override;
  void feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames) override;
  float speaking_logit() override;
  float dst_logit() override;
  std::vector<int32_t> generate(int max_new, int32_t end_id) override;
  int64_t context_len() const override { return inner.context_len(); }
  // Recorded as a new window that starts with the kept items (positions no longer 0..n-1: its reads are
  // not those of a plain forward over its context; `dropped` says so).
  void drop(int64_t begin, int64_t end) override;

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
    bool dropped = false;  // starts with what a drop kept
    std::vector<FedItem> context;
    std::vector<Read> reads;
    std::vector<Gen> gens;
  };
  ContextModel& inner;
  int64_t image_id, dim;
  std::vector<Window> windows;  // one per reset

 private:
  Window& cur();
};

}  // namespace prospect::eval
