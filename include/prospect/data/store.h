// The embedding store of SPEC §2.2: one HDF5 file per split. Version 2 (written here):
//   /embeddings         [N, D] float16 | float32, chunked by rows (kChunkRows x D), no filters
//   /clip_offsets       [C+1] int64: rows of clip c are clip_offsets[c] .. clip_offsets[c+1]-1
//   /clip_video         [C] int64: index into the video uids (the unit of sharding)
//   /clip_json          [B] uint8: every clip's JSON (UTF-8), one after another
//   /clip_json_offsets  [C+1] int64: clip c's JSON is bytes clip_json_offsets[c] .. clip_json_offsets[c+1]-1
//   /video_uid_text     [U] uint8 and /video_uid_offsets [V+1] int64: the video uids, the same way
//   attributes on /: format="prospect-store", version=2, embedding_dim, fps, feature_model
// Every dataset but /embeddings is chunked with Fletcher32 checksums, strings are fixed-length, and the
// file uses HDF5's checksummed 1.10 format: damage is a read error, never garbage or a crash (version
// 1 kept texts as variable-length strings, which HDF5 reads from its global heap unchecked).
// Version 1 (/clips and /video_uids as variable-length UTF-8 strings) is still read.
// Row of frame f of clip c = clip_offsets[c] + f - start_frame_idx. No torch here: frames come back as
// float32 in a caller buffer or a std::vector<float>.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "prospect/core/hdf5.h"
#include "prospect/data/clip.h"
#include "prospect/data/half.h"

namespace prospect {

inline constexpr const char* kStoreFormat = "prospect-store";
inline constexpr int64_t kStoreVersion = 2;       // what StoreWriter writes
inline constexpr int64_t kOldestStoreVersion = 1;  // the oldest Store reads
inline constexpr int64_t kChunkRows = 256;

class DirectReader;  // store_direct.h

struct StoreInfo {
  std::string path;
  int64_t num_clips = 0, num_rows = 0, num_videos = 0;
  int64_t embedding_dim = 0;       // D of /embeddings' shape
  int64_t embedding_dim_attr = 0;  // the attribute (validate compares the two)
  bool fp16 = false;               // on-disk type of /embeddings
  double fps = 0;
  std::string feature_model;
  int64_t version = 0;
};

// Writes a store: clips are appended with their rows; close() writes the index and the attributes.
// The file is written under path + ".tmp" and renamed by close(), so a store that exists is complete;
// a writer destroyed without close() (an error on the way) removes its temporary file.
class StoreWriter {
 public:
  StoreWriter(const std::string& path, int64_t embedding_dim, double fps, const std::string& feature_model,
              bool fp16 = true);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // rows: n x embedding_dim float32, row-major (frame order).
  void add_clip(const Clip& clip, const float* rows, int64_t n);
  // Raw form (tests fabricate defective stores with it): the JSON text is stored as given.
  void add_clip_json(const std::string& json_text, const std::string& video_uid, const float* rows, int64_t n);
  void close();
  int64_t num_clips() const { return static_cast<int64_t>(clips_.size()); }

 private:
  std::string path_, tmp_path_;
  int64_t dim_;
  double fps_;
  std::string feature_model_;
  bool fp16_;
  h5::File file_;
  h5::Dataset emb_;
  int64_t rows_ = 0;
  std::vector<int64_t> offsets_{0};
  std::vector<std::string> clips_;
  std::vector<int64_t> clip_video_;
  std::vector<std::string> video_uids_;
  bool closed_ = false;
};

// Reads a store (opened read-only; one file shared by every rank). The index (offsets, clip JSON,
// videos) is read at open; frames are read on demand, one hyperslab per call. Thread-safe (calls
// into HDF5 are serialized).
class Store {
 public:
  // Errors: missing file, not HDF5, truncated, not a prospect store, broken index; each names the path.
  explicit Store(const std::string& path);
  const StoreInfo& info() const { return info_; }
  const std::string& path() const { return info_.path; }
  int64_t num_clips() const { return info_.num_clips; }
  int64_t embedding_dim() const { return info_.embedding_dim; }
  double fps() const { return info_.fps; }

  const std::string& clip_json(int64_t c) const;    // the stored text
  Clip clip(int64_t c) const;                       // parsed (throws naming the store, clip index and video)
  std::vector<Clip> clips() const;                  // every clip parsed
  int64_t clip_video(int64_t c) const;              // index into video_uids()
  const std::string& clip_video_uid(int64_t c) const { return video_uids_[clip_video(c)]; }
  const std::vector<std::string>& video_uids() const { return video_uids_; }
  const std::vector<int64_t>& clip_offsets() const { return offsets_; }
  int64_t clip_rows(int64_t c) const { return offsets_.at(c + 1) - offsets_.at(c); }

  // All rows of clip c, as float32 [clip_rows(c), D]: one hyperslab read.
  std::vector<float> read_clip(int64_t c) const;
  void read_clip(int64_t c, float* out) const;
  // Frames first..last (video-absolute, inclusive) of clip c, into out [last-first+1, D].
  void read_frames(int64_t c, int64_t first, int64_t last, float* out) const;
  std::vector<float> read_frames(int64_t c, int64_t first, int64_t last) const;
  // Rows [row0, row0 + n) of /embeddings.
  void read_rows(int64_t row0, int64_t n, float* out) const;
  // True when rows are read straight from the file (uncompressed little-endian chunks; store_direct.h).
  bool direct_reads() const { return direct_ != nullptr; }

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

 private:
  StoreInfo info_;
  h5::File file_;
  h5::Dataset emb_;
  std::vector<int64_t> offsets_, clip_video_;
  std::vector<std::string> clips_, video_uids_;
  std::unique_ptr<DirectReader> direct_;  // null: rows come through H5Dread
};

}  // namespace prospect
