// prospect_spm_train --key=value ...: trains a SentencePiece model through libsentencepiece_train.
// A separate process on purpose: it must not load libprotobuf (see CMakeLists.txt). Used by
// prospect_data synth; the options are SentencePiece's TrainerSpec/NormalizerSpec fields.
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <string>
#include <unordered_map>

int main(int argc, char** argv) {
  std::unordered_map<std::string, std::string> kwargs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s --input=F --model_prefix=P [--key=value ...] (SentencePiece trainer options)\n", argv[0]);
      return 0;
    }
    size_t eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "usage error: %s: expected --key=value, found '%s'\n", argv[0], a.c_str());
      return 2;
    }
    kwargs[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
  if (!status.ok()) {
    std::fprintf(stderr, "error: SentencePiece training failed: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
