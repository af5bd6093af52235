// tools/convert_prospect.py on fabricated PROSPECT pickles ([N,1,D] and [N,D]); the C++ reader must
// read the same rows and validate must pass.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "tiny_store.h"
#include "prospect/data/validate.h"

using namespace prospect;
using namespace prospect::test;

namespace {
const char* kMakePickles = R"PY(
import json, pickle, sys
import numpy as np
out = sys.argv[1]
clips = json.load(open(out + "/clips.json"))
for i, c in enumerate(clips):
    n = c["end_frame_idx"] - c["start_frame_idx"] + 1
    rows = (np.arange(n * 6, dtype=np.float32).reshape(n, 6) / 8.0 + i).astype(np.float32)
    a = rows.reshape(n, 1, 6) if i % 2 == 0 else rows.astype(np.float64)
    with open(f"{out}/{c['video_uid']}_{c['start_frame_idx']}_embeddings.pkl", "wb") as f:
        pickle.dump(a, f)
    np.save(f"{out}/{c['video_uid']}_{c['start_frame_idx']}.npy", a)
)PY";
}  // namespace

TEST(Convert, PicklesToStoreReadByCpp) {
  std::string dir = fresh_dir("data_convert");
  json clips = json::array({good_clip("va", 0, 19), good_clip("vb", 5, 34), good_clip("va", 20, 39)});
  std::ofstream(dir + "/clips.json") << clips.dump();
  std::ofstream(dir + "/make.py") << kMakePickles;
  auto mk = run_program("/usr/bin/python3 " + dir + "/make.py " + dir);
  ASSERT_EQ(mk.code, 0) << mk.output;
  std::string tool = std::string(PROSPECT_SOURCE_DIR) + "/tools/convert_prospect.py";
  for (std::string dtype : {"f32", "f16"}) {
    std::string out = dir + "/conv_" + dtype + ".h5";
    auto r = run_program("/usr/bin/python3 " + tool + " --clips " + dir + "/clips.json --embeddings " + dir + " --out " + out +
                 " --dtype " + dtype + " --feature-model siglip");
    ASSERT_EQ(r.code, 0) << r.output;
    Store s(out);
    EXPECT_EQ(s.num_clips(), 3);
    EXPECT_EQ(s.embedding_dim(), 6);
    EXPECT_EQ(s.info().fp16, dtype == "f16");
    EXPECT_EQ(s.info().feature_model, "siglip");
    EXPECT_EQ(s.video_uids(), (std::vector<std::string>{"va", "vb"}));
    EXPECT_EQ(s.clip_video(2), 0);
    for (int64_t c = 0; c < 3; ++c) {
      auto rows = s.read_clip(c);
      ASSERT_EQ(static_cast<int64_t>(rows.size()), s.clip(c).num_frames() * 6);
      for (size_t k = 0; k < rows.size(); ++k) ASSERT_EQ(rows[k], static_cast<float>(k) / 8.0f + c) << c << " " << k;
    }
    ValidationReport rep = validate_store(out);
    EXPECT_EQ(rep.errors, 0);
    auto v = run_program(binary_path("prospect_data") + " validate " + out);
    EXPECT_EQ(v.code, 0) << v.output;
  }
  // prospect_data build on the same arrays (.npy) gives the same rows.
  auto b = run_program(binary_path("prospect_data") + " build --clips " + dir + "/clips.json --embeddings " + dir + " --out " + dir +
               "/built.h5 --dtype f32");
  ASSERT_EQ(b.code, 0) << b.output;
  Store built(dir + "/built.h5"), conv(dir + "/conv_f32.h5");
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(built.read_clip(c), conv.read_clip(c));
  EXPECT_EQ(built.clip_offsets(), conv.clip_offsets());
}

TEST(Convert, WrongRowCountIsAnErrorNamingTheClip) {
  std::string dir = fresh_dir("data_convert_bad");
  json clips = json::array({good_clip("va", 0, 19), good_clip("vb", 5, 34)});
  std::ofstream(dir + "/clips.json") << clips.dump();
  std::ofstream(dir + "/make.py") << kMakePickles;
  ASSERT_EQ(run_program("/usr/bin/python3 " + dir + "/make.py " + dir).code, 0);
  clips[1]["end_frame_idx"] = 40;  // 36 frames, the arrays have 30
  std::ofstream(dir + "/clips.json") << clips.dump();
  std::string tool = std::string(PROSPECT_SOURCE_DIR) + "/tools/convert_prospect.py";
  auto r = run_program("/usr/bin/python3 " + tool + " --clips " + dir + "/clips.json --embeddings " + dir + " --out " + dir + "/x.h5");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("clip vb:5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("expected 36 rows"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.h5"));
  auto b = run_program(binary_path("prospect_data") + " build --clips " + dir + "/clips.json --embeddings " + dir + " --out " + dir + "/y.h5");
  EXPECT_EQ(b.code, 1) << b.output;
  EXPECT_NE(b.output.find("clip vb:5"), std::string::npos) << b.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/y.h5"));
}
