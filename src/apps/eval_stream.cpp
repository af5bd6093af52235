// prospect_eval --config F --checkpoint DIR --split test --out DIR: streaming evaluation of a
// checkpoint on a split (SPEC §8), under mpirun for several ranks. Writes eval.json and
// predictions.jsonl into --out and prints the table.
#include <cstdio>

#include "prospect/core/args.h"
#include "prospect/core/blas.h"
#include "prospect/core/error.h"
#include "prospect/core/log.h"
#include "prospect/distributed/communicator.h"
#include "prospect/eval/evaluate.h"
#include "subcommands.h"

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
    if (!parse_args(argc, argv, usage, opts, &cfg, &vm)) return int(kExitOk);
    require_controlled_blas();
    if (checkpoint.empty()) usage_fail("--checkpoint is required");
    if (out.empty()) usage_fail("--out is required");
    if (split != "train" && split != "val" && split != "test")
      usage_fail("--split: expected train, val or test, found '{}'", split);
    if (mode != "stream" && mode != "teacher-forced")
      usage_fail("--mode: expected stream or teacher-forced, found '{}'", mode);
    if (sweep) mode = "teacher-forced";

    // The host plane: evaluation exchanges host data only (results, counts); dist.backend is checked
    // against the device once it is known (open_eval_inputs).
    auto comm = make_communicator(cfg.dist.backend, cfg.dist.timeout_s);
    init_logging(comm->rank());

    return run_ranks(*comm, [&] {
      eval::EvalSetup s = eval::make_eval_setup(cfg, checkpoint, split, out);
      if (mode == "teacher-forced") {
        nlohmann::ordered_json j = eval::evaluate_teacher_forced(s, *comm, sweep);
        if (comm->rank() == 0) {
          j.erase("config");
          std::printf("%s\nwrote %s/teacher_forced.json\n", j.dump(2).c_str(), out.c_str());
        }
        return int(kExitOk);
      }
      auto res = eval::evaluate_stream(s, *comm);
      if (res) {
        std::printf("%s", eval::metrics_table(res->metrics).c_str());
        std::printf("wrote %s/eval.json and %s/predictions.jsonl\n", out.c_str(), out.c_str());
      }
      return int(kExitOk);
    });
  });
}

}  // namespace prospect::apps
