#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_util.h"
#include "tiny_store.h"
#include "prospect/data/synth.h"
#include "prospect/data/validate.h"

using namespace prospect;
using namespace prospect::test;

namespace {
SynthOptions small(const std::string& dir, uint64_t seed = 3) {
  SynthOptions o;
  o.out = dir;
  o.videos = 24;
  o.seed = seed;
  return o;
}
}  // namespace

TEST(Synth, SplitsAreValidDisjointAndInSchema) {
  std::string dir = fresh_dir("data_synth");
  SynthSummary sum = synth_dataset(small(dir));
  EXPECT_EQ(sum.videos[0] + sum.videos[1] + sum.videos[2], 24);
  std::set<std::string> videos[3];
  const char* names[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; ++s) {
    std::string path = dir + "/" + names[s] + ".h5";
    ValidationReport rep = validate_store(path);
    EXPECT_EQ(rep.errors, 0) << (rep.problems.empty() ? "" : format_problem(rep.problems[0], path));
    EXPECT_EQ(rep.warnings, 0) << (rep.problems.empty() ? "" : format_problem(rep.problems[0], path));
    Store st(path);
    EXPECT_EQ(st.num_clips(), sum.clips[s]);
    EXPECT_EQ(st.embedding_dim(), 64);
    for (const auto& v : st.video_uids()) videos[s].insert(v);
    // The JSON written next to the store holds the same clips.
    auto clips = parse_clips(read_text(dir + "/" + names[s] + ".json"), names[s]);
    ASSERT_EQ(static_cast<int64_t>(clips.size()), st.num_clips());
    for (int64_t c = 0; c < st.num_clips(); ++c) EXPECT_EQ(clips[c].id(), st.clip(c).id());
  }
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (const auto& v : videos[a]) EXPECT_EQ(videos[b].count(v), 0u) << v << " in two splits";
}

TEST(Synth, TurnsSharingAFrameAreInStreamOrder) {
  // user, then DST_UPDATE, then assistant; clips 60-150 frames; every step has an instruction.
  for (int i = 0; i < 20; ++i) {
    SynthVideo v = synth_video(small(""), i);
    for (const auto& c : v.clips) {
      EXPECT_GE(c.num_frames(), 40);
      EXPECT_LE(c.num_frames(), 160);
      EXPECT_EQ(c.conversation[0].role, Role::System);
      for (size_t t = 2; t < c.conversation.size(); ++t) {
        const Turn& a = c.conversation[t - 1];
        const Turn& b = c.conversation[t];
        if (a.end_frame != b.end_frame) continue;
        auto rank = [](Role r) { return r == Role::User ? 0 : r == Role::DstUpdate ? 1 : 2; };
        EXPECT_LE(rank(a.role), rank(b.role)) << c.id() << " turn " << t;
      }
    }
  }
}

TEST(Synth, DeterministicForASeed) {
  SynthVideo a = synth_video(small("", 5), 7), b = synth_video(small("", 5), 7), c = synth_video(small("", 6), 7);
  ASSERT_EQ(a.clips.size(), b.clips.size());
  for (size_t i = 0; i < a.clips.size(); ++i) {
    EXPECT_EQ(clip_to_json(a.clips[i]), clip_to_json(b.clips[i]));
    EXPECT_EQ(a.rows[i], b.rows[i]);
  }
  EXPECT_NE(a.rows[0], c.rows[0]);
  std::string d1 = fresh_dir("data_det1"), d2 = fresh_dir("data_det2");
  synth_dataset(small(d1));
  synth_dataset(small(d2));
  EXPECT_EQ(read_text(d1 + "/train.json"), read_text(d2 + "/train.json"));
  EXPECT_EQ(read_text(d1 + "/tokenizer.vocab"), read_text(d2 + "/tokenizer.vocab"));  // the .model records its paths
  EXPECT_EQ(Store(d1 + "/test.h5").read_clip(0), Store(d2 + "/test.h5").read_clip(0));
}

TEST(Synth, AnyDimension) {
  SynthOptions o = small(fresh_dir("data_dim7"));
  o.dim = 7;
  o.tokenizer = false;
  o.fp16 = false;
  synth_dataset(o);
  Store s(o.out + "/val.h5");
  EXPECT_EQ(s.embedding_dim(), 7);
  EXPECT_FALSE(s.info().fp16);
  EXPECT_EQ(validate_store(o.out + "/val.h5").errors, 0);
}

// Checked with Debian's spm_encode/spm_decode: a program that loads libprotobuf first (all of ours)
// cannot use libsentencepiece's protobuf-lite code in-process.
TEST(Synth, TokenizerRoundTripsTheTextAndHasTheSpecialTokens) {
  if (run_program("command -v spm_encode").code != 0) GTEST_SKIP() << "spm_encode not installed";
  std::string dir = fresh_dir("data_tok");
  synth_dataset(small(dir));
  std::istringstream vocab(read_text(dir + "/tokenizer.vocab"));
  std::vector<std::string> pieces;
  for (std::string line; std::getline(vocab, line);) pieces.push_back(line.substr(0, line.find('\t')));
  ASSERT_GE(pieces.size(), 300u);
  EXPECT_LE(pieces.size(), 1000u);
  EXPECT_EQ(pieces[0], "<unk>");
  EXPECT_EQ(pieces[1], "<s>");   // BOS 1
  EXPECT_EQ(pieces[2], "</s>");  // EOS 2
  EXPECT_EQ(pieces[4], "<|eot|>");
  // Every turn of a split the tokenizer was not trained on, plus template strings, round-trip.
  std::string texts;
  Store st(dir + "/test.h5");
  for (int64_t c = 0; c < st.num_clips(); ++c)
    for (const auto& t : st.clip(c).conversation)
      if (!t.content.empty()) texts += t.content + "\n";
  texts += "S3->complete, S4->start\nCurrent step states: S1 completed, S2 in_progress\nAssistant: \ntwo  spaces\n";
  std::ofstream(dir + "/texts.txt") << texts;
  std::string m = " --model=" + dir + "/tokenizer.model";
  auto enc = run_program("spm_encode" + m + " --output_format=id < " + dir + "/texts.txt > " + dir + "/ids.txt");
  ASSERT_EQ(enc.code, 0) << enc.output;
  auto dec = run_program("spm_decode" + m + " --input_format=id < " + dir + "/ids.txt > " + dir + "/back.txt");
  ASSERT_EQ(dec.code, 0) << dec.output;
  EXPECT_EQ(read_text(dir + "/back.txt"), texts);
  std::ofstream(dir + "/eot.txt") << "Now pour.<|eot|>\n";
  auto p = run_program("spm_encode" + m + " --output_format=piece < " + dir + "/eot.txt");
  EXPECT_NE(p.output.find(" <|eot|>"), std::string::npos) << p.output;
}

