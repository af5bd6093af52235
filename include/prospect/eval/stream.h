// Streaming evaluation of one clip as a deployed assistant runs it (SPEC §8): BOS and the system
// turn, then frame by frame with a growing context (a KV cache underneath); reference user turns are
// input; at every decision point (SPEC §3) the DST head is asked first, then the speaking head, and a
// turn is generated greedily when one fires. Generated turns stay in the context, reference assistant
// and DST turns are never shown. A full context is handled by one of four strategies (ContextStrategy:
// PROSPECT's DST refresh and ProAssist's three). The loop talks to the model through ContextModel only, so it is
// tested with a scripted model and runs unchanged on DSTProActLlama with its KV cache
// (make_kv_cache_model, kv_cache_model.h). No tensors here.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "prospect/data/clip.h"
#include "prospect/eval/metrics.h"

namespace prospect::eval {

// The model as the loop sees it: one growing context. Every call appends to it; the heads are read at
// the last position fed.
class ContextModel {
 public:
  virtual ~ContextModel() = default;
  virtual void reset() = 0;                                      // an empty context
  virtual void feed_tokens(const std::vector<int32_t>& ids) = 0;
  virtual void feed_frame(const float* embedding) = 0;          // one <image> token with its features
  // Tokens and frames in one go (a negative id stands for the next row of `frames`), as a re-encoded
  // window is fed. The default feeds them one call at a time; a model may run them in one forward.
  virtual void feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames);
  virtual float speaking_logit() = 0;                            // heads at the last position fed
  virtual float dst_logit() = 0;
  // Greedy continuation of the context: at most max_new tokens, stopping after end_id. Every token
  // returned has been fed (the context grows by the size of the result).
  virtual std::vector<int32_t> generate(int max_new, int32_t end_id) = 0;
  virtual int64_t context_len() const = 0;
  // Removes context positions [begin, end) (ProAssist's drop_middle slices its KV cache so): the others
  // keep what they hold (a KV cache keeps their keys and values as computed, rotary positions included),
  // and what is fed next takes positions from context_len() on, as Hugging Face numbers new tokens from
  // the cache length. The heads are read again only after something is fed.
  virtual void drop(int64_t begin, int64_t end) = 0;
  // The state head's choice (argmax, StepState's value) for the first n steps at the last position
  // fed; empty for a model without the state head.
  virtual std::vector<int> state_prediction(size_t n) { (void)n; return {}; }
};

// The template pieces the loop needs (built from a ChatTemplate by the caller).
struct StreamTemplate {
  std::vector<int32_t> assistant_header, dst_header;
  int32_t end_of_turn = -1;
  std::function<std::string(const std::vector<int32_t>&)> decode;  // content ids -> text
  // The whole `state` turn of a window (SPEC §3) for a state in step order.
  std::function<std::vector<int32_t>(const std::vector<std::pair<std::string, StepState>>&)> state_turn;
  // A whole system turn (header + content + end-of-turn) for a text: summarize_and_drop's request and
  // the system turn it restarts from. Only that strategy needs it.
  std::function<std::vector<int32_t>(const std::string&)> system_turn;
};

// One input item of the stream after the prefix: a frame (row into the clip's embeddings) or a
// reference user turn (its whole token ids: header + content + end-of-turn), in stream order.
struct StreamInput {
  bool is_frame = true;
  int64_t frame = 0;           // video-absolute; for a turn, the frame it follows
  std::vector<int32_t> ids;    // user turn only
};

// A clip ready to stream.
struct StreamClip {
  std::string clip_id;
  std::vector<int32_t> prefix;                      // BOS + system turn
  // summarize_and_drop restarts from bos + system_turn(system_text + " " + summary + " " + knowledge)
  std::vector<int32_t> bos;                         // BOS, or nothing when the tokenizer has none
  std::string system_text;                          // the first system turn's text
  std::string knowledge;                            // a later system turn with "Task knowledge:", or ""
  std::vector<StreamInput> items;                   // frames and user turns in order
  std::vector<std::string> steps;                   // step ids in order (for the state turn)
  std::map<std::string, StepState> initial_state;   // SPEC §2.1
  // The reference DST transitions with their end_frame, in stream order: only to score the state head
  // (StreamOptions::score_state); never shown to the model.
  std::vector<std::pair<int64_t, DstTransition>> reference_updates;
  const float* embeddings = nullptr;                // [frames of the clip, dim], row = frame - first_frame
  int64_t first_frame = 0;
  int64_t dim = 0;
};

