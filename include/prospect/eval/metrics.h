// Per-clip evaluation (SPEC §8): the events of a clip, reference and predicted, become integer counts
// (speaking and DST-update decisions per frame and per event, DST state per frame and step,
// transitions, malformed / invalid updates) and the matched (reference, hypothesis) text pairs.
// Counts are summed over clips (micro-average) before any division: see report.h.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "prospect/core/dialogue.h"  // StepState, state_name, apply_transition
#include "prospect/eval/text_metrics.h"

namespace prospect::eval {

struct ProAssistClip;  // proassist_match.h (which includes this header)

enum class EventRole { Assistant, DstUpdate };

// A turn placed at a frame: an assistant turn, or one {id, transition} of a DST update.
struct Event {
  int64_t frame = 0;
  EventRole role = EventRole::Assistant;
  std::string text;               // assistant: the turn; malformed update: the text generated (optional)
  std::optional<std::string> id;  // DST: the step id; nullopt = malformed update (matches nothing)
  std::string transition;         // DST: "start" | "complete" (empty when malformed)
  int index = 0;                  // position in its list: order of events within one frame
};

Event assistant_event(int64_t frame, std::string text);
Event dst_event(int64_t frame, std::string id, std::string transition);
Event malformed_event(int64_t frame, std::string text = "");

// One clip as predictions.jsonl stores it: enough to recompute every number of eval.json.
struct ClipRecord {
  std::string clip_id;
  std::string dataset;  // the clip's `dataset` field ("" when it has none): eval.match=proassist's window
  double fps = 0;
  int64_t first_frame = 0, last_frame = 0;  // inclusive, video-absolute
  std::map<std::string, StepState> initial_state;
  std::vector<Event> reference, predicted;
};

// predictions.jsonl lines (SPEC §8): {clip_id, [dataset,] fps, first_frame, last_frame, initial_state,
// reference, predicted} (dataset only when the clip names one); events {"role","frame","text"} or {"role","frame","id","transition"}.
nlohmann::ordered_json record_to_json(const ClipRecord& r);
ClipRecord record_from_json(const nlohmann::json& j, const std::string& where);  // Error names where + field

// Integer counts of one clip (or a sum of clips). Frame views count frames first..last.
struct ClipCounts {
  int64_t clips = 0, frames = 0, turns = 0;  // turns: predicted events (assistant turns + DST updates)
  // speaking: per frame (positive = an assistant event at that frame) and per event
  int64_t speak_tp = 0, speak_fp = 0, speak_fn = 0, speak_tn = 0;
  int64_t speak_pred = 0, speak_ref = 0, speak_matched = 0;
  // DST update decision (any step; a malformed update counts as predicted, matches nothing)
  int64_t update_tp = 0, update_fp = 0, update_fn = 0, update_tn = 0;
  int64_t update_pred = 0, update_ref = 0, update_matched = 0;
  int64_t transition_matched = 0;  // pairs that also agree on step id and transition
  // DST state: (frame, step) pairs and frames (of clips with at least one step)
  int64_t state_equal = 0, state_pairs = 0, joint_equal = 0, joint_frames = 0;
  int64_t generated_updates = 0, malformed_updates = 0, invalid_updates = 0;

  ClipCounts& operator+=(const ClipCounts& o);
  bool operator==(const ClipCounts& o) const;
};
nlohmann::ordered_json counts_to_json(const ClipCounts& c);  // every field
ClipCounts counts_from_json(const nlohmann::json& j);

struct TextPair {
  std::string reference, hypothesis;
};

// What one rank sends rank 0 for a clip.
struct ClipResult {
  std::string clip_id;
  ClipCounts counts;
  std::vector<TextPair> text_pairs;  // matched assistant pairs, in reference time order
  ClipRecord record;
  std::shared_ptr<const ProAssistClip> proassist;  // eval.match=proassist: what the clip adds; else null
};

// Counts and text pairs of one clip. Windows in seconds (eval.match_before_s / match_after_s).
ClipResult evaluate_clip(const ClipRecord& rec, double match_before_s, double match_after_s);

// Bytes for Communicator::gather_bytes (JSON text) and back. Error on bytes that do not parse.
std::string serialize_results(const std::vector<ClipResult>& results);
std::vector<ClipResult> deserialize_results(const std::string& bytes, const std::string& where);

}  // namespace prospect::eval
