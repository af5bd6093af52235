// The four label sequences of SPEC §3 and the windows of a long stream. -100 = not supervised.
//   speaking_labels / dst_update_labels: at decision points (every <image> and every turn's last
//     token, except an <image> followed by a user turn at its frame, and the system turn's end);
//   speaking_gen_labels / dst_gen_labels: pre-shifted LM targets (position t holds ids[t+1]) from the
//     last header token of an assistant / DST_UPDATE turn through the token before its end-of-turn,
//     so content and the end-of-turn token are learned.
//   dst_state (only with SeqOptions::state_steps > 0): at every decision point, the reference state of
//     each step (step_ids order; StepState's value 0/1/2) with every DST_UPDATE turn before that
//     point in the stream applied (at a turn's last token, that turn included).
// Idle-frame negatives are kept by an order-free hash (SPEC §3), so the draw does not depend on data
// order, rank count or resume.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "prospect/seq/format.h"

namespace prospect {

constexpr int64_t kIgnore = -100;

struct Sampling {
  uint64_t seed = 0;
  uint64_t epoch = 0;
  double rate = 1.0;  // data.neg_frame_sampling_rate (1.0 for validation and evaluation)
};
// splitmix64(seed ^ splitmix64(epoch) ^ fnv1a64(clip_id) ^ splitmix64(frame)) < rate * 2^64
bool keep_idle_frame(const Sampling& s, const std::string& clip_id, int64_t frame);

// One window of one clip: what the collator batches.
struct Sequence {
  std::string clip_id;
  int window = 0;                   // 0-based index of this window within the clip
  int64_t first_frame = 0;          // video-absolute frame of its first <image>
  size_t prefix_len = 0;            // BOS + system (+ state) tokens, never supervised
  std::vector<int32_t> ids;
  std::vector<int64_t> frame_index; // clip-relative index (frame - start_frame_idx) of each <image>, in order
  std::vector<int64_t> speaking, dst_update, speaking_gen, dst_gen;  // one per position
  // With state labels: one entry per position, empty except at decision points (one label per step);
  // without: empty.
  std::vector<std::vector<int64_t>> dst_state;
};

struct LabelCounts {
  int64_t speaking_gen = 0, speaking = 0, dst_gen = 0, dst_update = 0;
  int64_t dst_state = 0;  // (decision point, step) pairs with a state label
  LabelCounts& operator+=(const LabelCounts& o) {
    speaking_gen += o.speaking_gen, speaking += o.speaking, dst_gen += o.dst_gen, dst_update += o.dst_update;
    dst_state += o.dst_state;
    return *this;
  }
};
inline LabelCounts count_labels(const Sequence& s) {
  LabelCounts c;
  for (size_t t = 0; t < s.ids.size(); ++t) {
    c.speaking_gen += s.speaking_gen[t] != kIgnore;
    c.speaking += s.speaking[t] != kIgnore;
    c.dst_gen += s.dst_gen[t] != kIgnore;
    c.dst_update += s.dst_update[t] != kIgnore;
  }
  for (const auto& v : s.dst_state) c.dst_state += static_cast<int64_t>(v.size());
  return c;
}

// A clip as one or more windows of at most opt.max_seq_len tokens (a window holding a single frame
// and its turns may exceed it). Windows never split a frame from its turns; each window after
// splitting starts with BOS + system + a state turn; every label lies in exactly one window.
std::vector<Sequence> make_sequences(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt,
                                     const Sampling& sampling);

// Tokens of a clip's stream (all windows): the per-video weight of the shard plan (SPEC §2.3).
int64_t clip_token_count(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt);

}  // namespace prospect
