// Tiny stores for tests: a well-formed clip with every role, stores fabricated from clip JSON (valid
// or defective on purpose, rows of known values), and the synthetic dataset of prospect_data synth made
// once per build tree.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/core/hdf5.h"
#include "prospect/data/store.h"
#include "prospect/data/synth.h"

namespace prospect::test {

using json = nlohmann::json;

// A valid clip of frames start..end (inclusive) at 2 fps with steps S1, S2 and every role.
inline json good_clip(const std::string& vid = "v1", int64_t start = 0, int64_t end = 19) {
  auto turn = [](const char* role, json content, int64_t f) {
    return json{{"role", role}, {"content", content}, {"time", f / 2.0}, {"start_frame", f}, {"end_frame", f}};
  };
  json c = {{"video_uid", vid},
            {"inferred_goal", "make tea"},
            {"dataset", "test"},
            {"start_frame_idx", start},
            {"end_frame_idx", end},
            {"fps", 2.0},
            {"quality", 5},
            {"dst",
             json::array({{{"type", "step"}, {"id", "S1"}, {"name", "boil water"}, {"start_ts", (start + 2) / 2.0}, {"end_ts", (start + 8) / 2.0}},
                          {{"type", "step"}, {"id", "S2"}, {"name", "pour"}, {"start_ts", (start + 8) / 2.0}, {"end_ts", (start + 15) / 2.0}}})}};
  json conv = json::array();
  conv.push_back({{"role", "system"}, {"content", "Goal: make tea."}, {"time", 0}, {"start_frame", 0}, {"end_frame", 1}});
  conv.push_back(turn("DST_UPDATE", json::array({{{"id", "S1"}, {"transition", "start"}}}), start + 2));
  conv.push_back(turn("assistant", "Boil the water.", start + 2));
  conv.push_back(turn("user", "What next?", start + 5));
  conv.push_back(turn("assistant", "Wait for the kettle.", start + 5));
  conv.push_back(turn("DST_UPDATE", json::array({{{"id", "S1"}, {"transition", "complete"}}}), start + 8));
  conv.push_back(turn("DST_UPDATE", json::array({{{"id", "S2"}, {"transition", "start"}}}), start + 8));
  conv.push_back(turn("assistant", "Now pour.", start + 8));
  conv.push_back(turn("DST_UPDATE", json::array({{{"id", "S2"}, {"transition", "complete"}}}), start + 15));
  c["conversation"] = conv;
  return c;
}

// Row r of a fabricated store: value = clip * 1000 + frame + d / 64 (exact in fp16 for small stores).
inline std::vector<float> rows_for(int64_t clip, int64_t first_frame, int64_t n, int64_t dim) {
  std::vector<float> v(n * dim);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < dim; ++d) v[r * dim + d] = static_cast<float>(clip * 100 + (first_frame + r) % 100) + d / 64.0f;
  return v;
}

struct StoreClip {
  std::string text;  // the JSON as stored
  std::string video;
  int64_t rows = -1;  // -1: the clip's frame count
};

inline StoreClip sc(const json& c, int64_t rows = -1) {
  return {c.dump(), c.value("video_uid", std::string("v?")), rows};
}

inline void write_store(const std::string& path, const std::vector<StoreClip>& clips, int64_t dim = 8, bool fp16 = false,
                        double fps = 2.0) {
  StoreWriter w(path, dim, fps, "test-features", fp16);
  for (size_t i = 0; i < clips.size(); ++i) {
    int64_t rows = clips[i].rows;
    int64_t first = 0;
    if (rows < 0) {
      json j = json::parse(clips[i].text);
      rows = j["end_frame_idx"].get<int64_t>() - j["start_frame_idx"].get<int64_t>() + 1;
      first = j["start_frame_idx"].get<int64_t>();
    }
    auto v = rows_for(static_cast<int64_t>(i), first, rows, dim);
    w.add_clip_json(clips[i].text, clips[i].video, v.data(), rows);
  }
  w.close();
}

