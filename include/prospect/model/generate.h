// Streaming inference over one stream (batch 1) with a KV cache: the prefix is encoded once, then each
// new frame or token appends one position at O(context) cost. At any point the heads can be read at the
// last position, and greedy generation runs until the end-of-turn token (with `<image>` masked to -inf)
// or max_new_tokens. reset() starts a new window; the caller re-encodes its prefix.
#pragma once
#include <vector>

#include "prospect/model/dst_model.h"
#include "prospect/model/kv_cache.h"

namespace prospect {

struct Generation {
  std::vector<int64_t> ids;  // generated tokens, the end-of-turn token included when reached
  bool ended = false;        // true: stopped at end_id; false: max_new_tokens or the cache is full
};

class IncrementalDecoder {
 public:
  // max_len: cache slots (the window size, e.g. data.max_seq_len). Runs without grad.
  IncrementalDecoder(DSTProActLlama model, int64_t max_len);

  // Appends tokens (`<image>` ids among them take the next rows of frames [N, D]); returns the final
  // hidden states of the new positions [T, H]. Error when the window has no room.
  at::Tensor append(const std::vector<int64_t>& ids, const at::Tensor& frames = {});
  at::Tensor append_frame(const at::Tensor& feature);  // one `<image>` for a [D] or [1, D] feature
  at::Tensor append_token(int64_t id);

  // Heads at the last appended position.
  float speaking_logit();
  float dst_logit();
  at::Tensor lm_logits();  // [vocab], `<image>` masked to -inf
  // The state head's argmax (0 not_started, 1 in_progress, 2 completed) for the first n steps; empty
  // without the state head; Error when n exceeds the steps it covers.
  std::vector<int> state_prediction(size_t n);

  // Greedy decoding from the current position: each generated token is appended (so the cache holds
  // it afterwards); stops after end_id or max_new_tokens tokens, or when the window is full.
  Generation generate(int64_t end_id, int64_t max_new_tokens);

  void reset();  // empty the cache for a new window
  // Removes cached positions [begin, end) (KVCache::drop); the next appended token takes position
  // length(), as Hugging Face numbers tokens after a sliced cache.
  void drop(int64_t begin, int64_t end);
  int64_t length() const { return cache_.length; }
  int64_t room() const { return cache_.free(); }

 private:
  DSTProActLlama model_;
  KVCache cache_;
  at::Tensor last_;  // final hidden state at the last position [H]
};

}  // namespace prospect
