#include "prospect/data/build.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "prospect/core/file.h"
#include "prospect/core/error.h"
#include "prospect/data/npy.h"
#include "prospect/data/store.h"

namespace prospect {

std::string clip_file_name(const std::string& t, const Clip& c) {
  std::string s = t;
  auto sub = [&](const std::string& key, const std::string& v) {
    for (size_t p; (p = s.find(key)) != std::string::npos;) s.replace(p, key.size(), v);
  };
  sub("{video_uid}", c.video_uid);
  sub("{start_frame_idx}", std::to_string(c.start_frame_idx));
  sub("{end_frame_idx}", std::to_string(c.end_frame_idx));
  sub("{clip_id}", c.file_stem());
  return s;
}

BuildSummary build_store(const BuildOptions& o) {
  if (o.dtype != "f16" && o.dtype != "f32") usage_fail("--dtype: expected f16 or f32, found '{}'", o.dtype);
  std::string text;
  if (!read_file(o.clips, &text)) fail("{}: cannot open the clip file", o.clips);
  std::vector<Clip> clips = parse_clips(text, o.clips);
  if (clips.empty()) fail("{}: no clips", o.clips);
  if (!std::filesystem::is_directory(o.embeddings)) fail("{}: not a folder (--embeddings)", o.embeddings);
  double fps = o.fps;
  if (fps <= 0) {
    for (const auto& c : clips) {
      if (c.fps <= 0) fail("{}: clip {} has no fps and --fps is not given", o.clips, c.id());
      if (fps > 0 && c.fps != fps) fail("{}: clips disagree on fps ({} vs {}): give --fps", o.clips, fps, c.fps);
      fps = c.fps;
    }
  }
  std::unique_ptr<StoreWriter> w;
  BuildSummary s;
  std::set<std::string> videos;
  for (const auto& c : clips) {
    std::string file = (std::filesystem::path(o.embeddings) / clip_file_name(o.name_template, c)).string();
    if (!std::filesystem::exists(file)) fail("clip {}: embeddings file {} is missing", c.id(), file);
    NpyArray a = read_npy(file);
    if (a.shape.size() == 3 && a.shape[1] == 1) a.shape.erase(a.shape.begin() + 1);  // [N, 1, D]: SigLIP CLS
    if (a.shape.size() != 2)
      fail("clip {}: {}: expected shape [N, D] or [N, 1, D], found rank {}", c.id(), file, a.shape.size());
    int64_t n = a.shape[0], d = a.shape[1];
    if (n != c.num_frames())
      fail("clip {}: {}: expected {} rows (frames {}..{}), found {}", c.id(), file, c.num_frames(), c.start_frame_idx,
           c.end_frame_idx, n);
    if (!w) {
      s.dim = d;
      w = std::make_unique<StoreWriter>(o.out, d, fps, o.feature_model, o.dtype == "f16");
    } else if (d != s.dim) {
      fail("clip {}: {}: expected embedding dim {} (as the first clip), found {}", c.id(), file, s.dim, d);
    }
    w->add_clip(c, a.data.data(), n);
    s.frames += n;
    ++s.clips;
    videos.insert(c.video_uid);
  }
  w->close();
  s.videos = static_cast<int64_t>(videos.size());
  return s;
}

}  // namespace prospect
