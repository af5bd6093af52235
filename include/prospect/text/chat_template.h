// Chat templates of SPEC §3. Every turn is header + content + exactly one end-of-turn special token;
// segments are tokenized separately so a token never spans two of them.
//   llama3: "<|start_header_id|>{role}<|end_header_id|>\n\n" ... "<|eot_id|>"
//   plain : "{Role}: " ... "<|eot|>"   (the synthetic demo; <|eot|> is a user-defined SentencePiece symbol)
// DST_UPDATE turns use the role "dst" and render their content as "S5->complete, S6->start".
#pragma once
#include <string>
#include <vector>

#include "prospect/data/clip.h"
#include "prospect/text/tokenizer.h"

namespace prospect {

struct ChatTemplate {
  std::string name;  // "llama3" | "plain"
  const Tokenizer* tok = nullptr;
  int32_t end_of_turn = -1;  // the end-of-turn token id

  std::vector<int32_t> header(Role role) const;            // header ids (may be empty)
  std::vector<int32_t> content(const std::string& text) const;  // content ids
  std::string dst_text(const std::vector<DstTransition>& updates) const;  // "S5->complete, S6->start"
  std::vector<int32_t> state_turn_content(const std::vector<std::pair<std::string, StepState>>& states) const;
};

// Errors (UsageError) for an unknown name or a tokenizer that lacks the end-of-turn token.
ChatTemplate make_chat_template(const std::string& name, const Tokenizer& tok);

// Parses "S3->complete, S4->start"; false when malformed.
bool parse_dst_text(const std::string& text, std::vector<DstTransition>* out);

}  // namespace prospect
