// prospect_data inspect as a user runs it: the statistics of a store whose contents the test knows,
// counted here by hand.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny_store.h"

using namespace prospect;
using namespace prospect::test;

namespace {
// Three clips of good_clip()'s shape: each has 9 turns (system 1, DST_UPDATE 4, assistant 3, user 1),
// 4 transitions, 2 steps; 20, 60 and 20 frames; videos va, vb.
std::string three_clips(const std::string& name) {
  std::string path = fresh_dir("data_" + name) + "/s.h5";
  write_store(path, {sc(good_clip("va", 0, 19)), sc(good_clip("vb", 40, 99)), sc(good_clip("va", 20, 39))});
  return path;
}
}  // namespace

TEST(Inspect, PrintsTheStatistics) {
  std::string path = three_clips("inspect");
  auto r = run_program(binary_path("prospect_data") + " inspect " + path);
  ASSERT_EQ(r.code, 0) << r.output;
  // Text tokens (~4 characters a token, 3 a turn): each clip's texts have 69 characters ("Goal: make
  // tea." 15, "Boil the water." 15, "What next?" 10, "Wait for the kettle." 20, "Now pour." 9) and its
  // transitions 50 (id + transition + 4: 11 + 14 + 11 + 14); 3 * 119 / 4 = 89, plus 3 * 27 turns.
  // Frames: 100 rows at 2 fps = 50 s = 0.0139 h.
  EXPECT_EQ(r.output, path + "\n"
                             "  embeddings     100 x 8 float32 (test-features), fps 2, version 2\n"
                             "  clips          3 in 2 videos (0.01 h)\n"
                             "  frames/clip    min 20 / mean 33.3 / max 60\n"
                             "  turns/clip     min 9 / mean 9.0 / max 9\n"
                             "  steps/clip     min 2 / mean 2.0 / max 2\n"
                             "  turns          DST_UPDATE 12, assistant 9, system 3, user 3\n"
                             "  DST transitions 12\n"
                             "  tokens         ~270 (170 text + 100 frames; ~4 chars a token)\n");
}

TEST(Inspect, JsonHasEveryCount) {
  std::string path = three_clips("inspect_json");
  auto r = run_program(binary_path("prospect_data") + " inspect " + path + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["path"], path);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["dtype"], "float32");
  EXPECT_EQ(j["embedding_dim"], 8);
  EXPECT_EQ(j["fps"], 2.0);
  EXPECT_EQ(j["feature_model"], "test-features");
  EXPECT_EQ(j["clips"], 3);
  EXPECT_EQ(j["videos"], 2);
  EXPECT_EQ(j["frames"], 100);
  EXPECT_NEAR(j["hours"].get<double>(), 50.0 / 3600, 1e-12);
  EXPECT_EQ(j["frames_per_clip"], (json{{"min", 20}, {"mean", 100.0 / 3}, {"max", 60}}));
  EXPECT_EQ(j["turns_per_clip"], (json{{"min", 9}, {"mean", 9.0}, {"max", 9}}));
  EXPECT_EQ(j["steps_per_clip"], (json{{"min", 2}, {"mean", 2.0}, {"max", 2}}));
  EXPECT_EQ(j["turns"], (json{{"DST_UPDATE", 12}, {"assistant", 9}, {"system", 3}, {"user", 3}}));
  EXPECT_EQ(j["dst_transitions"], 12);
  EXPECT_EQ(j["unparsable_clips"], 0);
  EXPECT_EQ(j["text_tokens_estimate"], 170);
  EXPECT_EQ(j["tokens_estimate"], 270);
}

TEST(Inspect, UnparsableClipsAreCountedAndErrorsNameTheFile) {
  std::string path = fresh_dir("data_inspect_bad") + "/s.h5";
  write_store(path, {sc(good_clip()), StoreClip{"{\"video_uid\": ", "vx", 5}});
  auto r = run_program(binary_path("prospect_data") + " inspect " + path);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("  unparsable     1 clips (run validate)\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  frames/clip    min 5 / mean 12.5 / max 20\n"), std::string::npos) << r.output;
  auto missing = run_program(binary_path("prospect_data") + " inspect /nonexistent/s.h5");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/s.h5: no such file"), std::string::npos) << missing.output;
  EXPECT_EQ(run_program(binary_path("prospect_data") + " inspect").code, 2);
}
