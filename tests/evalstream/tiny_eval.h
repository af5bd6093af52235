// A small evaluation set-up, made once per test process: the synthetic dataset (tiny_store.h), a second
// one with 32-d embeddings, a random tiny DSTProActLlama saved as a model folder, and an INI pointing at
// them. The tests run prospect_eval on it as a user runs it (test_util.h).
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include "prospect/core/config.h"
#include "prospect/model/dst_model.h"
#include "prospect/text/tokenizer.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tiny_store.h"

namespace prospect::test {

struct TinyEval {
  std::string dir;     // this process's folder: the model, the INI, the outputs
  std::string data32;  // the dataset with 32-d embeddings (no tokenizer)
  std::string ini, model;
  Config cfg;
};

// Made on first use in build/<name>-<pid> (CTest runs cases as separate, possibly concurrent processes),
// removed at exit; the datasets are shared by every process.
inline const TinyEval& tiny_eval(const std::string& name) {
  static TinyEval s;
  if (!s.dir.empty()) return s;
  s.dir = process_dir(name);
  const std::string data = synth_data("test_eval_data", 16, 64, 3);
  s.data32 = synth_data("test_eval_data32", 16, 32, 3, /*tokenizer=*/false);
  Config& c = s.cfg;
  c.data.train = data + "/train.h5";
  c.data.val = data + "/val.h5";
  c.data.test = data + "/test.h5";
  c.data.tokenizer = data + "/tokenizer.model";
  c.data.template_name = "plain";
  c.data.max_seq_len = 192;
  c.model = tiny_model_config();
  c.eval.max_new_tokens = 6;
  c.train.threads = 1;
  auto tok = load_tokenizer(c.data.tokenizer);
  DSTProActLlama m = make_dst_model_scratch(c.model, tok->vocab_size(), 64, 5);
  s.model = s.dir + "/model";
  save_dst_model(m, s.model);
  s.ini = s.dir + "/eval.ini";
  std::ofstream(s.ini) << to_ini(c);
  return s;
}

}  // namespace prospect::test
