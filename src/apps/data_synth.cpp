// prospect_data synth: the learnable synthetic dataset (stores + clip JSON + tokenizer).
#include <fmt/format.h>

#include <cstdio>

#include "prospect/core/args.h"
#include "prospect/core/error.h"
#include "prospect/data/synth.h"
#include "subcommands.h"

namespace prospect::apps {

int data_synth(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    SynthOptions o;
    int64_t seed = static_cast<int64_t>(o.seed);
    std::string dtype = o.fp16 ? "f16" : "f32";
    po::options_description opts("synth");
    opts.add_options()
      ("out", po::value(&o.out)->default_value(o.out), "output directory (train.h5, val.h5, test.h5, *.json, tokenizer.model)")
      ("videos", po::value(&o.videos)->default_value(o.videos), "videos in all splits (val and test get 1/8 each)")
      ("dim", po::value(&o.dim)->default_value(o.dim), "embedding dimension")
      ("seed", po::value(&seed)->default_value(seed), "random seed (same seed, same dataset)")
      ("fps", po::value(&o.fps)->default_value(o.fps, fmt::format("{}", o.fps)), "frames per second")
      ("noise", po::value(&o.noise)->default_value(o.noise, fmt::format("{}", o.noise)), "per-frame noise (prototypes have unit variance)")
      ("question-rate", po::value(&o.question_rate)->default_value(o.question_rate, fmt::format("{}", o.question_rate)), "chance of a user question per step")
      ("vocab", po::value(&o.vocab_size)->default_value(o.vocab_size), "tokenizer vocabulary size (upper bound)")
      ("dtype", po::value(&dtype)->default_value(dtype), "on-disk embedding type: f16 | f32")
      ("no-tokenizer", po::bool_switch(), "do not train the tokenizer")
      ("progress", po::bool_switch(), "assistant turns carry progress summaries (training adds summary turns)");
    po::variables_map vm;
    if (!parse_args(argc, argv, std::string("usage: ") + argv[0] + " --out DIR [options]", opts, nullptr, &vm)) return 0;
    if (dtype != "f16" && dtype != "f32") usage_fail("--dtype: expected f16 or f32, found '{}'", dtype);
    o.fp16 = dtype == "f16";
    o.seed = static_cast<uint64_t>(seed);
    o.tokenizer = !vm["no-tokenizer"].as<bool>();
    o.progress = vm["progress"].as<bool>();
    SynthSummary s = synth_dataset(o);
    std::printf("synth: %s: train %lld clips (%lld videos, %lld frames), val %lld clips, test %lld clips, dim %d%s\n",
                o.out.c_str(), (long long)s.clips[0], (long long)s.videos[0], (long long)s.frames[0],
                (long long)s.clips[1], (long long)s.clips[2], o.dim, o.tokenizer ? ", tokenizer.model" : "");
    return 0;
  });
}

}  // namespace prospect::apps
