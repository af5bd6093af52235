// The safetensors format (what Hugging Face writes): u64 little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw bytes.
// Our own reader (mmap-backed, every offset checked against the file) and writer (temp file, fsync,
// rename: a reader never sees a half-written file). Every error names the file and the tensor.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prospect {

// One opened .safetensors file. The header is parsed and checked on open; tensor() copies one tensor
// out of the mapping (so the result owns its memory and the file may be closed).
class SafetensorsFile {
 public:
  struct Entry {
    at::ScalarType dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets into the data section
  };
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  at::Tensor tensor(const std::string& name) const;  // CPU, the file's dtype

 private:
  std::string path_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* data_ = nullptr;  // start of the data section inside the mapping
  void* map_ = nullptr;
  size_t map_size_ = 0;
};

using TensorMap = std::map<std::string, at::Tensor>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Reads every tensor of one file. metadata (optional) receives "__metadata__".
TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// Writes tensors (any device/layout; stored contiguous, CPU) in the given order, atomically
// (write_file_atomic of core/file.h: temporary file, fsync, rename, folder fsync).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The tensors of a model folder, opened (headers checked) but not read: tensor() copies one at a time,
// so loading a model needs its own memory plus one tensor, not a second copy of the checkpoint.
// model.safetensors.index.json (sharded) if present, else model.safetensors; add() joins another file.
class SafetensorsDir {
 public:
  explicit SafetensorsDir(const std::string& dir);
  void add(const std::string& path);  // another file's tensors (names must not repeat)
  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafetensorsFile::Entry& entry(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

// A model folder: model.safetensors.index.json (sharded, its weight_map names each tensor's file) if
// present, else model.safetensors. Every tensor the index names must be in its shard.
TensorMap load_safetensors_dir(const std::string& dir);

// Writes dir/model.safetensors, or shards of at most max_shard_bytes plus model.safetensors.index.json
// when the tensors are larger (0 = never shard). Shards are named model-00001-of-0000N.safetensors.
void save_safetensors_dir(const std::string& dir, const NamedTensors& tensors, uint64_t max_shard_bytes = 0,
                          const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// The safetensors name of a dtype: "F32", "F16", "BF16", "F64", "I64", ...; Error for a dtype the format
// cannot store.
std::string safetensors_dtype_name(at::ScalarType t);

}  // namespace prospect
