// prospect_lm merge --model BASE --adapter DIR --out DIR: an HF Llama folder with a LoRA adapter (PEFT's
// layout) merged into its weights, W + (alpha / r) B A, written as an HF folder transformers loads.
#include <ATen/ATen.h>
#include <torch/types.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <string>

#include "prospect/core/error.h"
#include "prospect/model/llama.h"
#include "prospect/model/lora.h"
#include "subcommands.h"

namespace prospect::apps {

namespace po = boost::program_options;

int lm_merge(int argc, const char* const* argv) {
  return run_app([&] {
    std::string model_dir, adapter_dir, out, dtype;
    po::options_description opts("options");
    opts.add_options()("help,h", "show this help")("model", po::value(&model_dir), "HF Llama folder: the base (required)")(
        "adapter", po::value(&adapter_dir), "LoRA adapter folder in PEFT's layout (required)")(
        "out", po::value(&out), "folder to write the merged model to (required)")(
        "dtype", po::value(&dtype)->default_value("fp32"), "dtype of the written weights: fp32 | bf16");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "usage: " << argv[0] << " --model BASE --adapter DIR --out DIR [--dtype fp32|bf16]\n" << opts;
      return 0;
    }
    if (model_dir.empty()) usage_fail("--model is required");
    if (adapter_dir.empty()) usage_fail("--adapter is required");
    if (out.empty()) usage_fail("--out is required");
    if (dtype != "fp32" && dtype != "bf16") usage_fail("--dtype: expected fp32 | bf16, found '{}'", dtype);
    check_adapter_base(adapter_dir, model_dir);
    LlamaForCausalLM m = load_llama(model_dir);
    LoraAdapter adapter = load_peft_adapter(*m, adapter_dir);
    adapter->merge_into(*m);
    save_llama(m, out, dtype == "bf16" ? at::kBFloat16 : at::kFloat);
    std::cout << "merged " << adapter_dir << " into " << model_dir << ": " << out << "\n";
    return 0;
  });
}

}  // namespace prospect::apps
