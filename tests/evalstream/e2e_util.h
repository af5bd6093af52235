// A small evaluation setup made once per test binary: a synthetic dataset (prospect_data synth), a
// second one with other embedding dimensions, a random tiny DSTProActLlama saved as a model folder,
// and an INI pointing at them. Programs run as a user runs them; output and exit code come back.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "prospect/core/config.h"
#include "prospect/model/dst_model.h"
#include "prospect/text/tokenizer.h"
#include "test_util.h"

namespace e2e {

namespace fs = std::filesystem;

struct Run {
  int rc = -1;
  std::string out;
};

inline Run run(const std::string& cmd) {
  auto c = prospect::test::run_command(cmd + " 2>&1");
  return {c.code, c.output};
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string bin(const std::string& prog) { return std::string(PROSPECT_BINARY_DIR) + "/" + prog; }

struct Setup {
  std::string dir, ini, model;
  prospect::Config cfg;
  ~Setup() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

// Made once per process in `name`-<pid> under the build folder (CTest runs cases as separate,
// possibly concurrent processes), removed at exit.
inline const Setup& setup(const std::string& name) {
  static Setup s;
  if (!s.dir.empty()) return s;
  s.dir = std::string(PROSPECT_BINARY_DIR) + "/" + name + "-" + std::to_string(::getpid());
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  Run a = run(bin("prospect_data") + " synth --out " + s.dir + "/data --videos 16 --seed 3");
  if (a.rc != 0) throw std::runtime_error("synth failed: " + a.out);
  Run b = run(bin("prospect_data") + " synth --out " + s.dir + "/data32 --videos 16 --seed 3 --dim 32 --no-tokenizer");
  if (b.rc != 0) throw std::runtime_error("synth --dim 32 failed: " + b.out);
  prospect::Config& c = s.cfg;
  c.data.train = s.dir + "/data/train.h5";
  c.data.val = s.dir + "/data/val.h5";
  c.data.test = s.dir + "/data/test.h5";
  c.data.tokenizer = s.dir + "/data/tokenizer.model";
  c.data.template_name = "plain";
  c.data.max_seq_len = 192;
  c.model.hidden_size = 32;
  c.model.intermediate_size = 64;
  c.model.num_hidden_layers = 2;
  c.model.num_attention_heads = 4;
  c.model.num_key_value_heads = 2;
  c.eval.max_new_tokens = 6;
  c.train.threads = 1;
  auto tok = prospect::load_tokenizer(c.data.tokenizer);
  prospect::DSTProActLlama m = prospect::make_dst_model_scratch(c.model, tok->vocab_size(), 64, 5);
  s.model = s.dir + "/model";
  prospect::save_dst_model(m, s.model);
  s.ini = s.dir + "/eval.ini";
  std::ofstream(s.ini) << prospect::to_ini(c);
  return s;
}

}  // namespace e2e
