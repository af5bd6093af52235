// Building a store from clip JSON and per-clip .npy arrays (prospect_data build).
#pragma once
#include <cstdint>
#include <string>

#include "prospect/data/clip.h"

namespace prospect {

struct BuildOptions {
  std::string clips, embeddings, out;
  std::string name_template = "{video_uid}_{start_frame_idx}.npy";
  std::string dtype = "f16";  // f16 | f32
  double fps = 0;             // 0: from the clips (all must agree)
  std::string feature_model = "";
};

struct BuildSummary {
  int64_t clips = 0, videos = 0, frames = 0, dim = 0;
};

// "{video_uid}_{start_frame_idx}.npy" -> "vid_120.npy"
std::string clip_file_name(const std::string& name_template, const Clip& c);
BuildSummary build_store(const BuildOptions& o);

}  // namespace prospect
