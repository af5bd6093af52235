// prospect_lm tokenize --tokenizer FILE: one JSON string a line on stdin -> one JSON array of ids a
// line on stdout (no BOS/EOS). A line that is not a JSON string is an error naming its line number
// (exit 1, as for any bad input); nothing after it is printed.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "prospect/core/error.h"
#include "prospect/text/tokenizer.h"
#include "subcommands.h"

namespace prospect::apps {

int lm_tokenize(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    po::options_description opts("options");
    opts.add_options()
        ("help,h", "print this help")
        ("tokenizer", po::value<std::string>(), "tokenizer.json (byte-level BPE) or SentencePiece .model (required)")
        ("offsets", po::bool_switch()->default_value(false),
         "print {\"ids\": [...], \"offsets\": [[begin, end], ...]} (byte offsets) instead of the id array");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::printf("usage: %s --tokenizer FILE [--offsets] < texts.jsonl\n"
                  "Reads one JSON string per line, prints one JSON array of token ids per line (no BOS).\n"
                  "Exit 1 at the first line that is not a JSON string (the error names its line number).\n\n",
                  argv[0]);
      std::cout << opts << std::endl;
      return kExitOk;
    }
    if (!vm.count("tokenizer")) usage_fail("--tokenizer FILE is required");
    const bool with_offsets = vm["offsets"].as<bool>();
    auto tok = load_tokenizer(vm["tokenizer"].as<std::string>());

    std::ios::sync_with_stdio(false);
    std::string line, out;
    for (long lineno = 1; std::getline(std::cin, line); ++lineno) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_string())
        fail("stdin line {}: expected one JSON string (e.g. \"some text\"), found: {}", lineno,
             line.size() > 80 ? line.substr(0, 80) + "..." : line);
      Encoding enc = tok->encode(j.get_ref<const std::string&>());
      out.clear();
      if (with_offsets) out += "{\"ids\": ";
      out += '[';
      for (size_t i = 0; i < enc.ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(enc.ids[i]);
      }
      out += ']';
      if (with_offsets) {
        out += ", \"offsets\": [";
        for (size_t i = 0; i < enc.offsets.size(); ++i) {
          if (i) out += ',';
          out += '[' + std::to_string(enc.offsets[i].first) + ',' + std::to_string(enc.offsets[i].second) + ']';
        }
        out += "]}";
      }
      out += '\n';
      std::cout << out;
    }
    std::cout.flush();
    return kExitOk;
  });
}

}  // namespace prospect::apps
