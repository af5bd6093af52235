// For the oracle test (oracle_ptb_tokenizer.py): coco-caption's tokenisation of captions.
//   ptb_tool < captions.json (a JSON list of strings) > tokenised.json (a JSON list of strings)
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/eval/ptb_tokenizer.h"

int main() {
  return prospect::run_app([] {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto captions = nlohmann::json::parse(text).get<std::vector<std::string>>();
    std::cout << nlohmann::json(prospect::eval::ptb_tokenize_captions(captions)).dump() << "\n";
    return 0;
  });
}
