// For the oracle test (oracle_meteor.py): METEOR of pairs through our MeteorScorer.
//   meteor_tool JAR < [{"refs": [...], "hyps": [...]}, ...]   prints each corpus' score (%.17g), one a line
// (one METEOR process for all: it takes about 10 s to start)
// Exit 2 when the jar is unusable (as prospect_eval with eval.meteor_jar).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/eval/meteor.h"

int main(int argc, char** argv) {
  return prospect::run_app([&] {
    if (argc != 2) prospect::usage_fail("usage: meteor_tool JAR < pairs.json");
    prospect::eval::MeteorScorer m(argv[1]);
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    for (const auto& j : nlohmann::json::parse(text)) {
      double s = m.score(j.at("refs").get<std::vector<std::string>>(), j.at("hyps").get<std::vector<std::string>>());
      std::printf("%.17g\n", s);
    }
    return 0;
  });
}
