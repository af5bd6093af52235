#include "prospect/eval/context_recorder.h"

namespace prospect::eval {

ContextRecorder::Window& ContextRecorder::cur() {
  if (windows.empty()) windows.emplace_back();
  return windows.back();
}

void ContextRecorder::reset() {
  inner.reset();
  windows.emplace_back();
}

void ContextRecorder::feed_tokens(const std::vector<int32_t>& ids) {
  inner.feed_tokens(ids);
  for (int32_t i : ids) cur().context.push_back({i, {}});
}

void ContextRecorder::feed_frame(const float* embedding) {
  inner.feed_frame(embedding);
  cur().context.push_back({image_id, std::vector<float>(embedding, embedding + dim)});
}

void ContextRecorder::feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames) {
  inner.feed_mixed(ids, frames);
  size_t f = 0;
  for (int32_t id : ids) {
    if (id >= 0)
      cur().context.push_back({id, {}});
    else
      cur().context.push_back({image_id, std::vector<float>(frames[f], frames[f] + dim)}), ++f;
  }
}

void ContextRecorder::drop(int64_t begin, int64_t end) {
  inner.drop(begin, end);
  Window w;
  w.dropped = true;
  w.context = cur().context;
  w.context.erase(w.context.begin() + begin, w.context.begin() + end);
  windows.push_back(std::move(w));
}

float ContextRecorder::speaking_logit() {
  float v = inner.speaking_logit();
  cur().reads.push_back({static_cast<int64_t>(cur().context.size()), false, v});
  return v;
}

float ContextRecorder::dst_logit() {
  float v = inner.dst_logit();
  cur().reads.push_back({static_cast<int64_t>(cur().context.size()), true, v});
  return v;
}

std::vector<int32_t> ContextRecorder::generate(int max_new, int32_t end_id) {
  Gen g;
  g.start = static_cast<int64_t>(cur().context.size());
  g.ids = inner.generate(max_new, end_id);
  for (int32_t i : g.ids) cur().context.push_back({i, {}});
  cur().gens.push_back(g);
  return g.ids;
}

}  // namespace prospect::eval
