// The learnable synthetic dataset (SPEC §1 `prospect_data synth`). Everything a model must predict is
// a function of what it has seen: a DST update and an instruction come exactly when the frames change
// to the next step's prototype; the instruction's wording follows the step's position in the task;
// answers follow from the question and the current state.
#include "prospect/data/synth.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"
#include "prospect/data/store.h"

extern char** environ;

namespace prospect {

const std::vector<SynthTask>& synth_tasks() {
  static const std::vector<SynthTask> tasks = {
      {"make coffee",
       {"grind the beans", "boil the water", "put the filter in the dripper", "add the ground coffee",
        "pour the hot water", "serve the coffee"}},
      {"assemble the shelf",
       {"lay out the panels", "attach the side panels", "insert the shelves", "fix the back panel",
        "tighten the screws"}},
      {"make a salad",
       {"wash the lettuce", "chop the tomatoes", "slice the cucumber", "mix the vegetables", "add the dressing"}},
      {"change the bike tire",
       {"remove the wheel", "take off the old tire", "fit the new tube", "put on the new tire", "inflate the tire",
        "mount the wheel"}},
      {"make pancakes",
       {"crack the eggs", "add the flour", "whisk the batter", "heat the pan", "pour the batter", "flip the pancake",
        "serve the pancakes"}},
      {"repot the plant",
       {"fill the new pot with soil", "take the plant out", "loosen the roots", "place the plant in the pot",
        "water the plant"}},
      {"brew tea", {"boil the water", "put the tea bag in the cup", "pour the water", "remove the tea bag"}},
      {"change the printer cartridge",
       {"open the printer cover", "remove the old cartridge", "unpack the new cartridge", "insert the new cartridge",
        "close the cover", "print a test page", "recycle the old cartridge", "wipe the printer"}},
  };
  return tasks;
}

namespace {

constexpr int kMaxSteps = 8;

std::string instruction_text(const SynthTask& t, int k) {
  int n = static_cast<int>(t.steps.size());
  const std::string& name = t.steps[k];
  if (k == 0) return "Let's " + t.goal + ". First, " + name + ".";
  if (k == n - 1) return "Finally, " + name + ".";
  static const char* lead[] = {"Next, ", "Now ", "Then "};
  return lead[(k - 1) % 3] + name + ".";
}

std::string finished_text(const SynthTask& t) { return "Well done, you have finished: " + t.goal + "."; }

const char* kQuestions[] = {"What is the next step?", "Which step am I on?", "How many steps are left?"};

// The progress summary an assistant turn carries with SynthOptions::progress: k steps of n done.
std::string progress_text(const SynthTask& t, int k) {
  int n = static_cast<int>(t.steps.size());
  if (k >= n) return fmt::format("All {} steps of {} are done.", n, t.goal);
  return fmt::format("{} of {} steps of {} are done; now: {}.", k, n, t.goal, t.steps[k]);
}

std::string answer_text(const SynthTask& t, int k, int q) {
  int n = static_cast<int>(t.steps.size());
  if (q == 0) return k + 1 < n ? "The next step is to " + t.steps[k + 1] + "." : "There is no next step, this is the last one.";
  if (q == 1) return fmt::format("You are on step {} of {}: {}.", k + 1, n, t.steps[k]);
  int r = n - 1 - k;
  if (r == 0) return "None, this is the last step.";
  if (r == 1) return "One step is left after this one.";
  return fmt::format("{} steps are left after this one.", r);
}

std::string system_text(const SynthTask& t) {
  std::string s = "You are a helpful assistant that guides the user through a task. Goal: " + t.goal + ". Steps:";
  for (size_t k = 0; k < t.steps.size(); ++k) s += fmt::format(" S{} {};", k + 1, t.steps[k]);
  s.back() = '.';
  return s;
}

double gauss(Rng& r) {
  double u1 = std::max(r.uniform(), 1e-300), u2 = r.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Prototypes depend only on the seed and the dimension: the same in every split.
struct Prototypes {
  std::vector<std::vector<float>> step;  // [task * kMaxSteps + k][dim]
  std::vector<std::vector<float>> idle;  // [task][dim]
};

Prototypes make_prototypes(const SynthOptions& opt) {
  Rng r(splitmix64(opt.seed ^ 0x5eed0f9707u));
  Prototypes p;
  size_t nt = synth_tasks().size();
  auto vec = [&] {
    std::vector<float> v(opt.dim);
    for (auto& x : v) x = static_cast<float>(gauss(r));
    return v;
  };
  for (size_t t = 0; t < nt * kMaxSteps; ++t) p.step.push_back(vec());
  for (size_t t = 0; t < nt; ++t) p.idle.push_back(vec());
  return p;
}

struct Event {
  int64_t frame;
  Role role;
  std::string text;
  DstTransition update;
  std::string progress = "";  // assistant turns, with SynthOptions::progress
};

SynthVideo make_video(const SynthOptions& opt, const Prototypes& protos, int index) {
  Rng r(splitmix64(opt.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1));
  const auto& tasks = synth_tasks();
  SynthVideo v;
  v.task = static_cast<int>(r.below(tasks.size()));
  v.video_uid = fmt::format("synth{:04d}", index);
  const SynthTask& task = tasks[v.task];
  int n = static_cast<int>(task.steps.size());

  std::vector<int> seg;  // per frame: step index, or -1 for idle
  std::vector<Event> ev;
  std::vector<int64_t> step_start(n), step_end(n);
  auto idle = [&](int k) {
    for (int i = 0; i < k; ++i) seg.push_back(-1);
  };
  auto dst = [&](int64_t f, int k, const char* tr) { ev.push_back({f, Role::DstUpdate, "", {fmt::format("S{}", k + 1), tr}}); };
  idle(2 + static_cast<int>(r.below(4)));
  bool prev_open = false;
  for (int k = 0; k < n; ++k) {
    int64_t s = static_cast<int64_t>(seg.size());
    // One moment, several turns: complete the previous step, start this one, then the instruction.
    if (prev_open) {
      dst(s, k - 1, "complete");
      step_end[k - 1] = s;
    }
    dst(s, k, "start");
    ev.push_back({s, Role::Assistant, instruction_text(task, k), {}, opt.progress ? progress_text(task, k) : ""});
    step_start[k] = s;
    int d = 12 + static_cast<int>(r.below(19));
    if (r.uniform() < opt.question_rate) {
      int64_t qf = s + 3 + static_cast<int64_t>(r.below(d - 6));
      int q = static_cast<int>(r.below(3));
      ev.push_back({qf, Role::User, kQuestions[q], {}});
      ev.push_back({qf, Role::Assistant, answer_text(task, k, q), {}, opt.progress ? progress_text(task, k) : ""});
    }
    for (int i = 0; i < d; ++i) seg.push_back(k);
    prev_open = true;
    if (k + 1 < n && r.uniform() < 0.4) {  // a pause: the step completes as the hands go idle
      int64_t f = static_cast<int64_t>(seg.size());
      dst(f, k, "complete");
      step_end[k] = f;
      prev_open = false;
      idle(2 + static_cast<int>(r.below(4)));
    }
  }
  int64_t f_end = static_cast<int64_t>(seg.size());
  dst(f_end, n - 1, "complete");
  step_end[n - 1] = f_end;
  ev.push_back({f_end, Role::Assistant, finished_text(task), {}, opt.progress ? progress_text(task, n) : ""});
  idle(3 + static_cast<int>(r.below(4)));
  int64_t T = static_cast<int64_t>(seg.size());

  // Frames: prototype of the segment, two blended frames before each change, a per-video offset, noise.
  int D = opt.dim;
  auto proto = [&](int s) -> const std::vector<float>& {
    return s < 0 ? protos.idle[v.task] : protos.step[v.task * kMaxSteps + s];
  };
  std::vector<float> offset(D);
  for (auto& x : offset) x = static_cast<float>(0.2 * gauss(r));
  std::vector<float> rows(static_cast<size_t>(T) * D);
  for (int64_t i = 0; i < T; ++i) {
    const auto& a = proto(seg[i]);
    // blend toward the next segment when it starts within 2 frames
    float w = 0;
    const std::vector<float>* b = nullptr;
    for (int j = 1; j <= 2; ++j) {
      if (i + j < T && seg[i + j] != seg[i]) {
        bool same = true;
        for (int m = 1; m < j; ++m) same = same && seg[i + m] == seg[i];
        if (same) {
          b = &proto(seg[i + j]);
          w = j == 1 ? 2.0f / 3.0f : 1.0f / 3.0f;
        }
        break;
      }
    }
    for (int d = 0; d < D; ++d) {
      float x = a[d];
      if (b) x = (1 - w) * a[d] + w * (*b)[d];
      rows[i * D + d] = x + offset[d] + static_cast<float>(opt.noise * gauss(r));
    }
  }

  // Clips: long videos split in two at a frame without turns.
  std::set<int64_t> turn_frames;
  for (const auto& e : ev) turn_frames.insert(e.frame);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  if (T >= 110) {
    int64_t mid = T / 2 + static_cast<int64_t>(r.below(T / 5 + 1)) - T / 10, m = -1;
    for (int64_t delta = 0; delta < T / 4 && m < 0; ++delta) {
      if (!turn_frames.count(mid + delta)) m = mid + delta;
      else if (!turn_frames.count(mid - delta)) m = mid - delta;
    }
    if (m > 0) {
      ranges.push_back({0, m - 1});
      ranges.push_back({m, T - 1});
    }
  }
  if (ranges.empty()) ranges.push_back({0, T - 1});

  for (auto [a, b] : ranges) {
    Clip c;
    c.video_uid = v.video_uid;
    c.inferred_goal = task.goal;
    c.dataset = "synthetic";
    c.start_frame_idx = a;
    c.end_frame_idx = b;
    c.fps = opt.fps;
    for (int k = 0; k < n; ++k)
      c.steps.push_back({fmt::format("S{}", k + 1), task.steps[k], step_start[k] / opt.fps, step_end[k] / opt.fps});
    Turn sys;
    sys.role = Role::System;
    sys.content = system_text(task);
    sys.time = 0;
    sys.start_frame = 0;  // as public data writes it: outside the clip, ignored
    sys.end_frame = 1;
    c.conversation.push_back(sys);
    for (const auto& e : ev) {
      if (e.frame < a || e.frame > b) continue;
      Turn t;
      t.role = e.role;
      t.content = e.text;
      if (e.role == Role::DstUpdate) t.updates.push_back(e.update);
      t.progress = e.progress;
      t.time = e.frame / opt.fps;
      t.start_frame = t.end_frame = e.frame;
      c.conversation.push_back(t);
    }
    v.clips.push_back(c);
    v.rows.emplace_back(rows.begin() + a * D, rows.begin() + (b + 1) * D);
  }
  return v;
}

// Every text a template can render, so the tokenizer covers every split.
std::vector<std::string> template_lines(bool progress) {
  std::vector<std::string> lines;
  if (progress) lines.push_back("Please summarize the progress.");
  for (const auto& t : synth_tasks()) {
    if (progress) {
      for (int k = 0; k <= static_cast<int>(t.steps.size()); ++k) lines.push_back(progress_text(t, k));
    }
    lines.push_back(system_text(t));
    lines.push_back(finished_text(t));
    for (int k = 0; k < static_cast<int>(t.steps.size()); ++k) {
      lines.push_back(instruction_text(t, k));
      for (int q = 0; q < 3; ++q) lines.push_back(answer_text(t, k, q));
    }
  }
  for (const char* q : kQuestions) lines.push_back(q);
  // Headers, DST renderings and state turns of both chat templates' plain form.
  for (const char* h : {"System: ", "User: ", "Assistant: ", "Dst: ", "State: ", "system", "user", "assistant", "dst"})
    lines.push_back(h);
  const char* states[] = {"not_started", "in_progress", "completed"};
  for (int k = 1; k <= kMaxSteps; ++k) {
    lines.push_back(fmt::format("S{}->start", k));
    lines.push_back(fmt::format("S{}->complete", k));
    lines.push_back(fmt::format("S{}->complete, S{}->start", k, k + 1));
    std::string st = "Current step states:";
    for (int j = 1; j <= kMaxSteps; ++j) st += fmt::format(" S{} {},", j, states[(j + k) % 3]);
    st.pop_back();
    lines.push_back(st);
  }
  return lines;
}

}  // namespace

SynthVideo synth_video(const SynthOptions& opt, int index) { return make_video(opt, make_prototypes(opt), index); }

namespace {
// The helper program prospect_spm_train: $PROSPECT_SPM_TRAIN, else next to this program (or one
// folder up, for test binaries under build/tests/...), else Debian's spm_train on PATH.
std::string spm_train_program() {
  if (const char* env = std::getenv("PROSPECT_SPM_TRAIN"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = self.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      auto p = dir / "prospect_spm_train";
      if (std::filesystem::exists(p, ec)) return p.string();
    }
  }
  return "spm_train";
}

int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

void train_sentencepiece(const std::vector<std::string>& lines, const std::string& model_prefix, int vocab_size) {
  std::string corpus = model_prefix + ".corpus.txt";
  {
    std::ofstream f(corpus);
    if (!f) fail("{}: cannot write", corpus);
    for (const auto& l : lines) f << l << "\n";
  }
  std::vector<std::string> args = {
      spm_train_program(), "--input=" + corpus, "--model_prefix=" + model_prefix,
      fmt::format("--vocab_size={}", vocab_size), "--model_type=unigram", "--character_coverage=1.0",
      "--user_defined_symbols=<|eot|>", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=3",
      // identity + no whitespace folding + byte fallback: decode(encode(text)) == text
      "--normalization_rule_name=identity", "--add_dummy_prefix=false", "--remove_extra_whitespaces=false",
      "--byte_fallback=true", "--split_digits=true", "--hard_vocab_limit=false",
      "--num_threads=1",  // deterministic
      "--minloglevel=2"};
  int rc = run_program(args);
  std::filesystem::remove(corpus);
  if (rc != 0) fail("{}: SentencePiece training failed ({} exited with {})", model_prefix, args[0], rc);
}

SynthSummary synth_dataset(const SynthOptions& opt) {
  if (opt.videos < 3) usage_fail("--videos: expected at least 3 (train, val and test need one each), found {}", opt.videos);
  if (opt.dim < 1) usage_fail("--dim: expected >= 1, found {}", opt.dim);
  if (opt.fps <= 0) usage_fail("--fps: expected > 0, found {}", opt.fps);
  std::filesystem::create_directories(opt.out);
  Prototypes protos = make_prototypes(opt);
  const char* names[3] = {"train", "val", "test"};
  SynthSummary sum;
  {
    std::unique_ptr<StoreWriter> writers[3];
    nlohmann::json clip_json[3];
    for (int s = 0; s < 3; ++s) {
      writers[s] = std::make_unique<StoreWriter>(fmt::format("{}/{}.h5", opt.out, names[s]), opt.dim, opt.fps,
                                                 "synthetic-prototypes", opt.fp16);
      clip_json[s] = nlohmann::json::array();
    }
    std::vector<std::string> lines = template_lines(opt.progress);
    for (int i = 0; i < opt.videos; ++i) {
      int s = i % 8 == 0 ? 2 : i % 8 == 1 ? 1 : 0;  // disjoint videos: 1/8 test, 1/8 val
      SynthVideo v = make_video(opt, protos, i);
      ++sum.videos[s];
      for (size_t c = 0; c < v.clips.size(); ++c) {
        const Clip& clip = v.clips[c];
        writers[s]->add_clip(clip, v.rows[c].data(), clip.num_frames());
        clip_json[s].push_back(clip_to_json(clip));
        ++sum.clips[s];
        sum.frames[s] += clip.num_frames();
        if (s == 0)
          for (const auto& t : clip.conversation)
            if (!t.content.empty()) lines.push_back(t.content);
      }
    }
    for (int s = 0; s < 3; ++s) {
      writers[s]->close();
      std::ofstream f(fmt::format("{}/{}.json", opt.out, names[s]));
      f << clip_json[s].dump(1) << "\n";
    }
    if (opt.tokenizer) train_sentencepiece(lines, opt.out + "/tokenizer", opt.vocab_size);
  }
  return sum;
}

}  // namespace prospect