// The frames carry the step: a nearest-centroid classifier fitted on some videos names the step of
// held-out frames (away from transitions) almost always. A model has at least this much to go on.
TEST(Synth, FramesIdentifyTheStep) {
  SynthOptions o = small("");
  auto step_at = [](const Clip& c, int64_t f) -> int {
    for (size_t k = 0; k < c.steps.size(); ++k)
      if (f >= static_cast<int64_t>(c.steps[k].start_ts * c.fps + 0.5) + 1 &&
          f < static_cast<int64_t>(c.steps[k].end_ts * c.fps + 0.5) - 2)
        return static_cast<int>(k);
    return -1;
  };
  std::map<std::pair<int, int>, std::vector<double>> sum;
  std::map<std::pair<int, int>, int> count;
  for (int i = 0; i < 40; ++i) {
    SynthVideo v = synth_video(o, i);
    for (size_t c = 0; c < v.clips.size(); ++c)
      for (int64_t f = v.clips[c].start_frame_idx; f <= v.clips[c].end_frame_idx; ++f) {
        int k = step_at(v.clips[c], f);
        if (k < 0) continue;
        auto& s = sum[{v.task, k}];
        s.resize(o.dim, 0.0);
        const float* row = &v.rows[c][(f - v.clips[c].start_frame_idx) * o.dim];
        for (int d = 0; d < o.dim; ++d) s[d] += row[d];
        ++count[{v.task, k}];
      }
  }
  int right = 0, total = 0;
  for (int i = 40; i < 60; ++i) {
    SynthVideo v = synth_video(o, i);
    for (size_t c = 0; c < v.clips.size(); ++c)
      for (int64_t f = v.clips[c].start_frame_idx; f <= v.clips[c].end_frame_idx; ++f) {
        int k = step_at(v.clips[c], f);
        if (k < 0) continue;
        const float* row = &v.rows[c][(f - v.clips[c].start_frame_idx) * o.dim];
        double best = 1e300;
        std::pair<int, int> arg{-1, -1};
        for (auto& [key, s] : sum) {
          double d2 = 0;
          for (int d = 0; d < o.dim; ++d) {
            double x = row[d] - s[d] / count[key];
            d2 += x * x;
          }
          if (d2 < best) best = d2, arg = key;
        }
        right += arg == std::make_pair(v.task, k);
        ++total;
      }
  }
  ASSERT_GT(total, 500);
  EXPECT_GE(static_cast<double>(right) / total, 0.98) << right << " / " << total;
}

// --progress: every assistant turn carries a progress summary (k of n steps done, the current step),
// and nothing else of the video changes (no random draw is spent on it).
TEST(Synth, ProgressSummariesOnlyAddTheField) {
  SynthOptions o = small(fresh_dir("data_synth_progress"));
  SynthOptions p = o;
  p.progress = true;
  for (int i = 0; i < 4; ++i) {
    SynthVideo a = synth_video(o, i), b = synth_video(p, i);
    ASSERT_EQ(a.clips.size(), b.clips.size());
    for (size_t c = 0; c < a.clips.size(); ++c) {
      EXPECT_EQ(a.rows[c], b.rows[c]);
      ASSERT_EQ(a.clips[c].conversation.size(), b.clips[c].conversation.size());
      for (size_t t = 0; t < a.clips[c].conversation.size(); ++t) {
        const Turn& x = a.clips[c].conversation[t];
        const Turn& y = b.clips[c].conversation[t];
        EXPECT_EQ(x.content, y.content);
        EXPECT_EQ(x.end_frame, y.end_frame);
        EXPECT_TRUE(x.progress.empty());
        EXPECT_EQ(y.progress.empty(), y.role != Role::Assistant) << "clip " << b.clips[c].id() << " turn " << t;
      }
    }
  }
  // the first instruction of a video: no step done yet
  SynthVideo v = synth_video(p, 0);
  const SynthTask& task = synth_tasks()[v.task];
  for (const Turn& t : v.clips[0].conversation)
    if (t.role == Role::Assistant) {
      EXPECT_EQ(t.progress, "0 of " + std::to_string(task.steps.size()) + " steps of " + task.goal +
                                " are done; now: " + task.steps[0] + ".");
      break;
    }
  // and the field survives the JSON of the split files
  Clip back = parse_clip(clip_to_json(v.clips[0]), "synth");
  ASSERT_EQ(back.conversation.size(), v.clips[0].conversation.size());
  for (size_t t = 0; t < back.conversation.size(); ++t)
    EXPECT_EQ(back.conversation[t].progress, v.clips[0].conversation[t].progress);
}
