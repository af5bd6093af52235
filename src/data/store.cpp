// Reads a store (SPEC §2.2): the attributes and the index at open, every size checked before it is
// used; rows on demand (straight from the file where the layout allows: store_direct.h).
#include <fmt/format.h>

#include <algorithm>

#include "prospect/core/error.h"
#include "prospect/data/store.h"
#include "store_direct.h"

namespace prospect {

namespace {

// An offsets dataset: starts at 0, never decreases, ends at `total` (what it indexes).
void check_offsets(const std::string& path, const char* name, const std::vector<int64_t>& off, size_t entries,
                   int64_t total, const char* total_what) {
  if (off.size() != entries + 1)
    fail("{}: /{} has {} entries, expected {} (one more than the {} it indexes)", path, name, off.size(), entries + 1,
         entries);
  if (off[0] != 0) fail("{}: /{}[0] is {}, expected 0", path, name, off[0]);
  for (size_t i = 0; i + 1 < off.size(); ++i)
    if (off[i + 1] < off[i]) fail("{}: /{} decreases at entry {} ({} -> {})", path, name, i, off[i], off[i + 1]);
  if (off.back() != total) fail("{}: /{} ends at {}, expected {} ({})", path, name, off.back(), total, total_what);
}

// Version 2 texts: a byte dataset cut by an offsets dataset.
std::vector<std::string> read_texts(const h5::File& f, const char* bytes_name, const char* offsets_name) {
  std::vector<int64_t> off = h5::read_int64(f, offsets_name);
  std::string bytes = h5::read_bytes(f, bytes_name);
  if (off.empty()) fail("{}: /{} is empty, expected at least one entry", f.path, offsets_name);
  check_offsets(f.path, offsets_name, off, off.size() - 1, static_cast<int64_t>(bytes.size()),
                fmt::format("the bytes of /{}", bytes_name).c_str());
  std::vector<std::string> out;
  out.reserve(off.size() - 1);
  for (size_t i = 0; i + 1 < off.size(); ++i) out.emplace_back(bytes, static_cast<size_t>(off[i]), static_cast<size_t>(off[i + 1] - off[i]));
  return out;
}

}  // namespace

Store::Store(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  info_.path = path;
  file_ = h5::open_read(path);
  if (!h5::has_attr(file_, "format")) fail("{}: not a prospect store (no 'format' attribute on /)", path);
  std::string format = h5::attr_string(file_, "format");
  if (format != kStoreFormat) fail("{}: not a prospect store: format is '{}', expected '{}'", path, format, kStoreFormat);
  info_.version = h5::attr_int(file_, "version");
  if (info_.version < kOldestStoreVersion || info_.version > kStoreVersion)
    fail("{}: unsupported store version {}, expected {} to {}", path, info_.version, kOldestStoreVersion, kStoreVersion);
  info_.embedding_dim_attr = h5::attr_int(file_, "embedding_dim");
  info_.fps = h5::attr_double(file_, "fps");
  info_.feature_model = h5::has_attr(file_, "feature_model") ? h5::attr_string(file_, "feature_model") : "";

  h5::Dataset probe = h5::open_dataset(file_, "embeddings");
  auto dims = h5::shape(probe, file_);
  if (dims.size() != 2) fail("{}: /embeddings: expected [N, D], found rank {}", path, dims.size());
  h5::Type t = h5::file_type(probe);
  size_t tsize = H5Tget_size(t.id());
  if (H5Tget_class(t.id()) != H5T_FLOAT || (tsize != 2 && tsize != 4))
    fail("{}: /embeddings: expected float16 or float32, found a {}-byte {}", path, tsize,
         H5Tget_class(t.id()) == H5T_FLOAT ? "float" : "non-float type");
  // Every later allocation follows from N and D: they must fit the file.
  const uint64_t bound = h5::max_data_bytes(file_, probe);
  if (dims[1] == 0 || dims[1] > bound / tsize || dims[0] > bound / tsize / dims[1])
    fail("{}: /embeddings: {} x {} values of {} bytes do not fit a file of {} bytes (damaged?)", path, dims[0], dims[1],
         tsize, file_.bytes);
  info_.fp16 = tsize == 2;
  info_.num_rows = static_cast<int64_t>(dims[0]);
  info_.embedding_dim = static_cast<int64_t>(dims[1]);
  probe.reset();
  // Opened with a chunk cache that holds several chunks, so consecutive clips of a chunk read it once.
  size_t row_bytes = static_cast<size_t>(info_.embedding_dim) * tsize;
  size_t chunk_bytes = row_bytes * kChunkRows;
  emb_ = h5::open_dataset(file_, "embeddings", std::max<size_t>(8 * chunk_bytes, 8u << 20));

  offsets_ = h5::read_int64(file_, "clip_offsets");
  clip_video_ = h5::read_int64(file_, "clip_video");
  if (info_.version == 1) {
    clips_ = h5::read_strings(file_, "clips");
    video_uids_ = h5::read_strings(file_, "video_uids");
  } else {
    clips_ = read_texts(file_, "clip_json", "clip_json_offsets");
    video_uids_ = read_texts(file_, "video_uid_text", "video_uid_offsets");
  }
  info_.num_clips = static_cast<int64_t>(clips_.size());
  info_.num_videos = static_cast<int64_t>(video_uids_.size());
  check_offsets(path, "clip_offsets", offsets_, clips_.size(), info_.num_rows, "rows of /embeddings");
  if (clip_video_.size() != clips_.size())
    fail("{}: /clip_video has {} entries, expected {} (one per clip)", path, clip_video_.size(), clips_.size());
  for (size_t c = 0; c < clip_video_.size(); ++c)
    if (clip_video_[c] < 0 || clip_video_[c] >= info_.num_videos)
      fail("{}: /clip_video[{}] is {}, expected 0..{}", path, c, clip_video_[c], info_.num_videos - 1);

  direct_ = DirectReader::open(path, emb_, info_.num_rows, info_.embedding_dim, tsize);
}

Store::~Store() {
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  direct_.reset();
  emb_.reset();
  file_.reset();
}

const std::string& Store::clip_json(int64_t c) const {
  if (c < 0 || c >= info_.num_clips) fail("{}: clip index {} out of range 0..{}", info_.path, c, info_.num_clips - 1);
  return clips_[c];
}

Clip Store::clip(int64_t c) const {
  const std::string& text = clip_json(c);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: clip {} (video {}): the stored text is not valid JSON: {}", info_.path, c, clip_video_uid(c), e.what());
  }
  return parse_clip(j, fmt::format("{}: clip {} (video {})", info_.path, c, clip_video_uid(c)));
}

