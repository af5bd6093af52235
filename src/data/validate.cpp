// Every check of SPEC §2.2's validate paragraph; each defect is one Problem. Optionally in a child
// process, which reports each clip's problems as one JSON line as soon as the clip is done.
#include "prospect/data/validate.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "prospect/core/child.h"
#include "prospect/core/error.h"
#include "prospect/data/store.h"

namespace prospect {

std::string format_problem(const Problem& p, const std::string& path) {
  std::string s = p.severity == Severity::Error ? "error: " : "warning: ";
  if (!path.empty()) s += path + ": ";
  if (!p.clip_id.empty())
    s += "clip " + p.clip_id + " ";
  else if (p.clip >= 0)
    s += fmt::format("clip #{} ", p.clip) + (p.video_uid.empty() ? "" : "of video " + p.video_uid + " ");
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
  std::string video_uid;  // named while clip_id is unknown (the clip's JSON cannot be read)
  void add(Severity sev, int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    out.push_back(Problem{sev, clip_id, clip, turn, std::move(field), std::move(expected), std::move(found),
                          std::move(msg), clip_id.empty() ? video_uid : ""});
  }
  void error(int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    add(Severity::Error, turn, std::move(field), std::move(expected), std::move(found), std::move(msg));
  }
  void warning(int64_t turn, std::string field, std::string expected, std::string found, std::string msg) {
    add(Severity::Warning, turn, std::move(field), std::move(expected), std::move(found), std::move(msg));
  }
};

}  // namespace

int64_t first_non_finite_row(const float* rows, int64_t n, int64_t dim) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < dim; ++d)
      if (!std::isfinite(rows[r * dim + d])) return r;
  return -1;
}

std::vector<Problem> validate_clip(const Store& store, int64_t c, bool check_values) {
  std::vector<Problem> out;
  Collector col{out, "", c, store.clip_video_uid(c)};
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

namespace {

// Errors, warnings and bad clips from the problems.
void count(ValidationReport& rep) {
  rep.errors = rep.warnings = 0;
  rep.bad_clips.clear();
  for (const auto& p : rep.problems) {
    if (p.severity == Severity::Error) {
      ++rep.errors;
      if (p.clip >= 0) rep.bad_clips.insert(p.clip);
    } else {
      ++rep.warnings;
    }
  }
}

Problem file_problem(std::string field, std::string expected, std::string found, std::string msg,
                     Severity severity = Severity::Error) {
  return Problem{severity, "", -1, -1, std::move(field), std::move(expected), std::move(found), std::move(msg), ""};
}

// The checks in this process. after_step runs once the file is open (or found unreadable) and after
// every clip: the isolated run reports progress from there.
ValidationReport validate_here(const std::string& path, const ValidateOptions& opt,
                               const std::function<void(const ValidationReport&)>& after_step) {
  ValidationReport rep;
  rep.path = path;
  std::unique_ptr<Store> store;
  try {
    store = std::make_unique<Store>(path);
  } catch (const std::exception& e) {
    rep.problems.push_back(file_problem("store", "", "", fmt::format("not a readable prospect store: {}", e.what())));
  }
  if (store) {
    rep.readable = true;
    const StoreInfo& info = store->info();
    rep.clips = info.num_clips;
    if (info.embedding_dim_attr != info.embedding_dim)
      rep.problems.push_back(file_problem("embedding_dim", std::to_string(info.embedding_dim) + " (the shape of /embeddings)",
                                          std::to_string(info.embedding_dim_attr),
                                          "the embedding_dim attribute disagrees with the data"));
    if (opt.expected_dim > 0 && opt.expected_dim != info.embedding_dim)
      rep.problems.push_back(file_problem("embedding_dim", std::to_string(opt.expected_dim) + " (model.feature_dim)",
                                          std::to_string(info.embedding_dim),
                                          "the store's embeddings do not fit the configured model"));
    if (info.version < kStoreVersion)
      rep.problems.push_back(file_problem("version", std::to_string(kStoreVersion), std::to_string(info.version),
                                          "an old store: its texts are variable-length strings, which the HDF5 library "
                                          "reads without checks; rebuild it (prospect_data build, "
                                          "tools/convert_prospect.py) for a checksummed one",
                                          Severity::Warning));
    if (info.num_clips == 0)
      rep.problems.push_back(file_problem("clips", "at least one clip", "0", "empty store", Severity::Warning));
  }
  if (after_step) after_step(rep);
  if (!store) return rep;
  std::map<std::string, int64_t> seen;
  for (int64_t c = 0; c < store->num_clips(); ++c) {
    std::vector<Problem> ps;
    try {
      ps = validate_clip(*store, c, opt.check_values);
    } catch (const std::exception& e) {
      ps.push_back(Problem{Severity::Error, "", c, -1, "store", "", "", e.what(), store->clip_video_uid(c)});
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
                             fmt::format("same clip id as clip #{}", it->second), ""});
    }
    for (auto& p : ps) rep.problems.push_back(std::move(p));
    if (after_step) after_step(rep);
  }
  return rep;
}

