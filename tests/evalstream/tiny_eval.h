// A small evaluation set-up, made once per test process: the synthetic dataset (tiny_store.h), a second
// one with 32-d embeddings, a random tiny DSTProActLlama saved as a model folder, and an INI pointing at
// them. The tests run prospect_eval on it as a user runs it (test_util.h).
#pragma once
#include <string>

#include "prospect/core/config.h"
#include "test_util.h"

namespace prospect::test {

struct TinyEval {
  std::string dir;     // this process's folder: the model, the INI, the outputs
  std::string data32;  // the dataset with 32-d embeddings (no tokenizer)
  std::string ini, model;
  Config cfg;
};

// Made on first use in build/<name>-<pid> (CTest runs cases as separate, possibly concurrent processes),
// removed at exit; the datasets are shared by every process. (tiny_eval.cpp, compiled once for the
// test programs that use it.)
const TinyEval& tiny_eval(const std::string& name);

}  // namespace prospect::test
