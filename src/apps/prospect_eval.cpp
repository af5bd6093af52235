// prospect_eval: streaming evaluation of a checkpoint on a split, and text metrics of two files.
#include "subcommands.h"

int main(int argc, char** argv) {
  using namespace prospect::apps;
  static const Subcommand table[] = {
      {"text-metrics", eval_text_metrics, "BLEU-1..4 and CIDEr-D of --hyps against --refs (JSON out)"},
  };
  static const Subcommand stream{"", eval_stream, "streaming evaluation: --config --checkpoint --split --out"};
  return dispatch("prospect_eval", argc, argv, table, 1, &stream);
}
