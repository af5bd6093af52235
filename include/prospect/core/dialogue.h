// The dialogue vocabulary every layer speaks (SPEC §2.1, §3, §8): the roles of a turn, the states of
// a task step, a DST transition and the rule that applies it, and the text of a DST update
// ("S5->complete, S6->start") with its one parser. The data layer reads these from clip JSON, the
// text layer renders them through a chat template, evaluation parses what the model generates.
// No JSON, no tensors: one small header below all of them.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prospect {

enum class Role { System, User, Assistant, DstUpdate };
enum class StepState { NotStarted = 0, InProgress = 1, Completed = 2 };

// The names of the data files (SPEC §2.1).
const char* role_name(Role r);        // "system", "user", "assistant", "DST_UPDATE"
const char* state_name(StepState s);  // "not_started", "in_progress", "completed"
// state_name's inverse: anything else is an Error naming `where` and the text.
StepState parse_step_state(const std::string& s, const std::string& where);

struct DstTransition {
  std::string id;          // step id, e.g. "S5"
  std::string transition;  // "start" | "complete"
};

// How a transition relates to a step's current state (validation tells these apart).
enum class TransitionKind { Legal, AlreadyInEffect, Backward, UnknownStep, BadName };
TransitionKind classify_transition(const std::map<std::string, StepState>& state, const DstTransition& t);
// Applies one transition if legal (not_started -> in_progress -> completed; complete may skip start).
// A transition already in effect (a second S1->start) is valid and changes nothing (SPEC §8). Returns
// false (state unchanged) for an unknown step, a backward transition, or a transition word other than
// start / complete.
bool apply_transition(std::map<std::string, StepState>& state, const DstTransition& t);

// The content of a DST update turn as the model reads and writes it (SPEC §3): "S5->complete, S6->start"
// ("" for no transitions).
std::string dst_update_text(const std::vector<DstTransition>& updates);

// The one parser of that text (SPEC §8), for generated updates:
//   update     := item ("," item)*
//   item       := space* step-id space* "->" space* transition space*
//   step-id    := one or more of A-Z a-z 0-9 _ .
//   transition := "start" | "complete"
//   space      := " " | "\t" | "\r" | "\n"
// nullopt when the text is not an update (empty text, an empty item, a missing arrow, another word):
// the caller records one malformed update. Whether a step exists is not the parser's business.
std::optional<std::vector<DstTransition>> parse_dst_update(std::string_view text);

}  // namespace prospect