// The synthetic dataset (data/synth.h) of `videos` videos with `dim`-d features in build/<name>, made
// once: written aside and renamed, so test processes running in parallel never see half of one.
inline std::string synth_data(const std::string& name, int videos, int dim, uint64_t seed = 1, bool tokenizer = true,
                              bool progress = false) {
  namespace fs = std::filesystem;
  std::string d = std::string(PROSPECT_BINARY_DIR) + "/" + name;
  if (fs::exists(d)) return d;
  std::string tmp = d + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  SynthOptions o;
  o.out = tmp;
  o.videos = videos;
  o.dim = dim;
  o.seed = seed;
  o.tokenizer = tokenizer;
  o.progress = progress;
  synth_dataset(o);
  std::error_code ec;
  fs::rename(tmp, d, ec);
  if (ec) fs::remove_all(tmp);  // another process was first
  return d;
}

// A store in the version 1 layout (SPEC §2.2 before version 2), written with the plain HDF5 API as
// older programs wrote it: /clips and /video_uids as variable-length strings, contiguous index
// datasets, variable-length string attributes, HDF5's oldest file format.
inline void write_store_v1(const std::string& path, const std::vector<StoreClip>& clips, int64_t dim = 8,
                           double fps = 2.0) {
  std::vector<int64_t> offsets{0}, clip_video;
  std::vector<std::string> texts, videos;
  std::vector<float> rows;
  for (size_t i = 0; i < clips.size(); ++i) {
    json j = json::parse(clips[i].text, nullptr, false);
    int64_t n = clips[i].rows, first = 0;
    if (n < 0) {
      first = j["start_frame_idx"].get<int64_t>();
      n = j["end_frame_idx"].get<int64_t>() - first + 1;
    }
    auto v = rows_for(static_cast<int64_t>(i), first, n, dim);
    rows.insert(rows.end(), v.begin(), v.end());
    offsets.push_back(offsets.back() + n);
    texts.push_back(clips[i].text);
    size_t k = std::find(videos.begin(), videos.end(), clips[i].video) - videos.begin();
    if (k == videos.size()) videos.push_back(clips[i].video);
    clip_video.push_back(static_cast<int64_t>(k));
  }
  hid_t fid = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(fid, 0);
  h5::File f(fid, path);
  hsize_t dims[2] = {static_cast<hsize_t>(offsets.back()), static_cast<hsize_t>(dim)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(dim)};
  hsize_t chunk[2] = {static_cast<hsize_t>(kChunkRows), static_cast<hsize_t>(dim)};
  h5::Space space(H5Screate_simple(2, dims, maxdims));
  h5::Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(dcpl.id(), 2, chunk);
  h5::Dataset emb(H5Dcreate2(f.id(), "embeddings", H5T_IEEE_F32LE, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                  "embeddings");
  ASSERT_GE(emb.id(), 0);
  if (!rows.empty()) ASSERT_GE(H5Dwrite(emb.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
  auto contiguous_int64 = [&](const char* name, const std::vector<int64_t>& v) {
    hsize_t n = v.size();
    h5::Space s(H5Screate_simple(1, &n, nullptr));
    h5::Dataset d(H5Dcreate2(f.id(), name, H5T_STD_I64LE, s.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
    if (n) H5Dwrite(d.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  };
  contiguous_int64("clip_offsets", offsets);
  contiguous_int64("clip_video", clip_video);
  h5::write_strings(f, "clips", texts);
  h5::write_strings(f, "video_uids", videos);
  auto vlen_attr = [&](const char* name, const std::string& value) {
    h5::Type t = h5::vlen_utf8_type();
    h5::Space s(H5Screate(H5S_SCALAR));
    h5::Attribute a(H5Acreate2(f.id(), name, t.id(), s.id(), H5P_DEFAULT, H5P_DEFAULT));
    const char* p = value.c_str();
    H5Awrite(a.id(), t.id(), &p);
  };
  vlen_attr("format", "prospect-store");
  h5::set_attr(f, "version", int64_t{1});
  h5::set_attr(f, "embedding_dim", dim);
  h5::set_attr(f, "fps", fps);
  vlen_attr("feature_model", "old-features");
}

inline void write_file_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace prospect::test
