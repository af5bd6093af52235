// For the interop test (hf_chat_template.py): the ids our chat template gives a conversation, to set
// beside Hugging Face's tokenizer.apply_chat_template for the same turns.
//   chat_template_tool TOKENIZER TEMPLATE < conversation.json > ids.json
// conversation.json: [{"role": "system" | "user" | "assistant" | "dst" | "state", "content": "..."}, ...];
// the output is BOS (when the tokenizer has one) and every turn as training lays it out (a dst turn's
// content is parsed into its transitions and rendered again, as the store's DST_UPDATE turns are).
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "prospect/core/dialogue.h"
#include "prospect/core/error.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"

int main(int argc, char** argv) {
  using namespace prospect;
  return run_app([&] {
    if (argc != 3) usage_fail("usage: chat_template_tool TOKENIZER TEMPLATE < conversation.json");
    auto tok = load_tokenizer(argv[1]);
    ChatTemplate tmpl = make_chat_template(argv[2], *tok);
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::vector<int32_t> ids;
    if (tok->bos_id() >= 0) ids.push_back(tok->bos_id());
    for (const auto& t : nlohmann::json::parse(text)) {
      const std::string role = t.at("role").get<std::string>(), content = t.at("content").get<std::string>();
      std::vector<int32_t> turn;
      if (role == "system") turn = tmpl.turn(Role::System, content);
      else if (role == "user") turn = tmpl.turn(Role::User, content);
      else if (role == "assistant") turn = tmpl.turn(Role::Assistant, content);
      else if (role == "dst") {
        auto updates = parse_dst_update(content);
        if (!updates) fail("not a DST update: {}", content);
        turn = tmpl.turn(Role::DstUpdate, "", *updates);
      } else {
        turn = tmpl.header_named(role);
        auto c = tmpl.content(content);
        turn.insert(turn.end(), c.begin(), c.end());
        turn.push_back(tmpl.end_of_turn);
      }
      ids.insert(ids.end(), turn.begin(), turn.end());
    }
    std::cout << nlohmann::json(ids).dump() << "\n";
    return 0;
  });
}
