// The dialogue vocabulary (dialogue.h): names, the transition rule, the DST-update text and its parser.
#include "prospect/core/dialogue.h"

#include "prospect/core/error.h"

namespace prospect {

const char* role_name(Role r) {
  switch (r) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::DstUpdate: return "DST_UPDATE";
  }
  return "?";
}

const char* state_name(StepState s) {
  switch (s) {
    case StepState::NotStarted: return "not_started";
    case StepState::InProgress: return "in_progress";
    case StepState::Completed: return "completed";
  }
  return "?";
}

StepState parse_step_state(const std::string& s, const std::string& where) {
  for (StepState st : {StepState::NotStarted, StepState::InProgress, StepState::Completed})
    if (s == state_name(st)) return st;
  fail("{}: step state '{}' is not one of not_started, in_progress, completed", where, s);
}

TransitionKind classify_transition(const std::map<std::string, StepState>& state, const DstTransition& t) {
  auto it = state.find(t.id);
  if (it == state.end()) return TransitionKind::UnknownStep;
  StepState to;
  if (t.transition == "start")
    to = StepState::InProgress;
  else if (t.transition == "complete")
    to = StepState::Completed;
  else
    return TransitionKind::BadName;
  if (it->second == to) return TransitionKind::AlreadyInEffect;
  if (static_cast<int>(it->second) > static_cast<int>(to)) return TransitionKind::Backward;
  return TransitionKind::Legal;
}

bool apply_transition(std::map<std::string, StepState>& state, const DstTransition& t) {
  TransitionKind k = classify_transition(state, t);
  if (k == TransitionKind::AlreadyInEffect) return true;  // a repeat: valid, nothing to change
  if (k != TransitionKind::Legal) return false;
  state[t.id] = t.transition == "start" ? StepState::InProgress : StepState::Completed;
  return true;
}

std::string dst_update_text(const std::vector<DstTransition>& updates) {
  std::string s;
  for (size_t i = 0; i < updates.size(); ++i) {
    if (i) s += ", ";
    s += updates[i].id + "->" + updates[i].transition;
  }
  return s;
}

namespace {

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool is_step_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

}  // namespace

std::optional<std::vector<DstTransition>> parse_dst_update(std::string_view text) {
  std::vector<DstTransition> out;
  std::string_view body = trim(text);
  if (body.empty()) return std::nullopt;
  for (size_t start = 0;;) {
    size_t comma = body.find(',', start);
    std::string_view item = trim(body.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    size_t arrow = item.find("->");
    if (arrow == std::string_view::npos) return std::nullopt;
    std::string_view id = trim(item.substr(0, arrow)), transition = trim(item.substr(arrow + 2));
    if (id.empty()) return std::nullopt;
    for (char c : id)
      if (!is_step_id_char(c)) return std::nullopt;
    if (transition != "start" && transition != "complete") return std::nullopt;
    out.push_back({std::string(id), std::string(transition)});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace prospect
