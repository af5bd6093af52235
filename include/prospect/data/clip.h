// A clip of the PROSPECT annotations (SPEC §2.1): a contiguous frame range of one video, its task
// steps and its conversation. Frame indices are video-absolute and inclusive on both ends.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/core/dialogue.h"  // Role, StepState, DstTransition, apply_transition

namespace prospect {

struct Turn {
  Role role = Role::User;
  std::string content;                // text (empty for DST_UPDATE)
  std::vector<DstTransition> updates; // DST_UPDATE only
  std::string progress;               // assistant only, optional: ProAssist's summary of the progress so far
  double time = 0;
  int64_t start_frame = 0, end_frame = 0;  // inclusive; meaningless for the system turn
};

struct Step {
  std::string id, name;
  double start_ts = 0, end_ts = 0;
};

struct Clip {
  std::string video_uid, inferred_goal, dataset;
  int64_t start_frame_idx = 0, end_frame_idx = 0;  // inclusive, video-absolute
  double fps = 0;                                  // 0: the store's
  std::vector<Step> steps;
  std::vector<Turn> conversation;                  // in file order
  nlohmann::json raw;                              // the clip's JSON as read (unknown fields kept)

  std::string id() const { return video_uid + ":" + std::to_string(start_frame_idx); }
  std::string file_stem() const { return video_uid + "_" + std::to_string(start_frame_idx); }
  int64_t num_frames() const { return end_frame_idx - start_frame_idx + 1; }
};

// Parses a split file's text: a JSON array of clips, one clip object, or JSON Lines. Errors name the
// source, the clip (index / id) and the field.
std::vector<Clip> parse_clips(const std::string& text, const std::string& source);
Clip parse_clip(const nlohmann::json& j, const std::string& where);
nlohmann::json clip_to_json(const Clip& c);

// The steps of a clip: ids in `dst`, then ids that only a DST_UPDATE names (in order of appearance).
std::vector<std::string> step_ids(const Clip& c);
// The reference state at the clip's first frame (SPEC §2.1), t0 = start_frame_idx / fps.
std::map<std::string, StepState> initial_state(const Clip& c, double fps);
// Frame range of a turn as it streams: the system turn has none (false).
inline bool has_frames(const Turn& t) { return t.role != Role::System; }

}  // namespace prospect
