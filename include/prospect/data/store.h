// The embedding store of SPEC §2.2: one HDF5 file per split.
//   /embeddings    [N, D] float16 | float32, chunked by rows (kChunkRows x D)
//   /clip_offsets  [C+1] int64: rows of clip c are clip_offsets[c] .. clip_offsets[c+1]-1
//   /clips         [C] vlen UTF-8: one clip's JSON each
//   /clip_video    [C] int64: index into /video_uids (the unit of sharding)
//   /video_uids    [V] vlen UTF-8
//   attributes on /: format="prospect-store", version=1, embedding_dim, fps, feature_model
// Row of frame f of clip c = clip_offsets[c] + f - start_frame_idx. No torch here: frames come back as
// float32 in a caller buffer or a std::vector<float>.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "prospect/core/hdf5.h"
#include "prospect/data/clip.h"

namespace prospect {

inline constexpr const char* kStoreFormat = "prospect-store";
inline constexpr int64_t kStoreVersion = 1;
inline constexpr int64_t kChunkRows = 256;

// IEEE binary16 <-> float32 (round to nearest even; inf/nan kept).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
void half_to_float(const uint16_t* in, float* out, size_t n);  // F16C where the CPU has it

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
  Clip clip(int64_t c) const;                       // parsed (throws naming the store and clip index)
  std::vector<Clip> clips() const;                  // every clip parsed
  int64_t clip_video(int64_t c) const;              // index into video_uids()
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
  // True when rows are read straight from the file (uncompressed little-endian chunks; see store.cpp).
  bool direct_reads() const { return fd_ >= 0; }

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

 private:
  bool read_rows_direct(int64_t row0, int64_t n, void* raw) const;
  int64_t chunk_address(int64_t chunk) const;  // -1 when the chunk cannot be read directly
  StoreInfo info_;
  h5::File file_;
  h5::Dataset emb_;
  std::vector<int64_t> offsets_, clip_video_;
  std::vector<std::string> clips_, video_uids_;
  int fd_ = -1;                               // the file, for direct reads
  int64_t chunk_rows_ = 0;
  mutable std::vector<int64_t> chunk_addr_;   // per chunk: file offset; -2 unknown yet, -1 not direct
};

}  // namespace prospect
