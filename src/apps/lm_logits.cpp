// prospect_lm logits --model DIR --ids 1,2,3 [--out F.json]: the logits of an HF Llama folder for one
// sequence, every vocabulary entry at every position, as {"logits": [[...], ...]}. --adapter DIR applies
// a LoRA adapter in PEFT's layout (ours, a checkpoint folder, or one PEFT saved) on top of the model.
#include <ATen/ATen.h>
#include <torch/types.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "prospect/core/blas.h"
#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/model/llama.h"
#include "prospect/model/lora.h"
#include "subcommands.h"

namespace prospect::apps {

namespace po = boost::program_options;

namespace {
std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      usage_fail("--ids: '{}' is not a token id", item);
    }
    if (used != item.size() || v < 0) usage_fail("--ids: '{}' is not a token id", item);
    ids.push_back(v);
  }
  if (ids.empty()) usage_fail("--ids: at least one token id is required");
  return ids;
}
}  // namespace

int lm_logits(int argc, const char* const* argv) {
  return run_app([&] {
    std::string model_dir, ids_text, out, adapter_dir;
    po::options_description opts("options");
    opts.add_options()("help,h", "show this help")("model", po::value(&model_dir), "HF Llama folder (config.json + model.safetensors) (required)")(
        "ids", po::value(&ids_text), "comma-separated token ids, e.g. 1,2,3 (required)")(
        "adapter", po::value(&adapter_dir)->default_value("", "\"\""), "LoRA adapter folder in PEFT's layout (empty: none)")(
        "out", po::value(&out)->default_value("", "\"\""), "write the JSON here instead of stdout (empty: stdout)")(
        "threads", po::value<int>()->default_value(0), "intra-op threads (0: LibTorch's default)");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: " << argv[0] << " --model DIR [--adapter DIR] --ids 1,2,3 [--out F.json]\n" << opts;
      return 0;
    }
    if (model_dir.empty()) usage_fail("--model is required");
    if (ids_text.empty()) usage_fail("--ids is required");
    std::vector<int64_t> ids = parse_ids(ids_text);
    require_controlled_blas();
    if (vm["threads"].as<int>() > 0) at::set_num_threads(vm["threads"].as<int>());
    LlamaForCausalLM m = load_llama(model_dir);
    LoraAdapter adapter{nullptr};
    if (!adapter_dir.empty()) {
      check_adapter_base(adapter_dir, model_dir);
      adapter = load_peft_adapter(*m, adapter_dir);
      adapter->eval();
    }
    for (int64_t id : ids)
      if (id >= m->config.vocab_size) usage_fail("--ids: {} is out of the vocabulary (size {})", id, m->config.vocab_size);
    m->eval();
    torch::NoGradGuard ng;
    at::Tensor x = at::tensor(ids, at::kLong).unsqueeze(0);
    at::Tensor logits = m->forward(x)[0].contiguous();  // [T, V]
    std::string s;
    s.reserve(logits.numel() * 16);
    s += "{\"logits\": [";
    const float* p = logits.data_ptr<float>();
    char buf[32];
    for (int64_t t = 0; t < logits.size(0); ++t) {
      s += t ? ",\n[" : "\n[";
      for (int64_t v = 0; v < logits.size(1); ++v) {
        std::snprintf(buf, sizeof buf, v ? ", %.9g" : "%.9g", static_cast<double>(p[t * logits.size(1) + v]));
        s += buf;
      }
      s += "]";
    }
    s += "]}\n";
    if (out.empty()) {
      std::fwrite(s.data(), 1, s.size(), stdout);
    } else {
      write_file_atomic(out, s);
    }
    return 0;
  });
}

}  // namespace prospect::apps
