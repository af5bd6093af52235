// Every check of SPEC §2.2's validate paragraph; each defect is one Problem.
#include "prospect/data/validate.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "prospect/core/error.h"
#include "prospect/data/store.h"

namespace prospect {

std::string format_problem(const Problem& p, const std::string& path) {
  std::string s = p.severity == Severity::Error ? "error: " : "warning: ";
  if (!path.empty()) s += path + ": ";
  if (!p.clip_id.empty())
    s += "clip " + p.clip_id + " ";
  else if (p.clip >= 0)
    s += fmt::format("clip #{} ", p.clip);
  if (p.turn >= 0) s += fmt::format("turn {} ", p.turn);
  if (!p.field.empty()) s += p.field + ": ";
  if (!p.expected.empty() || !p.found.empty()) s += fmt::format("expected {}, found {}: ", p.expected, p.found);
  s += p.message;
  return s;
}

namespace {

struct Collector {
  std::vector<Problem>& out;
  std::string clip_id;
  int64_t clip;
  void add(Severity sev, int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    out.push_back(Problem{sev, clip_id, clip, turn, std::move(field), std::move(expected), std::move(found), std::move(msg)});
  }
  void error(int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    add(Severity::Error, turn, std::move(field), std::move(expected), std::move(found), std::move(msg));
  }
  void warning(int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    add(Severity::Warning, turn, std::move(field), std::move(expected), std::move(found), std::move(msg));
  }
};

}  // namespace

std::vector<Problem> validate_clip(const Store& store, int64_t c, bool check_values) {
  std::vector<Problem> out;
  Collector col{out, "", c};
  // Schema: parse_clip names the field; the message is kept whole.
  Clip clip;
  try {
    nlohmann::json j = nlohmann::json::parse(store.clip_json(c));
    if (j.is_object() && j.contains("video_uid") && j["video_uid"].is_string() && j.contains("start_frame_idx") &&
        j["start_frame_idx"].is_number())
      col.clip_id = j["video_uid"].get<std::string>() + ":" + std::to_string(j["start_frame_idx"].get<int64_t>());
    clip = parse_clip(j, fmt::format("clip #{}", c));
  } catch (const nlohmann::json::exception& e) {
    col.error(-1, "json", "a clip object (SPEC §2.1)", "invalid JSON", e.what());
    return out;
  } catch (const Error& e) {
    col.error(-1, "json", "", "", fmt::format("schema: {}", e.what()));
    return out;
  }
  col.clip_id = clip.id();

  // The clip's video vs the store's index.
  const std::string& vuid = store.video_uids()[store.clip_video(c)];
  if (vuid != clip.video_uid)
    col.error(-1, "video_uid", vuid, clip.video_uid, "the clip's video_uid differs from /video_uids[/clip_video]");

  double fps = clip.fps > 0 ? clip.fps : store.fps();
  if (fps <= 0) col.error(-1, "fps", "> 0", fmt::format("{}", fps), "no frame rate in the clip or the store");
  if (clip.fps > 0 && store.fps() > 0 && std::abs(clip.fps - store.fps()) > 1e-9)
    col.warning(-1, "fps", fmt::format("{}", store.fps()), fmt::format("{}", clip.fps),
                "the clip's fps differs from the store's (the clip's is used)");

  // Frames and rows.
  int64_t frames = clip.num_frames();
  int64_t rows = store.clip_rows(c);
  if (frames <= 0) {
    col.error(-1, "end_frame_idx", fmt::format(">= start_frame_idx ({})", clip.start_frame_idx),
              std::to_string(clip.end_frame_idx), "empty clip (no frames)");
  } else if (rows == 0) {
    col.error(-1, "rows", std::to_string(frames), "0", "empty clip (no stored rows)");
  } else if (rows != frames) {
    col.error(-1, "rows", fmt::format("{} (frames {}..{})", frames, clip.start_frame_idx, clip.end_frame_idx),
              std::to_string(rows), "stored rows differ from the clip's frame range");
  }
  int64_t stored_last = clip.start_frame_idx + rows - 1;

  // Turns: frame ranges, order.
  int n_turns = 0;
  double last_time = -INFINITY;
  int64_t last_end = INT64_MIN;
  for (size_t i = 0; i < clip.conversation.size(); ++i) {
    const Turn& t = clip.conversation[i];
    if (!has_frames(t)) continue;
    ++n_turns;
    int64_t ti = static_cast<int64_t>(i);
    std::string range = fmt::format("{}..{}", clip.start_frame_idx, clip.end_frame_idx);
    if (t.start_frame > t.end_frame)
      col.error(ti, "start_frame", fmt::format("<= end_frame ({})", t.end_frame), std::to_string(t.start_frame),
                "turn frame range is reversed");
    if (t.end_frame < clip.start_frame_idx || t.end_frame > clip.end_frame_idx)
      col.error(ti, "end_frame", range, std::to_string(t.end_frame), "turn frame outside the clip");
    else if (t.end_frame > stored_last && rows > 0 && rows != frames)
      col.error(ti, "end_frame", fmt::format("<= {} (stored rows)", stored_last), std::to_string(t.end_frame),
                "turn frame outside the stored rows");
    if (t.start_frame < clip.start_frame_idx || t.start_frame > clip.end_frame_idx)
      col.error(ti, "start_frame", range, std::to_string(t.start_frame), "turn frame outside the clip");
    if (t.time < last_time)
      col.error(ti, "time", fmt::format(">= {}", last_time), fmt::format("{}", t.time), "turns out of time order");
    if (t.end_frame < last_end)
      col.error(ti, "end_frame", fmt::format(">= {}", last_end), std::to_string(t.end_frame),
                "turns out of frame order");
    last_time = std::max(last_time, t.time);
    last_end = std::max(last_end, t.end_frame);
  }
  if (n_turns == 0) col.warning(-1, "conversation", "at least one turn", "none", "a clip without turns teaches nothing");

  // Steps and transitions.
  std::map<std::string, int> in_dst;
  for (const auto& s : clip.steps) {
    if (in_dst[s.id]++)
      col.warning(-1, "dst", "unique step ids", s.id, "step id listed twice in dst");
    if (s.end_ts < s.start_ts)
      col.warning(-1, "dst", fmt::format("end_ts >= start_ts ({})", s.start_ts), fmt::format("{}", s.end_ts),
                  "step " + s.id + " ends before it starts");
  }
  auto state = initial_state(clip, fps > 0 ? fps : 1.0);
  std::map<std::string, bool> warned_unlisted;
  for (size_t i = 0; i < clip.conversation.size(); ++i) {
    const Turn& t = clip.conversation[i];
    int64_t ti = static_cast<int64_t>(i);
    for (const auto& u : t.updates) {
      if (!in_dst.count(u.id) && !warned_unlisted[u.id]) {
        warned_unlisted[u.id] = true;
        col.warning(ti, "id", "a step id in dst", u.id, "step named only by a DST_UPDATE");
      }
      std::string from = state.count(u.id) ? state_name(state[u.id]) : "?";
      switch (classify_transition(state, u)) {
        case TransitionKind::Legal: apply_transition(state, u); break;
        case TransitionKind::AlreadyInEffect:
          col.warning(ti, "transition", "a change of state", fmt::format("{} {} while {}", u.id, u.transition, from),
                      "transition already in effect");
          break;
        case TransitionKind::Backward:
          col.error(ti, "transition", "not_started->in_progress->completed",
                    fmt::format("{} {} while {}", u.id, u.transition, from), "transition goes back");
          break;
        case TransitionKind::UnknownStep:
          col.error(ti, "id", "a known step", u.id, "unknown step");
          break;
        case TransitionKind::BadName:
          col.error(ti, "transition", "start|complete", u.transition, "unknown transition");
          break;
      }
    }
  }

  // Values.
  if (check_values && rows > 0) {
    std::vector<float> v = store.read_clip(c);
    int64_t D = store.embedding_dim();
    int64_t bad = 0, first_bad = -1;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t d = 0; d < D; ++d) {
        if (!std::isfinite(v[r * D + d])) {
          if (first_bad < 0) first_bad = r;
          ++bad;
          break;
        }
      }
    }
    if (bad)
      col.error(-1, "embeddings", "finite values", fmt::format("{} rows with NaN/Inf", bad),
                fmt::format("first at frame {} (row {})", clip.start_frame_idx + first_bad,
                            store.clip_offsets()[c] + first_bad));
  }
  return out;
}

