// prospect_lm: the language model and tokenizer on their own (HF Llama directory -> logits, text -> ids).
#include "subcommands.h"

int main(int argc, char** argv) {
  using namespace prospect::apps;
  static const Subcommand table[] = {
      {"logits", lm_logits, "HF Llama directory + token ids -> logits JSON"},
      {"tokenize", lm_tokenize, "JSON strings on stdin -> JSON id arrays on stdout (no BOS)"},
      {"merge", lm_merge, "HF Llama directory + LoRA adapter -> merged HF Llama directory"},
  };
  return dispatch("prospect_lm", argc, argv, table, 3);
}