nlohmann::json problem_json(const Problem& p) {
  return {{"error", p.severity == Severity::Error}, {"clip_id", p.clip_id}, {"clip", p.clip}, {"turn", p.turn},
          {"field", p.field}, {"expected", p.expected}, {"found", p.found}, {"message", p.message},
          {"video_uid", p.video_uid}};
}

Problem problem_from_json(const nlohmann::json& j) {
  return Problem{j.at("error").get<bool>() ? Severity::Error : Severity::Warning,
                 j.at("clip_id").get<std::string>(),
                 j.at("clip").get<int64_t>(),
                 j.at("turn").get<int64_t>(),
                 j.at("field").get<std::string>(),
                 j.at("expected").get<std::string>(),
                 j.at("found").get<std::string>(),
                 j.at("message").get<std::string>(),
                 j.at("video_uid").get<std::string>()};
}

// The child writes one JSON line per step: {"readable", "clips", "checked", "problems": [new ones]},
// and {"done": true} at the end. The parent rebuilds the report from the lines it got.
ValidationReport validate_isolated(const std::string& path, const ValidateOptions& opt) {
  ChildOutcome out = run_in_child(
      [&](int fd) {
        size_t sent = 0;
        int64_t checked = -1;  // clips done; -1 before the file is open
        validate_here(path, opt, [&](const ValidationReport& rep) {
          nlohmann::json line = {{"readable", rep.readable}, {"clips", rep.clips}, {"checked", ++checked},
                                 {"problems", nlohmann::json::array()}};
          for (; sent < rep.problems.size(); ++sent) line["problems"].push_back(problem_json(rep.problems[sent]));
          write_all(fd, line.dump() + "\n");
        });
        write_all(fd, "{\"done\": true}\n");
      },
      opt.stall_timeout_s);
  ValidationReport rep;
  rep.path = path;
  bool done = false, garbled = false;
  int64_t checked = -1;
  size_t start = 0;
  for (size_t end; !garbled && (end = out.output.find('\n', start)) != std::string::npos; start = end + 1) {
    try {
      nlohmann::json line = nlohmann::json::parse(out.output.substr(start, end - start));
      if (line.value("done", false)) {
        done = true;
        continue;
      }
      rep.readable = line.at("readable").get<bool>();
      rep.clips = line.at("clips").get<int64_t>();
      checked = line.at("checked").get<int64_t>();
      for (const auto& p : line.at("problems")) rep.problems.push_back(problem_from_json(p));
    } catch (const nlohmann::json::exception&) {
      garbled = true;  // what a child with damaged memory may write: the outcome says the rest
    }
  }
  if (!done || garbled || !out.completed) {
    std::string where = checked < 0 ? "while opening the file"
                                    : fmt::format("after {} of {} clips", checked, rep.clips);
    std::string why = out.stalled     ? fmt::format("made no progress for {} s and was stopped", opt.stall_timeout_s)
                      : !out.completed ? out.what()
                                       : "wrote a report that does not parse";
    rep.problems.push_back(file_problem(
        "store", "", "",
        fmt::format("the validating process {} {}: the file is damaged in a way the HDF5 library cannot read safely",
                    why, where)));
  }
  return rep;
}

}  // namespace

ValidationReport validate_store(const std::string& path, const ValidateOptions& opt) {
  ValidationReport rep = opt.isolate ? validate_isolated(path, opt) : validate_here(path, opt, nullptr);
  count(rep);
  return rep;
}

}  // namespace prospect
