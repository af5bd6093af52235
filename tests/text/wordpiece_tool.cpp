// For the oracle test (oracle_wordpiece.py): token ids of texts with a model folder's WordPiece.
//   wordpiece_tool DIR MAX_LEN < texts.jsonl (one JSON string a line) > ids.jsonl (one list a line)
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "prospect/core/error.h"
#include "prospect/text/wordpiece.h"

int main(int argc, char** argv) {
  return prospect::run_app([&] {
    if (argc != 3) prospect::usage_fail("usage: wordpiece_tool DIR MAX_LEN < texts.jsonl");
    auto tok = prospect::load_wordpiece(argv[1]);
    const int64_t max_len = std::stoll(argv[2]);
    std::string line;
    while (std::getline(std::cin, line)) {
      auto text = nlohmann::json::parse(line).get<std::string>();
      std::cout << nlohmann::json(tok.encode_for_model(text, max_len)).dump() << "\n";
    }
    return 0;
  });
}
