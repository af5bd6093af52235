// HDF5 embedding store (SPEC §2.2): writer and reader.
#include "prospect/data/store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "prospect/core/error.h"

namespace prospect {

// ---- binary16 ----

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));  // inf / nan
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {                                                  // subnormal half or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    man |= 0x800000u;
    int shift = 14 - e;
    uint32_t h = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // may carry into the exponent: still right
  return static_cast<uint16_t>(sign | h);
}

namespace {
float half_to_float_slow(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (man == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (man << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

const std::vector<float>& half_table() {
  static const std::vector<float> t = [] {
    std::vector<float> v(65536);
    for (uint32_t i = 0; i < 65536; ++i) v[i] = half_to_float_slow(static_cast<uint16_t>(i));
    return v;
  }();
  return t;
}
}  // namespace

float half_to_float(uint16_t h) { return half_table()[h]; }

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) static void half_to_float_f16c(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  const float* table = half_table().data();
  for (; i < n; ++i) out[i] = table[in[i]];
}
#endif

void half_to_float(const uint16_t* in, float* out, size_t n) {
#if defined(__x86_64__)
  static const bool f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  if (f16c) return half_to_float_f16c(in, out, n);
#endif
  const float* table = half_table().data();
  for (size_t i = 0; i < n; ++i) out[i] = table[in[i]];
}

// ---- writer ----

StoreWriter::StoreWriter(const std::string& path, int64_t embedding_dim, double fps, const std::string& feature_model,
                         bool fp16)
    : path_(path), tmp_path_(path + ".tmp"), dim_(embedding_dim), fps_(fps), feature_model_(feature_model), fp16_(fp16) {
  if (dim_ <= 0) fail("{}: embedding_dim must be positive, found {}", path, dim_);
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  file_ = h5::create(tmp_path_);
  file_.path = path;
  hsize_t dims[2] = {0, static_cast<hsize_t>(dim_)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(dim_)};
  hsize_t chunk[2] = {static_cast<hsize_t>(kChunkRows), static_cast<hsize_t>(dim_)};
  h5::Space space(h5::check(H5Screate_simple(2, dims, maxdims), "embeddings space"));
  h5::Plist dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "dataset create list"));
  h5::check_status(H5Pset_chunk(dcpl.id(), 2, chunk), path + ": chunking");
  h5::Plist dapl(h5::check(H5Pcreate(H5P_DATASET_ACCESS), "dataset access list"));
  size_t chunk_bytes = static_cast<size_t>(kChunkRows * dim_ * (fp16_ ? 2 : 4));
  h5::check_status(H5Pset_chunk_cache(dapl.id(), 12421, 4 * chunk_bytes, 1.0), path + ": chunk cache");
  h5::Type t = fp16_ ? h5::float16_type() : h5::Type(H5Tcopy(H5T_IEEE_F32LE));
  emb_ = h5::Dataset(H5Dcreate2(file_.id(), "embeddings", t.id(), space.id(), H5P_DEFAULT, dcpl.id(), dapl.id()),
                     "/embeddings");
  if (emb_.id() < 0) h5::throw_error(path + ": cannot create /embeddings");
}

StoreWriter::~StoreWriter() {
  if (closed_) return;
  // Not closed (an error on the way): leave nothing behind rather than a partial store.
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  emb_.reset();
  file_.reset();
  std::error_code ec;
  std::filesystem::remove(tmp_path_, ec);
}

void StoreWriter::add_clip(const Clip& clip, const float* rows, int64_t n) {
  add_clip_json(clip_to_json(clip).dump(), clip.video_uid, rows, n);
}

void StoreWriter::add_clip_json(const std::string& json_text, const std::string& video_uid, const float* rows, int64_t n) {
  if (closed_) fail("{}: add_clip after close", path_);
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  if (n > 0) {
    hsize_t new_dims[2] = {static_cast<hsize_t>(rows_ + n), static_cast<hsize_t>(dim_)};
    h5::check_status(H5Dset_extent(emb_.id(), new_dims), path_ + ": growing /embeddings");
    h5::Space fspace(h5::check(H5Dget_space(emb_.id()), "embeddings space"));
    hsize_t start[2] = {static_cast<hsize_t>(rows_), 0}, count[2] = {static_cast<hsize_t>(n), static_cast<hsize_t>(dim_)};
    h5::check_status(H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr), "hyperslab");
    h5::Space mspace(h5::check(H5Screate_simple(2, count, nullptr), "memory space"));
    if (fp16_) {
      std::vector<uint16_t> h(static_cast<size_t>(n * dim_));
      for (size_t i = 0; i < h.size(); ++i) h[i] = float_to_half(rows[i]);
      h5::Type t = h5::float16_type();
      h5::check_status(H5Dwrite(emb_.id(), t.id(), mspace.id(), fspace.id(), H5P_DEFAULT, h.data()),
                       path_ + ": writing /embeddings");
    } else {
      h5::check_status(H5Dwrite(emb_.id(), H5T_NATIVE_FLOAT, mspace.id(), fspace.id(), H5P_DEFAULT, rows),
                       path_ + ": writing /embeddings");
    }
    rows_ += n;
  }
  offsets_.push_back(rows_);
  clips_.push_back(json_text);
  size_t v = 0;
  while (v < video_uids_.size() && video_uids_[v] != video_uid) ++v;  // few videos per store: linear is fine
  if (v == video_uids_.size()) video_uids_.push_back(video_uid);
  clip_video_.push_back(static_cast<int64_t>(v));
}

