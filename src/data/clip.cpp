// PROSPECT clip JSON (SPEC §2.1): parsing with errors that name source, clip and field; the derived
// reference DST state.
#include "prospect/data/clip.h"

#include <fmt/format.h>

#include <set>
#include <sstream>

#include "prospect/core/error.h"

namespace prospect {

using json = nlohmann::json;

namespace {

std::string type_of(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer() || j.is_number_unsigned()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

const json& need(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail("{}: field '{}' is missing", where, key);
  return *it;
}

std::string get_string(const json& j, const char* key, const std::string& where, bool required) {
  auto it = j.find(key);
  if (it == j.end() || (!required && it->is_null())) {
    if (required) fail("{}: field '{}' is missing", where, key);
    return "";
  }
  if (!it->is_string()) fail("{}: field '{}': expected a string, found {}", where, key, type_of(*it));
  return it->get<std::string>();
}

int64_t get_int(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>();
  // Some exports write frame indices as 12.0.
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  fail("{}: field '{}': expected an integer, found {}", where, key, v.is_number() ? v.dump() : type_of(v));
}

double get_number(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_number()) fail("{}: field '{}': expected a number, found {}", where, key, type_of(v));
  return v.get<double>();
}

Role parse_role(const std::string& s, const std::string& where) {
  for (Role r : {Role::System, Role::User, Role::Assistant, Role::DstUpdate})
    if (s == role_name(r)) return r;
  fail("{}: field 'role': expected system|user|assistant|DST_UPDATE, found '{}'", where, s);
}

DstTransition parse_transition(const json& u, const std::string& where) {
  if (!u.is_object()) fail("{}: field 'content': expected {{id, transition}} objects, found {}", where, type_of(u));
  DstTransition t;
  t.id = get_string(u, "id", where + " update", true);
  t.transition = get_string(u, "transition", where + " update", true);
  if (t.transition != "start" && t.transition != "complete")
    fail("{}: field 'transition': expected start|complete, found '{}'", where, t.transition);
  return t;
}

Turn parse_turn(const json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: expected an object, found {}", where, type_of(j));
  Turn t;
  t.role = parse_role(get_string(j, "role", where, true), where);
  const json& content = need(j, "content", where);
  if (t.role == Role::DstUpdate) {
    if (content.is_array()) {
      for (const auto& u : content) t.updates.push_back(parse_transition(u, where));
    } else if (content.is_object()) {
      t.updates.push_back(parse_transition(content, where));
    } else {
      fail("{}: field 'content': expected a list of {{id, transition}}, found {}", where, type_of(content));
    }
    if (t.updates.empty()) fail("{}: field 'content': an empty DST_UPDATE", where);
  } else {
    if (!content.is_string()) fail("{}: field 'content': expected a string, found {}", where, type_of(content));
    t.content = content.get<std::string>();
  }
  if (j.contains("time") && !j["time"].is_null()) t.time = get_number(j, "time", where);
  if (j.contains("progress") && !j["progress"].is_null()) {
    // ProAssist's progress summaries ride on assistant turns (training adds its summary turns, §3)
    if (t.role != Role::Assistant)
      fail("{}: field 'progress': only an assistant turn may carry a progress summary, found one on a {} turn",
           where, role_name(t.role));
    t.progress = get_string(j, "progress", where, true);
    if (t.progress.empty()) fail("{}: field 'progress': an empty progress summary", where);
  }
  if (t.role == Role::System) {
    // Public data writes [0, 1] here, outside the clip: read if present, never used.
    if (j.contains("start_frame") && j["start_frame"].is_number()) t.start_frame = j["start_frame"].get<int64_t>();
    if (j.contains("end_frame") && j["end_frame"].is_number()) t.end_frame = j["end_frame"].get<int64_t>();
  } else {
    t.start_frame = get_int(j, "start_frame", where);
    t.end_frame = get_int(j, "end_frame", where);
  }
  return t;
}

}  // namespace

Clip parse_clip(const json& j, const std::string& where_in) {
  if (!j.is_object()) fail("{}: expected a clip object, found {}", where_in, type_of(j));
  Clip c;
  c.raw = j;
  c.video_uid = get_string(j, "video_uid", where_in, true);
  c.start_frame_idx = get_int(j, "start_frame_idx", where_in);
  std::string where = fmt::format("{} ({})", where_in, c.id());
  c.end_frame_idx = get_int(j, "end_frame_idx", where);
  c.inferred_goal = get_string(j, "inferred_goal", where, false);
  c.dataset = get_string(j, "dataset", where, false);
  if (j.contains("fps") && !j["fps"].is_null()) c.fps = get_number(j, "fps", where);
  if (j.contains("dst") && !j["dst"].is_null()) {
    const json& dst = j["dst"];
    if (!dst.is_array()) fail("{}: field 'dst': expected an array, found {}", where, type_of(dst));
    for (size_t i = 0; i < dst.size(); ++i) {
      const json& s = dst[i];
      std::string w = fmt::format("{} dst[{}]", where, i);
      if (!s.is_object()) fail("{}: expected an object, found {}", w, type_of(s));
      if (s.contains("type") && s["type"].is_string() && s["type"].get<std::string>() != "step") continue;
      Step st;
      st.id = get_string(s, "id", w, true);
      st.name = get_string(s, "name", w, false);
      st.start_ts = get_number(s, "start_ts", w);
      st.end_ts = get_number(s, "end_ts", w);
      c.steps.push_back(st);
    }
  }
  const json& conv = need(j, "conversation", where);
  if (!conv.is_array()) fail("{}: field 'conversation': expected an array, found {}", where, type_of(conv));
  for (size_t i = 0; i < conv.size(); ++i) c.conversation.push_back(parse_turn(conv[i], fmt::format("{} turn {}", where, i)));
  return c;
}

std::vector<Clip> parse_clips(const std::string& text, const std::string& source) {
  std::vector<Clip> out;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return out;
  json whole;
  bool parsed = true;
  std::string parse_error;
  try {
    whole = json::parse(text);
  } catch (const json::parse_error& e) {
    parsed = false;
    parse_error = e.what();
  }
  if (parsed) {
    if (whole.is_array()) {
      for (size_t i = 0; i < whole.size(); ++i) out.push_back(parse_clip(whole[i], fmt::format("{}: clip {}", source, i)));
    } else if (whole.is_object()) {
      out.push_back(parse_clip(whole, source + ": clip 0"));
    } else {
      fail("{}: expected a JSON array of clips, a clip object or JSON Lines, found {}", source, type_of(whole));
    }
    return out;
  }
  if (text[first] != '{') fail("{}: not valid JSON: {}", source, parse_error);
  // JSON Lines: one clip a line.
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      fail("{}: line {}: not valid JSON: {}", source, lineno, e.what());
    }
    out.push_back(parse_clip(j, fmt::format("{}: line {} (clip {})", source, lineno, out.size())));
  }
  return out;
}

