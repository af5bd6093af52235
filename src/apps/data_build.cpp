// prospect_data build --clips F.json --embeddings DIR --out F.h5: one .npy per clip into one store.
#include <cstdio>

#include "data_args.h"
#include "prospect/data/build.h"
#include "subcommands.h"

namespace prospect::apps {

int data_build(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    BuildOptions o;
    po::options_description opts("build");
    opts.add_options()
      ("clips", po::value(&o.clips)->required(), "clip JSON (array, one object or JSON Lines) (required)")
      ("embeddings", po::value(&o.embeddings)->required(), "folder with one .npy per clip ([N, D] or [N, 1, D]; f16/f32/f64) (required)")
      ("out", po::value(&o.out)->required(), "the store to write (.h5) (required)")
      ("name-template", po::value(&o.name_template)->default_value(o.name_template),
       "file name of a clip's array; {video_uid} {start_frame_idx} {end_frame_idx} {clip_id} are filled in")
      ("dtype", po::value(&o.dtype)->default_value(o.dtype), "on-disk type: f16 | f32")
      ("fps", po::value(&o.fps)->default_value(o.fps, "0"), "frames per second (0: from the clips)")
      ("feature-model", po::value(&o.feature_model)->default_value(o.feature_model, shown_default(o.feature_model)),
       "name recorded in the store");
    po::variables_map vm;
    std::string usage = std::string("usage: ") + argv[0] + " --clips F.json --embeddings DIR --out F.h5 [options]";
    if (!parse_data_args(argc, argv, usage, opts, nullptr, vm)) return 0;
    BuildSummary s = build_store(o);
    std::printf("build: %s: %lld clips, %lld videos, %lld frames x %lld (%s)\n", o.out.c_str(), (long long)s.clips,
                (long long)s.videos, (long long)s.frames, (long long)s.dim, o.dtype.c_str());
    return 0;
  });
}

}  // namespace prospect::apps