ValidationReport validate_store(const std::string& path, const ValidateOptions& opt) {
  ValidationReport rep;
  rep.path = path;
  auto file_error = [&](std::string field, std::string expected, std::string found, std::string msg) {
    rep.problems.push_back(Problem{Severity::Error, "", -1, -1, std::move(field), std::move(expected), std::move(found),
                                   std::move(msg)});
  };
  std::unique_ptr<Store> store;
  try {
    store = std::make_unique<Store>(path);
  } catch (const std::exception& e) {
    file_error("store", "", "", fmt::format("not a readable prospect store: {}", e.what()));
  }
  if (store) {
    rep.readable = true;
    const StoreInfo& info = store->info();
    rep.clips = info.num_clips;
    if (info.embedding_dim_attr != info.embedding_dim)
      file_error("embedding_dim", std::to_string(info.embedding_dim) + " (the shape of /embeddings)",
                 std::to_string(info.embedding_dim_attr), "the embedding_dim attribute disagrees with the data");
    if (opt.expected_dim > 0 && opt.expected_dim != info.embedding_dim)
      file_error("embedding_dim", std::to_string(opt.expected_dim) + " (model.feature_dim)",
                 std::to_string(info.embedding_dim), "the store's embeddings do not fit the configured model");
    if (info.num_clips == 0)
      rep.problems.push_back(Problem{Severity::Warning, "", -1, -1, "clips", "at least one clip", "0", "empty store"});
    std::map<std::string, int64_t> seen;
    for (int64_t c = 0; c < info.num_clips; ++c) {
      std::vector<Problem> ps;
      try {
        ps = validate_clip(*store, c, opt.check_values);
      } catch (const std::exception& e) {
        ps.push_back(Problem{Severity::Error, "", c, -1, "store", "", "", e.what()});
      }
      std::string id;
      try {
        id = store->clip(c).id();
      } catch (const std::exception&) {
      }
      if (!id.empty()) {
        auto [it, fresh] = seen.emplace(id, c);
        if (!fresh)
          ps.push_back(Problem{Severity::Warning, id, c, -1, "clip id", "unique", id,
                               fmt::format("same clip id as clip #{}", it->second)});
      }
      for (auto& p : ps) rep.problems.push_back(std::move(p));
    }
  }
  for (const auto& p : rep.problems) {
    if (p.severity == Severity::Error) {
      ++rep.errors;
      if (p.clip >= 0) rep.bad_clips.insert(p.clip);
    } else {
      ++rep.warnings;
    }
  }
  return rep;
}

}  // namespace prospect
