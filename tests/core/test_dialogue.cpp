// The dialogue vocabulary: names, the transition rule of SPEC §2.1, the DST-update text of SPEC §3 and
// its one parser (the grammar of SPEC §8).
#include <gtest/gtest.h>

#include "prospect/core/dialogue.h"
#include "prospect/core/error.h"

using namespace prospect;

TEST(Dialogue, NamesAndStatesRoundTrip) {
  EXPECT_STREQ(role_name(Role::DstUpdate), "DST_UPDATE");
  EXPECT_STREQ(role_name(Role::Assistant), "assistant");
  EXPECT_STREQ(state_name(StepState::NotStarted), "not_started");
  for (StepState s : {StepState::NotStarted, StepState::InProgress, StepState::Completed})
    EXPECT_EQ(parse_step_state(state_name(s), "x"), s);
  try {
    parse_step_state("done", "clip v:0 initial_state.S1");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip v:0 initial_state.S1: step state 'done'"), std::string::npos) << e.what();
  }
}

TEST(Dialogue, TransitionsMoveForwardOnly) {
  std::map<std::string, StepState> st{{"S1", StepState::NotStarted}, {"S2", StepState::NotStarted}};
  EXPECT_TRUE(apply_transition(st, {"S1", "start"}));
  EXPECT_EQ(st["S1"], StepState::InProgress);
  EXPECT_TRUE(apply_transition(st, {"S1", "start"}));  // already in effect: valid, a no-op (SPEC §8)
  EXPECT_EQ(classify_transition(st, {"S1", "start"}), TransitionKind::AlreadyInEffect);
  EXPECT_TRUE(apply_transition(st, {"S2", "complete"}));  // complete may skip start
  EXPECT_EQ(classify_transition(st, {"S2", "start"}), TransitionKind::Backward);
  EXPECT_FALSE(apply_transition(st, {"S2", "start"}));
  EXPECT_EQ(st["S2"], StepState::Completed);
  EXPECT_FALSE(apply_transition(st, {"S7", "start"}));
  EXPECT_EQ(classify_transition(st, {"S7", "start"}), TransitionKind::UnknownStep);
  EXPECT_EQ(classify_transition(st, {"S1", "finish"}), TransitionKind::BadName);
  EXPECT_FALSE(apply_transition(st, {"S1", "finish"}));
  EXPECT_EQ(st["S1"], StepState::InProgress);
}

TEST(Dialogue, UpdateTextRendersAsSpec) {
  EXPECT_EQ(dst_update_text({{"S5", "complete"}, {"S6", "start"}}), "S5->complete, S6->start");
  EXPECT_EQ(dst_update_text({}), "");
}

TEST(Dialogue, ParserAcceptsTheGrammar) {
  auto up = parse_dst_update("S5->complete, S6->start");
  ASSERT_TRUE(up.has_value());
  ASSERT_EQ(up->size(), 2u);
  EXPECT_EQ((*up)[0].id, "S5");
  EXPECT_EQ((*up)[0].transition, "complete");
  EXPECT_EQ((*up)[1].id, "S6");
  EXPECT_EQ((*up)[1].transition, "start");
  // spaces around items and arrows; ids of letters, digits, '_' and '.'
  up = parse_dst_update(" S3->complete,S1 -> start\n");
  ASSERT_TRUE(up.has_value());
  ASSERT_EQ(up->size(), 2u);
  EXPECT_EQ((*up)[1].id, "S1");
  EXPECT_EQ(dst_update_text(*up), "S3->complete, S1->start");
  up = parse_dst_update("step_2.b->start");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ((*up)[0].id, "step_2.b");
  // unknown steps parse: whether a step exists is decided when the update is applied
  EXPECT_TRUE(parse_dst_update("S99->start").has_value());
}

TEST(Dialogue, ParserRefusesEverythingElse) {
  for (const char* bad : {"", "  ", "S1", "S1->", "->start", "S1->finish", "S1->start,", ",S1->start",
                          "S1->start,, S2->start", "S1->start S2->start", "S 1->start", "S1=>start",
                          "S1-> start now", "S-1->start", "S1->start->complete", "S3->complete, S4->"}) {
    EXPECT_FALSE(parse_dst_update(bad).has_value()) << "'" << bad << "'";
  }
}
