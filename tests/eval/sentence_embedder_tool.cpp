// For the oracle test (oracle_sentence_encoder.py):
//   sentence_embedder_tool embed DIR [BATCH] < texts.jsonl   one JSON list of floats per text
//                                                  (batches of BATCH texts; default: one batch)
//   sentence_embedder_tool cos DIR < pair.json       {"gen": [...], "ref": [...]} -> cosines, row-major
//   sentence_embedder_tool buckets N B               MPNet's [N, N] relative buckets with B buckets
#include <algorithm>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "prospect/core/error.h"
#include "prospect/eval/sentence_embedder.h"

int main(int argc, char** argv) {
  return prospect::run_app([&] {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "buckets" && argc == 4) {
      at::Tensor b = prospect::SentenceEncoder::relative_buckets(std::stoll(argv[2]), std::stoll(argv[3])).contiguous();
      std::vector<int64_t> v(b.data_ptr<int64_t>(), b.data_ptr<int64_t>() + b.numel());
      std::cout << nlohmann::json(v).dump() << "\n";
      return 0;
    }
    if (argc < 3 || argc > 4 || (mode != "embed" && mode != "cos"))
      prospect::usage_fail("usage: sentence_embedder_tool embed DIR [BATCH] | cos DIR");
    prospect::eval::SentenceEmbedder emb(argv[2]);
    if (mode == "cos") {
      std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      auto j = nlohmann::json::parse(text);
      auto cos = emb.clip_cosines(j.at("gen").get<std::vector<std::string>>(), j.at("ref").get<std::vector<std::string>>());
      std::cout << nlohmann::json(cos).dump() << "\n";
      return 0;
    }
    std::vector<std::string> texts;
    std::string line;
    while (std::getline(std::cin, line)) texts.push_back(nlohmann::json::parse(line).get<std::string>());
    const size_t batch = argc == 4 ? std::stoul(argv[3]) : std::max<size_t>(texts.size(), 1);
    for (size_t start = 0; start < texts.size(); start += batch) {
      std::vector<std::string> part(texts.begin() + start, texts.begin() + std::min(texts.size(), start + batch));
      at::Tensor e = emb.embed(part).contiguous();
      for (int64_t i = 0; i < e.size(0); ++i) {
        std::vector<float> row(e[i].data_ptr<float>(), e[i].data_ptr<float>() + e.size(1));
        std::cout << nlohmann::json(row).dump() << "\n";
      }
    }
    return 0;
  });
}