std::vector<Clip> Store::clips() const {
  std::vector<Clip> out;
  out.reserve(clips_.size());
  for (int64_t c = 0; c < info_.num_clips; ++c) out.push_back(clip(c));
  return out;
}

int64_t Store::clip_video(int64_t c) const {
  clip_json(c);  // range check
  return clip_video_[c];
}

void Store::read_rows(int64_t row0, int64_t n, float* out) const {
  if (row0 < 0 || n < 0 || row0 + n > info_.num_rows)
    fail("{}: rows {}..{} out of range (the store has {})", info_.path, row0, row0 + n - 1, info_.num_rows);
  if (n == 0) return;
  const size_t total = static_cast<size_t>(n * info_.embedding_dim);
  // fp16 is read as its bits and widened here (no HDF5 soft conversion); one buffer per thread.
  thread_local std::vector<uint16_t> half_buf;
  if (info_.fp16 && half_buf.size() < total) half_buf.resize(total);
  void* raw = info_.fp16 ? static_cast<void*>(half_buf.data()) : static_cast<void*>(out);
  if (!direct_ || !direct_->read(row0, n, raw)) {
    std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
    const hsize_t D = static_cast<hsize_t>(info_.embedding_dim);
    h5::Space fspace(h5::check(H5Dget_space(emb_.id()), info_.path + ": /embeddings space"));
    hsize_t start[2] = {static_cast<hsize_t>(row0), 0}, count[2] = {static_cast<hsize_t>(n), D};
    h5::check_status(H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr), "hyperslab");
    h5::Space mspace(h5::check(H5Screate_simple(2, count, nullptr), "memory space"));
    std::string what = fmt::format("{}: reading /embeddings rows {}..{}", info_.path, row0, row0 + n - 1);
    h5::Type mt = info_.fp16 ? h5::float16_type() : h5::Type(H5Tcopy(H5T_NATIVE_FLOAT));
    h5::check_status(H5Dread(emb_.id(), mt.id(), mspace.id(), fspace.id(), H5P_DEFAULT, raw), what);
  }
  if (info_.fp16) half_to_float(half_buf.data(), out, total);
}

void Store::read_clip(int64_t c, float* out) const {
  clip_json(c);
  read_rows(offsets_[c], offsets_[c + 1] - offsets_[c], out);
}

std::vector<float> Store::read_clip(int64_t c) const {
  clip_json(c);
  std::vector<float> v(static_cast<size_t>(clip_rows(c) * info_.embedding_dim));
  read_clip(c, v.data());
  return v;
}

void Store::read_frames(int64_t c, int64_t first, int64_t last, float* out) const {
  Clip cl = clip(c);
  if (first < cl.start_frame_idx || last > cl.end_frame_idx || first > last)
    fail("{}: clip {} ({}): frames {}..{} outside the clip's {}..{}", info_.path, c, cl.id(), first, last,
         cl.start_frame_idx, cl.end_frame_idx);
  int64_t row0 = offsets_[c] + first - cl.start_frame_idx;
  if (row0 + (last - first + 1) > offsets_[c + 1])
    fail("{}: clip {} ({}): frames {}..{} beyond its {} stored rows", info_.path, c, cl.id(), first, last, clip_rows(c));
  read_rows(row0, last - first + 1, out);
}

std::vector<float> Store::read_frames(int64_t c, int64_t first, int64_t last) const {
  std::vector<float> v(static_cast<size_t>(std::max<int64_t>(0, last - first + 1) * info_.embedding_dim));
  read_frames(c, first, last, v.data());
  return v;
}

}  // namespace prospect