// What the loop does when the context is full (SPEC §8).
// - dst_refresh (PROSPECT): when the next item would not fit in max_seq_len, re-encode a window: BOS,
//   system, a state turn with the predicted state (none for a model trained without DST turns), then the
//   most recent whole frames and turns that fit in overflow_keep tokens.
// - The ProAssist strategies look after every frame (once its user turns and generated turns are in)
//   and act when the context holds max_seq_len - reserved_tokens tokens or more (also, earlier, when an
//   item would not fit):
//   drop_all: empty the context (system prompt included); the next frame starts it again.
//   drop_middle: keep the context up to the end of the first user turn plus its last keep_last_tokens
//     tokens, by ContextModel::drop (no re-encode); with no user turn yet, drop all. A first user turn
//     that ends too late to leave keep_last_tokens + reserved_tokens of room does not count (the first
//     user turn after a drop-all then does).
//   summarize_and_drop: feed the system turn "Please summarize the progress.", the current frame and an
//     assistant header, generate up to summary_max_tokens greedily, then restart from BOS and one
//     system turn: the initial system text + " " + the summary (+ " " + the task knowledge).
enum class ContextStrategy { DstRefresh, DropAll, DropMiddle, SummarizeAndDrop };
ContextStrategy parse_context_strategy(const std::string& name);  // eval.context_strategy; UsageError otherwise
const char* context_strategy_name(ContextStrategy s);
inline constexpr const char* kSummaryRequest = "Please summarize the progress.";

struct StreamOptions {
  double speak_threshold = 0.5;
  double dst_threshold = 0.5;
  bool use_dst = true;            // false: the no-DST baseline never asks the DST head
  int max_turns_per_frame = 4;
  int max_new_tokens = 64;
  int max_seq_len = 1024;
  int overflow_keep = 0;          // 0: half of what a window leaves after BOS + system + state
  ContextStrategy strategy = ContextStrategy::DstRefresh;
  int reserved_tokens = 128;      // the ProAssist strategies act at max_seq_len - reserved_tokens
  int keep_last_tokens = 512;     // drop_middle
  int summary_max_tokens = 512;   // summarize_and_drop, as ProAssist
  bool score_state = false;       // read the state head at the first decision point of every frame
};

// The positions a ContextModel must hold for these options: max_seq_len, plus what a summary request
// and its summary add on top of a full context under summarize_and_drop.
int64_t context_capacity(const StreamOptions& opt, const StreamTemplate& tmpl);

struct StreamResult {
  // Generated turns placed at the frame after which they were generated (metrics.h events): an
  // assistant turn, one DST event per transition, one event with no id for a malformed update.
  std::vector<Event> predicted;
  std::map<std::string, StepState> final_state;  // the predicted state at the end
  int64_t decisions = 0;          // decision points read
  int64_t generated_turns = 0;    // assistant + DST turns generated
  int64_t generated_updates = 0;  // DST events (one per transition, malformed ones included)
  int64_t malformed_updates = 0, invalid_updates = 0;
  int64_t reencodes = 0;          // times the context strategy acted
  int64_t reencoded_tokens = 0;   // positions it fed: re-encoded windows, summary requests, summaries and
                                  // the system turns rebuilt from them (drop_all and drop_middle: 0)
  int64_t frames_capped = 0;      // frames that reached max_turns_per_frame
  // score_state: at the first decision point of each frame, every step's reference state (initial
  // state + reference transitions of earlier frames) against the state head's choice and against
  // the state tracked from generated updates so far. Counts of (decision point, step) pairs.
  int64_t state_pairs = 0, state_head_correct = 0, state_tracked_correct = 0;
};

// Runs one clip. Errors (prospect::Error) when a single item cannot fit in data.max_seq_len after a
// re-encode (the window prefix is too long for the configured length).
StreamResult stream_clip(ContextModel& model, const StreamClip& clip, const StreamTemplate& tmpl,
                         const StreamOptions& opt);

// The state of every step in `steps` order (steps missing from the map are not_started).
std::vector<std::pair<std::string, StepState>> ordered_state(const std::vector<std::string>& steps,
                                                             const std::map<std::string, StepState>& state);

// Reference events of a clip in stream order (SPEC §8): assistant turns at their end_frame, one DST
// event per {id, transition} of a DST_UPDATE turn; frames outside the clip are an Error naming it.
std::vector<Event> reference_events(const Clip& clip);

// The clip's record for the metrics and predictions.jsonl: frames, initial state (SPEC §2.1, fps =
// the clip's or the store's), reference events and the predicted ones given.
ClipRecord clip_record(const Clip& clip, double store_fps, std::vector<Event> predicted);

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace prospect::eval
