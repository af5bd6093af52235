#include "prospect/data/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "prospect/data/store.h"

namespace prospect {

namespace {
nlohmann::json summary(const std::vector<int64_t>& v) {
  if (v.empty()) return {{"min", 0}, {"mean", 0.0}, {"max", 0}};
  int64_t sum = 0;
  for (auto x : v) sum += x;
  return {{"min", *std::min_element(v.begin(), v.end())},
          {"mean", static_cast<double>(sum) / static_cast<double>(v.size())},
          {"max", *std::max_element(v.begin(), v.end())}};
}
}  // namespace

nlohmann::json inspect_store(const std::string& path) {
  Store store(path);
  const StoreInfo& info = store.info();
  std::map<std::string, int64_t> roles;
  std::vector<int64_t> frames, steps, turns;
  int64_t text_chars = 0, updates = 0, unparsable = 0, n_turns = 0;
  for (int64_t c = 0; c < info.num_clips; ++c) {
    frames.push_back(store.clip_rows(c));
    Clip clip;
    try {
      clip = store.clip(c);
    } catch (const std::exception&) {
      ++unparsable;
      continue;
    }
    steps.push_back(static_cast<int64_t>(step_ids(clip).size()));
    turns.push_back(static_cast<int64_t>(clip.conversation.size()));
    for (const auto& t : clip.conversation) {
      ++roles[role_name(t.role)];
      ++n_turns;
      text_chars += static_cast<int64_t>(t.content.size());
      for (const auto& u : t.updates) {
        ++updates;
        text_chars += static_cast<int64_t>(u.id.size() + u.transition.size() + 4);
      }
    }
  }
  int64_t text_tokens = text_chars / 4 + 3 * n_turns;
  nlohmann::json j;
  j["path"] = path;
  j["version"] = info.version;
  j["dtype"] = info.fp16 ? "float16" : "float32";
  j["embedding_dim"] = info.embedding_dim;
  j["fps"] = info.fps;
  j["feature_model"] = info.feature_model;
  j["clips"] = info.num_clips;
  j["videos"] = info.num_videos;
  j["frames"] = info.num_rows;
  j["hours"] = info.fps > 0 ? static_cast<double>(info.num_rows) / info.fps / 3600.0 : 0.0;
  j["frames_per_clip"] = summary(frames);
  j["turns_per_clip"] = summary(turns);
  j["steps_per_clip"] = summary(steps);
  j["turns"] = roles;
  j["dst_transitions"] = updates;
  j["unparsable_clips"] = unparsable;
  j["text_tokens_estimate"] = text_tokens;
  j["tokens_estimate"] = text_tokens + info.num_rows;  // data.frames = all: one <image> token a frame
  return j;
}

std::string format_inspection(const nlohmann::json& s) {
  auto stat = [](const nlohmann::json& x) {
    return fmt::format("min {} / mean {:.1f} / max {}", x["min"].get<int64_t>(), x["mean"].get<double>(),
                       x["max"].get<int64_t>());
  };
  std::string out;
  out += fmt::format("{}\n", s["path"].get<std::string>());
  out += fmt::format("  embeddings     {} x {} {} ({}), fps {}, version {}\n", s["frames"].get<int64_t>(),
                     s["embedding_dim"].get<int64_t>(), s["dtype"].get<std::string>(),
                     s["feature_model"].get<std::string>(), s["fps"].get<double>(), s["version"].get<int64_t>());
  out += fmt::format("  clips          {} in {} videos ({:.2f} h)\n", s["clips"].get<int64_t>(),
                     s["videos"].get<int64_t>(), s["hours"].get<double>());
  out += fmt::format("  frames/clip    {}\n", stat(s["frames_per_clip"]));
  out += fmt::format("  turns/clip     {}\n", stat(s["turns_per_clip"]));
  out += fmt::format("  steps/clip     {}\n", stat(s["steps_per_clip"]));
  std::string roles;
  for (auto& [k, v] : s["turns"].items()) roles += fmt::format(" {} {},", k, v.get<int64_t>());
  if (!roles.empty()) roles.pop_back();
  out += fmt::format("  turns         {}\n", roles);
  out += fmt::format("  DST transitions {}\n", s["dst_transitions"].get<int64_t>());
  if (s["unparsable_clips"].get<int64_t>() > 0)
    out += fmt::format("  unparsable     {} clips (run validate)\n", s["unparsable_clips"].get<int64_t>());
  out += fmt::format("  tokens         ~{} ({} text + {} frames; ~4 chars a token)\n", s["tokens_estimate"].get<int64_t>(),
                     s["text_tokens_estimate"].get<int64_t>(), s["frames"].get<int64_t>());
  return out;
}

}  // namespace prospect
