// Tokenizer throughput: MB/s of our byte-level BPE (Llama 3 tokenizer.json) on ~10 MB of text, and in
// the same run Hugging Face's `tokenizers` (the Rust library, from PyPI in the project's virtual
// environment: tools/reference/bench_tokenizer_hf.py) on the same chunks, one thread each, every id
// compared (recorded as skipped when the environment is missing).
//   bench_tokenizer [--mb 10] [--tokenizer DIR] [--python EXE] [--out bench/results/tokenizer.json]
// Run from the repository root.
#include <sys/wait.h>

#include <chrono>
#include <ctime>
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
  std::string python = std::string(std::getenv("HOME") ? std::getenv("HOME") : "") +
                       "/.cache/prospect-dst/venv-torch-2.12.1-cu130/bin/python";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mb")) mb = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tokenizer")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--out")) out_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--python")) python = argv[i + 1];
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
  std::clock_t c0 = std::clock();
  std::vector<std::vector<int32_t>> all;
  all.reserve(chunks.size());
  for (const auto& c : chunks) all.push_back(tok->encode(c).ids);
  double enc_s = since(t0), enc_cpu_s = double(std::clock() - c0) / CLOCKS_PER_SEC;
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
               {"encode_cpu_s", enc_cpu_s},
               {"decode_s", dec_s}, {"decode_mb_per_s", decoded / 1e6 / dec_s}, {"ids_fnv1a", digest}}}};

  // Hugging Face `tokenizers` (Rust, from the project's virtual environment) on the same chunks; every
  // id is compared with ours.
  nlohmann::json hf = {{"status", "skipped"}};
  std::ifstream py_probe(python);
  if (!py_probe) {
    hf["reason"] = python + " not found (tools/torch_venv.sh makes it; --python names another)";
  } else {
    std::string chunk_file = "bench/results/tokenizer_chunks.tmp", ids_file = "bench/results/tokenizer_ids.tmp";
    {
      std::ofstream f(chunk_file, std::ios::binary);
      for (const auto& c : chunks) f << nlohmann::json(c).dump() << "\n";
      std::ofstream g(ids_file, std::ios::binary);
      for (const auto& ids : all) {
        int32_t n = static_cast<int32_t>(ids.size());
        g.write(reinterpret_cast<const char*>(&n), 4);
        g.write(reinterpret_cast<const char*>(ids.data()), 4 * static_cast<std::streamsize>(ids.size()));
      }
    }
    int rc = 0;
    std::string out = run_capture(python + " tools/reference/bench_tokenizer_hf.py " + chunk_file + " " + dir + " " +
                                      ids_file + " 2>&1", &rc);
    std::remove(chunk_file.c_str());
    std::remove(ids_file.c_str());
    size_t at = out.rfind("{\"seconds\"");  // the JSON line, after any warnings
    auto j = nlohmann::json::parse(at == std::string::npos ? out : out.substr(at), nullptr, false);
    if (rc != 0 || j.is_discarded() || !j.contains("seconds")) {
      hf["reason"] = "reference failed: " + out.substr(0, 300);
    } else {
      double s = j["seconds"].get<double>();
      hf = {{"status", "ok"},        {"package", "tokenizers (Rust, PyPI) " + j["tokenizers"].get<std::string>()},
            {"encode_s", s},          {"encode_mb_per_s", bytes / 1e6 / s},
            {"encode_cpu_s", j["cpu_seconds"]},
            {"tokens", j["tokens"]},  {"same_ids", j["same_ids"]},
            {"first_difference", j["first_difference"]}};
      res["speedup_vs_hf"] = s / enc_s;
      res["speedup_vs_hf_cpu_time"] = j["cpu_seconds"].get<double>() / enc_cpu_s;
    }
  }
  res["hf_tokenizers"] = hf;
  std::ofstream(out_path) << res.dump(2) << "\n";
  std::printf("%s\n", res.dump(2).c_str());
  return 0;
}
