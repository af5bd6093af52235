// The llama3 and plain chat templates (chat_template.h).
#include "prospect/text/chat_template.h"

#include "prospect/core/error.h"

namespace prospect {

namespace {

const char* step_state_text(StepState s) {
  switch (s) {
    case StepState::NotStarted: return "not_started";
    case StepState::InProgress: return "in_progress";
    case StepState::Completed: return "completed";
  }
  return "?";
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

const char* ChatTemplate::role_text(Role role) {
  switch (role) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::DstUpdate: return "dst";
  }
  return "?";
}

std::string ChatTemplate::header_text(const std::string& role) const {
  if (name == "llama3") return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
  std::string r = role;
  if (!r.empty() && r[0] >= 'a' && r[0] <= 'z') r[0] = static_cast<char>(r[0] - 'a' + 'A');
  return r + ": ";
}

std::vector<int32_t> ChatTemplate::header_named(const std::string& role) const {
  return tok->encode(header_text(role)).ids;
}

std::vector<int32_t> ChatTemplate::header(Role role) const { return header_named(role_text(role)); }

std::vector<int32_t> ChatTemplate::content(const std::string& text) const { return tok->encode(text).ids; }

std::string ChatTemplate::dst_text(const std::vector<DstTransition>& updates) const {
  std::string s;
  for (size_t i = 0; i < updates.size(); ++i) {
    if (i) s += ", ";
    s += updates[i].id + "->" + updates[i].transition;
  }
  return s;
}

std::string ChatTemplate::state_text(const std::vector<std::pair<std::string, StepState>>& states) {
  std::string s = "Current step states: ";
  if (states.empty()) return s + "none";
  for (size_t i = 0; i < states.size(); ++i) {
    if (i) s += ", ";
    s += states[i].first + " " + step_state_text(states[i].second);
  }
  return s;
}

std::vector<int32_t> ChatTemplate::state_turn_content(
    const std::vector<std::pair<std::string, StepState>>& states) const {
  return content(state_text(states));
}

std::vector<int32_t> ChatTemplate::turn(Role role, const std::string& text,
                                        const std::vector<DstTransition>& updates) const {
  std::vector<int32_t> ids = header(role);
  std::vector<int32_t> c = content(role == Role::DstUpdate ? dst_text(updates) : text);
  ids.insert(ids.end(), c.begin(), c.end());
  ids.push_back(end_of_turn);
  return ids;
}

ChatTemplate make_chat_template(const std::string& name, const Tokenizer& tok) {
  ChatTemplate t;
  t.name = name;
  t.tok = &tok;
  std::string eot;
  std::vector<std::string> required;
  if (name == "llama3") {
    eot = "<|eot_id|>";
    required = {"<|start_header_id|>", "<|end_header_id|>", eot};
  } else if (name == "plain") {
    eot = "<|eot|>";
    required = {eot};
  } else {
    usage_fail("unknown chat template '{}' (expected llama3 or plain)", name);
  }
  for (const auto& s : required) {
    int32_t id = tok.token_to_id(s);
    if (id < 0 || !tok.is_special(id))
      usage_fail("chat template '{}' needs the special token {} but the {} tokenizer has no such special token",
                 name, s, tok.kind());
  }
  t.end_of_turn = tok.token_to_id(eot);
  return t;
}

bool parse_dst_text(const std::string& text, std::vector<DstTransition>* out) {
  out->clear();
  std::vector<DstTransition> res;
  std::string body = trim(text);
  if (body.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t comma = body.find(',', start);
    std::string item = trim(body.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    size_t arrow = item.find("->");
    if (arrow == std::string::npos) return false;
    std::string id = trim(item.substr(0, arrow)), tr = trim(item.substr(arrow + 2));
    if (id.empty()) return false;
    for (char c : id) {
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
      if (!ok) return false;
    }
    if (tr != "start" && tr != "complete") return false;
    res.push_back({id, tr});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  *out = std::move(res);
  return true;
}

}  // namespace prospect
