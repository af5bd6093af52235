// A clip becomes one token stream (SPEC §3): BOS, the system turn, then every frame as one <image>
// token with each turn right after the token of its end_frame. Plain ids, no tensors: format and
// labels are cheap and testable by hand; collate.h makes the tensors.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "prospect/core/config.h"
#include "prospect/data/clip.h"
#include "prospect/text/chat_template.h"

namespace prospect {

struct SeqOptions {
  std::string frames = "all";   // all | turns
  bool dst_turns = true;        // false: DST_UPDATE turns left out (no-DST baseline)
  std::string system_prompt;    // for clips without a system turn; {goal} and {steps} filled in
  int max_seq_len = 1024;
  int32_t image_id = -1;        // the <image> token: the base vocabulary size
  double fps = 0;               // the store's fps, for clips that do not name their own
  int state_steps = 0;          // > 0: state labels at decision points for up to this many steps
                                // (the model's state head, model.dst_state_head); 0: none
};
SeqOptions seq_options(const DataConfig& d, int32_t image_id, double store_fps);

// One item of the stream: a frame (its <image> token) or a turn (index into clip.conversation).
struct StreamItem {
  bool is_frame = true;
  int64_t frame = 0;  // video-absolute; for a turn, the frame it follows (its end_frame)
  int turn = -1;
};

// The body of the stream in order (system turns excluded). Turns sharing a frame: user, DST_UPDATE,
// assistant; by time then file order within a role. Error naming the clip and turn when a turn's
// end_frame lies outside the clip.
std::vector<StreamItem> stream_items(const Clip& clip, const SeqOptions& opt);

// Token ids of one turn through the template: header + content + end-of-turn. header_len receives
// the number of header ids.
std::vector<int32_t> turn_ids(const Turn& turn, const ChatTemplate& tmpl, size_t* header_len = nullptr);

// BOS (if the tokenizer has one) + the system turn(s), or data.system_prompt with goal and steps.
std::vector<int32_t> prefix_ids(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt);
// The texts of those system turns, in order (data.system_prompt filled in when the clip has none).
std::vector<std::string> system_texts(const Clip& clip, const SeqOptions& opt);

// The reference state (SPEC §2.1) with every DST_UPDATE among items[0, upto) applied, in step order.
std::vector<std::pair<std::string, StepState>> reference_state(const Clip& clip, const SeqOptions& opt,
                                                               const std::vector<StreamItem>& items, size_t upto);

// ProAssist's summary request (a system turn) and its answer (an assistant turn whose content is a
// progress summary of the data, Turn::progress), SPEC §3.
constexpr const char* kSummaryPrompt = "Please summarize the progress.";
// The two turns' ids; *answer_header_end receives the index of the assistant header's last token.
std::vector<int32_t> summary_turn_ids(const std::string& progress, const ChatTemplate& tmpl, size_t* answer_header_end);

// The `state` turn of a window (SPEC §3): the `state` role's header + "Current step states: ..." + end-of-turn.
std::vector<int32_t> state_turn_ids(const std::vector<std::pair<std::string, StepState>>& state,
                                    const ChatTemplate& tmpl);

}  // namespace prospect
