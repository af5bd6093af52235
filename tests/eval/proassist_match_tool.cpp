// For the oracle test (oracle_proassist_match.py): ProAssist matching of clips given on stdin.
//   in : {"clips": [{"first", "last", "fps", "left", "right", "gen": [[frame, text]...],
//                    "ref": [[frame, text]...], "cos": [gen x ref, row-major]}]}
//   out: {"clips": [{"total_cost", "slots": [per gen], "refs": [per gen, -1 silent], "missed",
//                    "result": proassist_clip_to_json}], "totals": proassist_json (no text scores)}
#include <iostream>
#include <iterator>

#include "prospect/core/error.h"
#include "prospect/eval/proassist_match.h"

using namespace prospect::eval;

int main() {
  return prospect::run_app([] {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto in = nlohmann::json::parse(text);
    nlohmann::ordered_json out;
    out["clips"] = nlohmann::ordered_json::array();
    std::vector<ProAssistClip> results;
    for (const auto& c : in.at("clips")) {
      auto slots = [](const nlohmann::json& a) {
        std::vector<FrameText> v;
        for (const auto& e : a) v.push_back({e.at(0).get<int64_t>(), e.at(1).get<std::string>()});
        return v;
      };
      auto gen = slots(c.at("gen")), ref = slots(c.at("ref"));
      ProAssistParams p;
      p.window = {c.at("left").get<int64_t>(), c.at("right").get<int64_t>()};
      auto m = match_proassist(c.at("first").get<int64_t>(), c.at("last").get<int64_t>(), gen, ref,
                               c.at("cos").get<std::vector<double>>(), p);
      results.push_back(proassist_clip(m, gen, ref, c.at("fps").get<double>(), p.threshold));
      nlohmann::ordered_json r;
      r["total_cost"] = m.total_cost;
      r["slots"] = nlohmann::ordered_json::array();
      r["refs"] = nlohmann::ordered_json::array();
      for (const auto& pr : m.pairs) r["slots"].push_back(pr.slot), r["refs"].push_back(pr.ref);
      r["missed"] = m.missed;
      r["result"] = proassist_clip_to_json(results.back());
      out["clips"].push_back(r);
    }
    out["totals"] = proassist_json(proassist_totals(results), {});
    std::cout << out.dump() << "\n";
    return 0;
  });
}
