#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny_store.h"
#include "prospect/core/error.h"
#include "prospect/data/clip.h"

using namespace prospect;
using namespace prospect::test;

TEST(Clip, ParsesArrayObjectAndJsonLines) {
  json a = good_clip("a", 0, 19), b = good_clip("b", 40, 59);
  auto arr = parse_clips(json::array({a, b}).dump(), "x.json");
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(arr[1].id(), "b:40");
  auto one = parse_clips(a.dump(2), "x.json");
  ASSERT_EQ(one.size(), 1u);
  auto lines = parse_clips(a.dump() + "\n\n" + b.dump() + "\n", "x.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].file_stem(), "b_40");
  EXPECT_TRUE(parse_clips("  \n", "empty").empty());
}

TEST(Clip, ReadsFieldsRolesAndUpdates) {
  Clip c = parse_clips(good_clip().dump(), "x")[0];
  EXPECT_EQ(c.video_uid, "v1");
  EXPECT_EQ(c.inferred_goal, "make tea");
  EXPECT_EQ(c.num_frames(), 20);
  EXPECT_DOUBLE_EQ(c.fps, 2.0);
  ASSERT_EQ(c.steps.size(), 2u);
  EXPECT_EQ(c.steps[1].name, "pour");
  ASSERT_EQ(c.conversation.size(), 9u);
  EXPECT_EQ(c.conversation[0].role, Role::System);
  EXPECT_EQ(c.conversation[1].role, Role::DstUpdate);
  ASSERT_EQ(c.conversation[1].updates.size(), 1u);
  EXPECT_EQ(c.conversation[1].updates[0].id, "S1");
  EXPECT_EQ(c.conversation[1].updates[0].transition, "start");
  EXPECT_TRUE(c.conversation[1].content.empty());
  EXPECT_EQ(c.conversation[2].content, "Boil the water.");
  EXPECT_EQ(c.conversation[2].end_frame, 2);
  EXPECT_STREQ(role_name(Role::DstUpdate), "DST_UPDATE");
  EXPECT_STREQ(state_name(StepState::InProgress), "in_progress");
}

TEST(Clip, AcceptsSeveralUpdatesInOneTurnAndIgnoresSystemFrames) {
  json j = good_clip("v", 100, 119);
  j["conversation"][0].erase("start_frame");  // the system turn may lack frames
  j["conversation"][5]["content"] = json::array({{{"id", "S1"}, {"transition", "complete"}}, {{"id", "S2"}, {"transition", "start"}}});
  Clip c = parse_clip(j, "x");
  EXPECT_EQ(c.conversation[5].updates.size(), 2u);
  EXPECT_FALSE(has_frames(c.conversation[0]));
}

TEST(Clip, ErrorsNameSourceClipAndField) {
  json j = good_clip("vid7", 30, 49);
  j["end_frame_idx"] = "late";
  try {
    parse_clips(json::array({good_clip(), j}).dump(), "split.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("split.json"), std::string::npos) << m;
    EXPECT_NE(m.find("clip 1"), std::string::npos) << m;
    EXPECT_NE(m.find("vid7:30"), std::string::npos) << m;
    EXPECT_NE(m.find("end_frame_idx"), std::string::npos) << m;
  }
  json k = good_clip();
  k["conversation"][3]["role"] = "narrator";
  EXPECT_THROW(parse_clip(k, "x"), Error);
  json u = good_clip();
  u["conversation"][1]["content"] = json::array({{{"id", "S1"}, {"transition", "begin"}}});
  try {
    parse_clip(u, "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("transition"), std::string::npos);
  }
  EXPECT_THROW(parse_clips("{\"video_uid\": ", "bad.json"), Error);
  EXPECT_THROW(parse_clips("[1, 2]", "nums.json"), Error);
}

TEST(Clip, StepIdsIncludeIdsOnlyAnUpdateNames) {
  json j = good_clip();
  j["conversation"].push_back({{"role", "DST_UPDATE"}, {"content", json::array({{{"id", "S9"}, {"transition", "start"}}})},
                               {"time", 9.0}, {"start_frame", 18}, {"end_frame", 18}});
  Clip c = parse_clip(j, "x");
  EXPECT_EQ(step_ids(c), (std::vector<std::string>{"S1", "S2", "S9"}));
}

TEST(Clip, InitialStateFromTimestamps) {
  // Steps: S1 [1 s, 4 s), S2 [4 s, 7.5 s) for a clip starting at frame 0; shift the clip start.
  Clip c = parse_clip(good_clip("v", 0, 19), "x");
  auto s0 = initial_state(c, 2.0);
  EXPECT_EQ(s0["S1"], StepState::NotStarted);
  EXPECT_EQ(s0["S2"], StepState::NotStarted);
  c.start_frame_idx = 8;  // t0 = 4 s: S1 ended (end_ts <= t0), S2 started (start_ts <= t0 < end_ts)
  auto s1 = initial_state(c, 2.0);
  EXPECT_EQ(s1["S1"], StepState::Completed);
  EXPECT_EQ(s1["S2"], StepState::InProgress);
  c.fps = 0;  // the store's fps is used then
  c.start_frame_idx = 16;
  auto s2 = initial_state(c, 4.0);  // t0 = 4 s
  EXPECT_EQ(s2["S1"], StepState::Completed);
  EXPECT_EQ(s2["S2"], StepState::InProgress);
}

TEST(Clip, ToJsonRoundTripKeepsUnknownFields) {
  json j = good_clip();
  j["conversation"][2]["labels"] = "keep me";
  Clip c = parse_clip(j, "x");
  json back = clip_to_json(c);
  EXPECT_EQ(back["quality"], 5);
  EXPECT_EQ(back["conversation"][2]["labels"], "keep me");
  Clip c2 = parse_clip(back, "y");
  EXPECT_EQ(c2.id(), c.id());
  EXPECT_EQ(c2.conversation.size(), c.conversation.size());
  EXPECT_EQ(c2.conversation[6].updates[0].id, "S2");
  EXPECT_EQ(c2.steps[0].end_ts, c.steps[0].end_ts);
}

// ProAssist's progress summaries: an optional string on assistant turns, kept through clip_to_json;
// anywhere else, or not a non-empty string, an error naming the turn and field.
TEST(Clip, ProgressSummaryOnAssistantTurns) {
  auto clip_with = [](const std::string& turn) {
    return R"({"video_uid": "v", "start_frame_idx": 0, "end_frame_idx": 9, "conversation": [)" + turn + "]}";
  };
  Clip c = parse_clips(clip_with(R"({"role": "assistant", "content": "hi", "start_frame": 1, "end_frame": 2,
                                      "progress": "The user has boiled the water."})"),
                       "a.json")[0];
  EXPECT_EQ(c.conversation[0].progress, "The user has boiled the water.");
  EXPECT_EQ(clip_to_json(c)["conversation"][0]["progress"], "The user has boiled the water.");
  Clip back = parse_clip(clip_to_json(c), "again");
  EXPECT_EQ(back.conversation[0].progress, c.conversation[0].progress);
  EXPECT_TRUE(parse_clips(clip_with(R"({"role": "assistant", "content": "hi", "start_frame": 1, "end_frame": 2})"),
                          "b.json")[0].conversation[0].progress.empty());
  for (const char* bad : {R"({"role": "user", "content": "hi", "start_frame": 1, "end_frame": 2, "progress": "x"})",
                          R"({"role": "assistant", "content": "hi", "start_frame": 1, "end_frame": 2, "progress": 3})",
                          R"({"role": "assistant", "content": "hi", "start_frame": 1, "end_frame": 2, "progress": ""})"}) {
    try {
      parse_clips(clip_with(bad), "c.json");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("turn 0"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("progress"), std::string::npos) << e.what();
    }
  }
}
