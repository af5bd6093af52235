// Tokenizer throughput: MB/s of our byte-level BPE (Llama 3 tokenizer.json) on ~10 MB of text, and in
// the same run Hugging Face's JavaScript `tokenizers` on the same chunks when node and the package are
// available (recorded as skipped otherwise). Both digests of the ids are compared.
//   bench_tokenizer [--mb 10] [--tokenizer DIR] [--out bench/results/tokenizer.json]
// Run from the repository root. The JavaScript side: TOKENIZERS_JS=<dir with node_modules> (see
// tools/bench_tokenizer_oracle.mjs).
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "prospect/text/tokenizer.h"

using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

int main(int argc, char** argv) {
  double mb = 10;
  std::string dir = "tests/text/data/llama3", out_path = "bench/results/tokenizer.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mb")) mb = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tokenizer")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--out")) out_path = argv[i + 1];
  }

  // ~mb MB of text: chunks of 20..60 corpus lines in a fixed pseudo-random order, joined by spaces
  // and newlines (the corpus has every script, emoji, code and whitespace kind the tests cover).
  std::vector<std::string> lines;
  {
    std::ifstream f("tests/text/golden/corpus.jsonl");
    std::string l;
    while (std::getline(f, l))
      if (!l.empty()) lines.push_back(nlohmann::json::parse(l).get<std::string>());
  }
  if (lines.empty()) {
    std::fprintf(stderr, "run from the repository root (tests/text/golden/corpus.jsonl not found)\n");
    return 1;
  }
  std::mt19937_64 rng(42);
  std::vector<std::string> chunks;
  size_t bytes = 0;
  while (bytes < mb * 1e6) {
    std::string c;
    int n = 20 + static_cast<int>(rng() % 41);
    for (int k = 0; k < n; ++k) {
      c += lines[rng() % lines.size()];
      c += (rng() % 4 == 0) ? "\n" : " ";
    }
    bytes += c.size();
    chunks.push_back(std::move(c));
  }

  auto t0 = Clock::now();
  auto tok = prospect::load_tokenizer(dir + "/tokenizer.json");
  double load_s = since(t0);

  uint64_t h = 0xcbf29ce484222325ULL;
  size_t tokens = 0;
  t0 = Clock::now();
  std::vector<std::vector<int32_t>> all;
  all.reserve(chunks.size());
  for (const auto& c : chunks) all.push_back(tok->encode(c).ids);
  double enc_s = since(t0);
  for (const auto& ids : all) {
    tokens += ids.size();
    for (int32_t id : ids)
      for (int k = 0; k < 4; ++k) {
        h ^= (static_cast<uint32_t>(id) >> (8 * k)) & 255;
        h *= 0x100000001b3ULL;
      }
  }
  char digest[32];
  std::snprintf(digest, sizeof digest, "%llx", static_cast<unsigned long long>(h));

  // decode throughput on the same ids
  t0 = Clock::now();
  size_t decoded = 0;
  for (const auto& ids : all) decoded += tok->decode(ids).size();
  double dec_s = since(t0);

  nlohmann::json res = {
      {"tokenizer", dir + "/tokenizer.json"},
      {"text_bytes", bytes},
      {"chunks", chunks.size()},
      {"tokens", tokens},
      {"threads", 1},
      {"cpp", {{"load_s", load_s}, {"encode_s", enc_s}, {"encode_mb_per_s", bytes / 1e6 / enc_s},
               {"decode_s", dec_s}, {"decode_mb_per_s", decoded / 1e6 / dec_s}, {"ids_fnv1a", digest}}}};

  // The JavaScript oracle on the same chunks.
  nlohmann::json js = {{"status", "skipped"}};
  int rc = 0;
  run_capture("node --version 2>/dev/null", &rc);
  if (rc != 0) {
    js["reason"] = "node not found";
  } else {
    std::string chunk_file = "bench/results/tokenizer_chunks.tmp";
    {
      std::ofstream f(chunk_file, std::ios::binary);
      for (const auto& c : chunks) f << nlohmann::json(c).dump() << "\n";
    }
    std::string out = run_capture("node tools/bench_tokenizer_oracle.mjs " + chunk_file + " " + dir + " 2>&1", &rc);
    std::remove(chunk_file.c_str());
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (rc != 0 || j.is_discarded() || !j.contains("seconds")) {
      js["reason"] = "oracle failed (set TOKENIZERS_JS to a folder with node_modules/@huggingface/tokenizers): " +
                     out.substr(0, 300);
    } else {
      double s = j["seconds"].get<double>();
      js = {{"status", "ok"},
            {"package", "@huggingface/tokenizers"},
            {"encode_s", s},
            {"encode_mb_per_s", bytes / 1e6 / s},
            {"tokens", j["tokens"]},
            {"ids_fnv1a", j["ids_fnv1a"]},
            {"same_ids", j["ids_fnv1a"] == digest}};
      res["speedup_vs_js"] = s / enc_s;
    }
  }
  res["javascript"] = js;
  std::ofstream(out_path) << res.dump(2) << "\n";
  std::printf("%s\n", res.dump(2).c_str());
  return 0;
}
