// Chat templates of SPEC §3. Every turn is header + content + exactly one end-of-turn special token;
// segments are tokenized separately so a token never spans two of them.
//   llama3: "<|start_header_id|>{role}<|end_header_id|>\n\n" ... "<|eot_id|>"
//           roles: system, user, assistant, dst (DST_UPDATE turns), state (the window's state turn)
//   plain : "{Role}: " ... "<|eot|>"   (the synthetic demo; <|eot|> is a user-defined SentencePiece symbol)
//           roles: "System: ", "User: ", "Assistant: ", "Dst: ", "State: "
// The header is one tokenized segment (special tokens inside it are matched as tokens); the content
// another; the end of the turn is the single id `end_of_turn`.
// DST_UPDATE turns use the role "dst" and render their content as dst_update_text() does
// ("S5->complete, S6->start", core/dialogue.h).
// The state turn (first turn of every window after the system turn) uses the role "state" and renders
// "Current step states: S1 completed, S2 in_progress, S3 not_started" (states in the given order;
// "Current step states: none" for an empty list).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "prospect/core/dialogue.h"
#include "prospect/text/tokenizer.h"

namespace prospect {

struct ChatTemplate {
  std::string name;  // "llama3" | "plain"
  const Tokenizer* tok = nullptr;
  int32_t end_of_turn = -1;  // the end-of-turn token id

  std::vector<int32_t> header(Role role) const;            // header ids (may be empty)
  std::vector<int32_t> content(const std::string& text) const;  // content ids
  std::vector<int32_t> state_turn_content(const std::vector<std::pair<std::string, StepState>>& states) const;

  // Additions.
  std::string header_text(const std::string& role) const;  // the header string for a role name ("state", ...)
  std::vector<int32_t> header_named(const std::string& role) const;  // header ids for a role name
  std::vector<int32_t> state_header() const { return header_named("state"); }
  static const char* role_text(Role role);  // "system", "user", "assistant", "dst"
  // A whole turn: header + content + end_of_turn. DstUpdate turns render `updates` (text ignored).
  std::vector<int32_t> turn(Role role, const std::string& text, const std::vector<DstTransition>& updates = {}) const;
  // "Current step states: S1 completed, S2 in_progress" (see above).
  static std::string state_text(const std::vector<std::pair<std::string, StepState>>& states);
};

// Errors (UsageError) for an unknown name or a tokenizer that lacks the end-of-turn token (or, for
// llama3, the header tokens).
ChatTemplate make_chat_template(const std::string& name, const Tokenizer& tok);

}  // namespace prospect
