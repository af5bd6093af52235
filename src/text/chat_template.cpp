// The llama3 and plain chat templates (chat_template.h).
#include "prospect/text/chat_template.h"

#include "prospect/core/error.h"

namespace prospect {

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

std::string ChatTemplate::state_text(const std::vector<std::pair<std::string, StepState>>& states) {
  std::string s = "Current step states: ";
  if (states.empty()) return s + "none";
  for (size_t i = 0; i < states.size(); ++i) {
    if (i) s += ", ";
    s += states[i].first + " " + state_name(states[i].second);
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
  std::vector<int32_t> c = content(role == Role::DstUpdate ? dst_update_text(updates) : text);
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

}  // namespace prospect