void StoreWriter::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
    h5::write_int64(file_, "clip_offsets", offsets_);
    h5::write_strings(file_, "clips", clips_);
    h5::write_int64(file_, "clip_video", clip_video_);
    h5::write_strings(file_, "video_uids", video_uids_);
    h5::set_attr(file_, "format", std::string(kStoreFormat));
    h5::set_attr(file_, "version", kStoreVersion);
    h5::set_attr(file_, "embedding_dim", dim_);
    h5::set_attr(file_, "fps", fps_);
    h5::set_attr(file_, "feature_model", feature_model_);
    emb_.reset();
    h5::check_status(H5Fflush(file_.id(), H5F_SCOPE_GLOBAL), path_ + ": flush");
    file_.reset();
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) fail("{}: cannot rename {} into place: {}", path_, tmp_path_, ec.message());
}

// ---- reader ----

Store::Store(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  info_.path = path;
  file_ = h5::open_read(path);
  if (!h5::has_attr(file_, "format")) fail("{}: not a prospect store (no 'format' attribute on /)", path);
  std::string format = h5::attr_string(file_, "format");
  if (format != kStoreFormat) fail("{}: not a prospect store: format is '{}', expected '{}'", path, format, kStoreFormat);
  info_.version = h5::attr_int(file_, "version");
  if (info_.version != kStoreVersion)
    fail("{}: unsupported store version {}, expected {}", path, info_.version, kStoreVersion);
  info_.embedding_dim_attr = h5::attr_int(file_, "embedding_dim");
  info_.fps = h5::attr_double(file_, "fps");
  info_.feature_model = h5::has_attr(file_, "feature_model") ? h5::attr_string(file_, "feature_model") : "";

  // Opened with a chunk cache that holds several chunks, so consecutive clips of a chunk read it once.
  h5::Dataset probe = h5::open_dataset(file_, "embeddings");
  auto dims = h5::shape(probe, file_);
  if (dims.size() != 2) fail("{}: /embeddings: expected [N, D], found rank {}", path, dims.size());
  h5::Type t = h5::file_type(probe);
  size_t tsize = H5Tget_size(t.id());
  if (H5Tget_class(t.id()) != H5T_FLOAT || (tsize != 2 && tsize != 4))
    fail("{}: /embeddings: expected float16 or float32, found a {}-byte {}", path, tsize,
         H5Tget_class(t.id()) == H5T_FLOAT ? "float" : "non-float type");
  info_.fp16 = tsize == 2;
  info_.num_rows = static_cast<int64_t>(dims[0]);
  info_.embedding_dim = static_cast<int64_t>(dims[1]);
  probe.reset();
  size_t row_bytes = static_cast<size_t>(info_.embedding_dim) * tsize;
  size_t chunk_bytes = row_bytes * kChunkRows;
  emb_ = h5::open_dataset(file_, "embeddings", std::max<size_t>(8 * chunk_bytes, 8u << 20));

  offsets_ = h5::read_int64(file_, "clip_offsets");
  clips_ = h5::read_strings(file_, "clips");
  clip_video_ = h5::read_int64(file_, "clip_video");
  video_uids_ = h5::read_strings(file_, "video_uids");
  info_.num_clips = static_cast<int64_t>(clips_.size());
  info_.num_videos = static_cast<int64_t>(video_uids_.size());
  if (offsets_.size() != clips_.size() + 1)
    fail("{}: /clip_offsets has {} entries, expected {} (clips + 1)", path, offsets_.size(), clips_.size() + 1);
  if (clip_video_.size() != clips_.size())
    fail("{}: /clip_video has {} entries, expected {} (one per clip)", path, clip_video_.size(), clips_.size());
  if (offsets_[0] != 0) fail("{}: /clip_offsets[0] is {}, expected 0", path, offsets_[0]);
  for (size_t c = 0; c + 1 < offsets_.size(); ++c)
    if (offsets_[c + 1] < offsets_[c])
      fail("{}: /clip_offsets decreases at clip {} ({} -> {})", path, c, offsets_[c], offsets_[c + 1]);
  if (offsets_.back() != info_.num_rows)
    fail("{}: /clip_offsets ends at {}, expected {} (rows of /embeddings)", path, offsets_.back(), info_.num_rows);
  for (size_t c = 0; c < clip_video_.size(); ++c)
    if (clip_video_[c] < 0 || clip_video_[c] >= info_.num_videos)
      fail("{}: /clip_video[{}] is {}, expected 0..{}", path, c, clip_video_[c], info_.num_videos - 1);

  // Direct reads: uncompressed, little-endian, row-chunked data is a set of contiguous row blocks in
  // the file, so a clip's rows are one or two pread()s straight into the caller's buffer (no chunk
  // cache copy). Anything else (compression, other chunk shapes) goes through H5Dread.
  h5::Plist dcpl(H5Dget_create_plist(emb_.id()));
  hsize_t cd[2] = {0, 0};
  if (dcpl.id() >= 0 && H5Pget_layout(dcpl.id()) == H5D_CHUNKED && H5Pget_nfilters(dcpl.id()) == 0 &&
      H5Pget_chunk(dcpl.id(), 2, cd) == 2 && cd[1] == static_cast<hsize_t>(info_.embedding_dim) && cd[0] > 0 &&
      H5Tget_order(t.id()) == H5T_ORDER_LE && info_.num_rows > 0) {
    chunk_rows_ = static_cast<int64_t>(cd[0]);
    chunk_addr_.assign(static_cast<size_t>((info_.num_rows + chunk_rows_ - 1) / chunk_rows_), -2);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    // Check once that a direct read gives HDF5's bytes (it would not with a user block, say).
    if (fd_ >= 0) {
      int64_t n = std::min<int64_t>(chunk_rows_, info_.num_rows);
      std::vector<char> a(static_cast<size_t>(n * row_bytes)), b(a.size());
      bool same = false;
      try {
        same = read_rows_direct(0, n, a.data());
      } catch (const Error&) {
      }
      if (same) {
        h5::Space fspace(H5Dget_space(emb_.id()));
        hsize_t start[2] = {0, 0}, count[2] = {static_cast<hsize_t>(n), cd[1]};
        H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr);
        h5::Space mspace(H5Screate_simple(2, count, nullptr));
        h5::Type mt(H5Tcopy(t.id()));
        same = H5Dread(emb_.id(), mt.id(), mspace.id(), fspace.id(), H5P_DEFAULT, b.data()) >= 0 && a == b;
        H5Eclear2(H5E_DEFAULT);
      }
      if (!same) {
        ::close(fd_);
        fd_ = -1;
      }
    }
  }
}