json clip_to_json(const Clip& c) {
  json j = c.raw.is_object() ? c.raw : json::object();
  j["video_uid"] = c.video_uid;
  j["inferred_goal"] = c.inferred_goal;
  j["dataset"] = c.dataset;
  j["start_frame_idx"] = c.start_frame_idx;
  j["end_frame_idx"] = c.end_frame_idx;
  if (c.fps > 0) j["fps"] = c.fps;
  json dst = json::array();
  for (const auto& s : c.steps)
    dst.push_back({{"type", "step"}, {"id", s.id}, {"name", s.name}, {"start_ts", s.start_ts}, {"end_ts", s.end_ts}});
  j["dst"] = dst;
  const json* raw_conv = (c.raw.is_object() && c.raw.contains("conversation") && c.raw["conversation"].is_array() &&
                          c.raw["conversation"].size() == c.conversation.size())
                             ? &c.raw["conversation"]
                             : nullptr;
  json conv = json::array();
  for (size_t i = 0; i < c.conversation.size(); ++i) {
    const Turn& t = c.conversation[i];
    json tj = (raw_conv && (*raw_conv)[i].is_object()) ? (*raw_conv)[i] : json::object();
    tj["role"] = role_name(t.role);
    if (t.role == Role::DstUpdate) {
      json u = json::array();
      for (const auto& x : t.updates) u.push_back({{"id", x.id}, {"transition", x.transition}});
      tj["content"] = u;
    } else {
      tj["content"] = t.content;
    }
    if (!t.progress.empty()) tj["progress"] = t.progress;
    tj["time"] = t.time;
    tj["start_frame"] = t.start_frame;
    tj["end_frame"] = t.end_frame;
    conv.push_back(tj);
  }
  j["conversation"] = conv;
  return j;
}

std::vector<std::string> step_ids(const Clip& c) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& s : c.steps)
    if (seen.insert(s.id).second) ids.push_back(s.id);
  for (const auto& t : c.conversation)
    for (const auto& u : t.updates)
      if (seen.insert(u.id).second) ids.push_back(u.id);
  return ids;
}

std::map<std::string, StepState> initial_state(const Clip& c, double fps) {
  double f = c.fps > 0 ? c.fps : fps;
  std::map<std::string, StepState> state;
  for (const auto& id : step_ids(c)) state[id] = StepState::NotStarted;
  if (f <= 0) return state;
  double t0 = static_cast<double>(c.start_frame_idx) / f;
  for (const auto& s : c.steps) {
    if (s.end_ts <= t0)
      state[s.id] = StepState::Completed;
    else if (s.start_ts <= t0)
      state[s.id] = StepState::InProgress;
  }
  return state;
}

}  // namespace prospect
