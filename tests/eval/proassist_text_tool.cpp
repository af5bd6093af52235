// For the oracle test (oracle_proassist_text.py): ProAssist's text scores of pairs.
//   proassist_text_tool [METEOR_JAR] < [{"refs": [...], "hyps": [...]}, ...]
//     > [{"Bleu_1", ..., "CIDEr", "METEOR"}, ...]   (one METEOR process for all corpora)
#include <iostream>
#include <iterator>
#include <memory>

#include "prospect/core/error.h"
#include "prospect/eval/meteor.h"
#include "prospect/eval/proassist_eval.h"

using namespace prospect::eval;

int main(int argc, char** argv) {
  return prospect::run_app([&] {
    std::unique_ptr<MeteorScorer> meteor;
    if (argc > 1) meteor = std::make_unique<MeteorScorer>(argv[1]);
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const auto& j : nlohmann::json::parse(text)) {
      auto refs = j.at("refs").get<std::vector<std::string>>(), hyps = j.at("hyps").get<std::vector<std::string>>();
      std::vector<TextPair> pairs;
      for (size_t k = 0; k < refs.size(); ++k) pairs.push_back({refs[k], hyps[k]});
      ProAssistText t = proassist_text_scores(pairs, meteor.get());
      ProAssistTotals none;
      auto out = proassist_json(none, t);
      nlohmann::ordered_json r;
      for (const char* k : {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "CIDEr", "METEOR"}) r[k] = out[k];
      all.push_back(r);
    }
    std::cout << all.dump() << "\n";
    return 0;
  });
}