Store::~Store() {
  if (fd_ >= 0) ::close(fd_);
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  emb_.reset();
  file_.reset();
}

int64_t Store::chunk_address(int64_t chunk) const {
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  int64_t& a = chunk_addr_[static_cast<size_t>(chunk)];
  if (a == -2) {
    hsize_t offset[2] = {static_cast<hsize_t>(chunk * chunk_rows_), 0};
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    size_t elem = info_.fp16 ? 2 : 4;
    hsize_t full = static_cast<hsize_t>(chunk_rows_ * info_.embedding_dim) * elem;
    if (H5Dget_chunk_info_by_coord(emb_.id(), offset, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF &&
        size == full && mask == 0)
      a = static_cast<int64_t>(addr);
    else
      a = -1;
    H5Eclear2(H5E_DEFAULT);
  }
  return a;
}

bool Store::read_rows_direct(int64_t row0, int64_t n, void* raw) const {
  const int64_t row_bytes = info_.embedding_dim * (info_.fp16 ? 2 : 4);
  char* dst = static_cast<char*>(raw);
  for (int64_t r = row0; r < row0 + n;) {
    int64_t chunk = r / chunk_rows_;
    int64_t end = std::min(row0 + n, (chunk + 1) * chunk_rows_);
    int64_t addr = chunk_address(chunk);
    if (addr < 0) return false;
    size_t bytes = static_cast<size_t>((end - r) * row_bytes);
    off_t at = static_cast<off_t>(addr + (r - chunk * chunk_rows_) * row_bytes);
    while (bytes > 0) {
      ssize_t got = ::pread(fd_, dst, bytes, at);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) fail("{}: reading rows {}..{}: the file ends early (truncated?)", info_.path, row0, row0 + n - 1);
      dst += got;
      at += got;
      bytes -= static_cast<size_t>(got);
    }
    r = end;
  }
  return true;
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
    fail("{}: clip {}: /clips holds invalid JSON: {}", info_.path, c, e.what());
  }
  return parse_clip(j, fmt::format("{}: clip {}", info_.path, c));
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
  if (fd_ < 0 || !read_rows_direct(row0, n, raw)) {
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
