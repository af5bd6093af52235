// Writes a store (SPEC §2.2, version 2): rows as they come, the index and the attributes at close().
#include <filesystem>

#include "prospect/core/error.h"
#include "prospect/data/store.h"

namespace prospect {

namespace {
// Texts one after another in a byte dataset, and where each starts in an offsets dataset [n + 1].
void write_texts(const h5::File& f, const std::string& bytes_name, const std::string& offsets_name,
                 const std::vector<std::string>& texts) {
  std::string bytes;
  std::vector<int64_t> offsets{0};
  for (const auto& t : texts) {
    bytes += t;
    offsets.push_back(static_cast<int64_t>(bytes.size()));
  }
  h5::write_bytes(f, bytes_name, bytes);
  h5::write_int64(f, offsets_name, offsets);
}
}  // namespace

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
    h5::write_int64(file_, "clip_video", clip_video_);
    write_texts(file_, "clip_json", "clip_json_offsets", clips_);
    write_texts(file_, "video_uid_text", "video_uid_offsets", video_uids_);
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

}  // namespace prospect
