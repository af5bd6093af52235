// prospect_eval text-metrics --refs F --hyps F: BLEU-1..4 and CIDEr-D of one hypothesis a line
// against the reference on the same line, printed as JSON.
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/eval/text_metrics.h"
#include "subcommands.h"

namespace prospect::apps {

namespace po = boost::program_options;

static std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read {}", path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

int eval_text_metrics(int argc, const char* const* argv) {
  return run_app([&] {
    std::string refs_path, hyps_path;
    po::options_description opts(std::string("usage: ") + argv[0] + " --refs FILE --hyps FILE\n"
                                 "One sentence a line; line i of --hyps is scored against line i of --refs.\n"
                                 "Prints {bleu1, bleu2, bleu3, bleu4, cider} as JSON (null for no lines)");
    opts.add_options()("help,h", "print this help")("refs", po::value(&refs_path), "reference sentences, one a line (required)")(
        "hyps", po::value(&hyps_path), "hypothesis sentences, one a line (required)");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return kExitOk;
    }
    po::notify(vm);
    if (refs_path.empty() || hyps_path.empty()) usage_fail("both --refs and --hyps are required");
    auto refs = read_lines(refs_path);
    auto hyps = read_lines(hyps_path);
    if (refs.size() != hyps.size())
      usage_fail("--refs {} has {} lines but --hyps {} has {} lines (one sentence a line, same count)", refs_path,
                 refs.size(), hyps_path, hyps.size());
    auto s = eval::text_scores(refs, hyps);
    nlohmann::ordered_json j;
    for (int k = 0; k < 4; ++k) j["bleu" + std::to_string(k + 1)] = s.bleu[k] ? nlohmann::ordered_json(*s.bleu[k]) : nullptr;
    j["cider"] = s.cider ? nlohmann::ordered_json(*s.cider) : nullptr;
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  });
}

}  // namespace prospect::apps
