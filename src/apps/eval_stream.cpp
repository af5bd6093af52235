// prospect_eval --config F --checkpoint DIR --split test --out DIR: streaming evaluation of a
// checkpoint on a split (SPEC §8), under mpirun for several ranks. Writes eval.json and
// predictions.jsonl into --out and prints the table.
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "prospect/core/blas.h"
#include "prospect/core/config.h"
#include "prospect/core/error.h"
#include "prospect/core/log.h"
#include "prospect/dist/communicator.h"
#include "prospect/eval/evaluate.h"
#include "prospect/train/checkpoint.h"
#include "subcommands.h"

namespace fs = std::filesystem;

namespace prospect::apps {

int eval_stream(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    std::string checkpoint, split, out, mode;
    bool sweep = false;
    po::options_description opts("prospect_eval");
    opts.add_options()
      ("checkpoint", po::value(&checkpoint)->default_value(""), "checkpoint folder (runs/X/checkpoints/latest) (required)")
      ("split", po::value(&split)->default_value("test"), "split to evaluate: train | val | test (data.<split>)")
      ("out", po::value(&out)->default_value(""), "output folder: eval.json, predictions.jsonl (required)")
      ("mode", po::value(&mode)->default_value("stream"),
       "stream (eval.json, predictions.jsonl) | teacher-forced (teacher_forced.json: heads and perplexity on the reference context)")
      ("threshold-sweep", po::bool_switch(&sweep),
       "teacher-forced: also the F1-optimal eval.speak_threshold and eval.dst_threshold on the split");
    po::variables_map vm;
    Config cfg;
    std::string usage = std::string("usage: ") + argv[0] +
                        " --config F --checkpoint DIR [--split test] --out DIR [--section.key=value ...]";
    if (!parse_args(argc, argv, usage, opts, &cfg, &vm)) return kExitOk;
    require_controlled_blas();
    if (checkpoint.empty()) usage_fail("--checkpoint is required");
    if (out.empty()) usage_fail("--out is required");
    if (split != "train" && split != "val" && split != "test")
      usage_fail("--split: expected train, val or test, found '{}'", split);
    if (mode != "stream" && mode != "teacher-forced")
      usage_fail("--mode: expected stream or teacher-forced, found '{}'", mode);
    if (sweep) mode = "teacher-forced";

    auto comm = make_communicator(cfg.dist.backend, false, cfg.dist.timeout_s);
    init_logging(comm->rank());

    eval::EvalSetup s;
    s.cfg = cfg;
    s.split = split;
    s.store_path = split == "train" ? cfg.data.train : split == "val" ? cfg.data.val : cfg.data.test;
    s.out_dir = out;
    if (!fs::is_directory(checkpoint)) fail("checkpoint folder not found: {}", checkpoint);
    s.checkpoint = fs::canonical(checkpoint).string();  // latest -> step-N
    // A checkpoint names its template and tokenizer (trainer.json); a bare model folder uses the config's.
    if (fs::exists(s.checkpoint + "/trainer.json")) {
      nlohmann::json tj = read_trainer_json(s.checkpoint);
      check_model_keys(cfg, tj, s.checkpoint);
      s.template_name = tj.value("template", cfg.data.template_name);
      s.tokenizer_path = s.checkpoint + "/" + tj.value("tokenizer", std::string());
      s.checkpoint_step = tj.value("step", int64_t{-1});
      if (!fs::exists(s.tokenizer_path)) fail("checkpoint {}: tokenizer file missing ({})", s.checkpoint, s.tokenizer_path);
    } else {
      s.template_name = cfg.data.template_name;
      s.tokenizer_path = cfg.data.tokenizer;
    }
    if (mode == "teacher-forced") {
      nlohmann::ordered_json j = eval::evaluate_teacher_forced(s, *comm, sweep);
      if (comm->rank() == 0) {
        j.erase("config");
        std::printf("%s\nwrote %s/teacher_forced.json\n", j.dump(2).c_str(), out.c_str());
      }
      return kExitOk;
    }
    auto res = eval::evaluate_stream(s, *comm);
    if (res) {
      std::printf("%s", eval::metrics_table(res->metrics).c_str());
      std::printf("wrote %s/eval.json and %s/predictions.jsonl\n", out.c_str(), out.c_str());
    }
    return kExitOk;
  });
}

}  // namespace prospect::apps
