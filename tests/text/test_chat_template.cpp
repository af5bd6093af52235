// The llama3 and plain chat templates against oracle goldens (tests/text/golden/chat_ids.json).
#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/text/chat_template.h"
#include "text_test_util.h"

using namespace prospect;
using prospect::test::source_path;

namespace {

const Tokenizer& llama3() {
  static auto t = load_tokenizer(test::llama3_path());
  return *t;
}

std::vector<int32_t> render(const ChatTemplate& t, const nlohmann::json& conv) {
  std::vector<int32_t> ids;
  auto append = [&](const std::vector<int32_t>& v) { ids.insert(ids.end(), v.begin(), v.end()); };
  for (auto& turn : conv["turns"]) {
    std::string role = turn["role"], text = turn["content"];
    if (role == "state") {
      append(t.state_header());
      append(t.state_turn_content({{"S1", StepState::InProgress}, {"S2", StepState::NotStarted}}));
      ids.push_back(t.end_of_turn);
    } else if (role == "dst") {
      std::optional<std::vector<DstTransition>> up = parse_dst_update(text);
      EXPECT_TRUE(up.has_value()) << text;
      append(t.turn(Role::DstUpdate, "", up.value_or(std::vector<DstTransition>{})));
    } else {
      Role r = role == "system" ? Role::System : role == "user" ? Role::User : Role::Assistant;
      append(t.turn(r, text));
    }
  }
  return ids;
}

void check_template(const std::string& name, const Tokenizer* tok) {
  ChatTemplate t = make_chat_template(name, *tok);
  auto conv = nlohmann::json::parse(test::read_text(source_path("tests/text/golden/chat_conversation.json")));
  auto golden = nlohmann::json::parse(test::read_text(source_path("tests/text/golden/chat_ids.json")));
  std::vector<int32_t> ids = render(t, conv);
  EXPECT_EQ(ids, golden[name].get<std::vector<int32_t>>());
  // Every turn ends with exactly one special token: the end-of-turn id, once per turn.
  EXPECT_EQ(static_cast<size_t>(std::count(ids.begin(), ids.end(), t.end_of_turn)), conv["turns"].size());
  EXPECT_EQ(ids.back(), t.end_of_turn);
  EXPECT_TRUE(tok->is_special(t.end_of_turn));
  EXPECT_FALSE(tok->is_special(ids[ids.size() - 2]));
}

}  // namespace

TEST(ChatTemplate, Llama3Golden) { check_template("llama3", &llama3()); }
TEST(ChatTemplate, PlainGolden) {
  auto tiny = load_tokenizer(test::tiny_path());
  check_template("plain", tiny.get());
}

TEST(ChatTemplate, Llama3Header) {
  const Tokenizer* tok = &llama3();
  ChatTemplate t = make_chat_template("llama3", *tok);
  EXPECT_EQ(t.end_of_turn, 128009);
  // <|start_header_id|> user <|end_header_id|> \n\n
  EXPECT_EQ(t.header(Role::User), (std::vector<int32_t>{128006, 882, 128007, 271}));
  EXPECT_EQ(tok->decode(t.header(Role::DstUpdate)), "<|start_header_id|>dst<|end_header_id|>\n\n");
  EXPECT_EQ(tok->decode(t.state_header()), "<|start_header_id|>state<|end_header_id|>\n\n");
  EXPECT_EQ(t.header_text("assistant"), "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, PlainHeaderText) {
  auto tok = load_tokenizer(test::tiny_path());
  ChatTemplate t = make_chat_template("plain", *tok);
  EXPECT_EQ(t.header_text("system"), "System: ");
  EXPECT_EQ(t.header_text("dst"), "Dst: ");
  EXPECT_EQ(t.header_text("state"), "State: ");
  EXPECT_EQ(tok->decode(t.header(Role::Assistant)), "Assistant: ");
  EXPECT_EQ(t.end_of_turn, tok->token_to_id("<|eot|>"));
}

TEST(ChatTemplate, Errors) {
  auto tiny = load_tokenizer(test::tiny_path());
  EXPECT_THROW(make_chat_template("llama3", *tiny), UsageError);  // no <|eot_id|>
  EXPECT_THROW(make_chat_template("chatml", *tiny), UsageError);
  EXPECT_THROW(make_chat_template("plain", llama3()), UsageError);  // no <|eot|>
}

TEST(ChatTemplate, StateText) {
  EXPECT_EQ(ChatTemplate::state_text({{"S1", StepState::Completed}, {"S2", StepState::InProgress},
                                      {"S3", StepState::NotStarted}}),
            "Current step states: S1 completed, S2 in_progress, S3 not_started");
  EXPECT_EQ(ChatTemplate::state_text({}), "Current step states: none");
}
