// Direct reads of a store's /embeddings (store.h). Uncompressed, little-endian, row-chunked data is a
// set of contiguous row blocks in the file, so a clip's rows are one or two pread()s straight into the
// caller's buffer, with no copy through HDF5's chunk cache (docs/performance.md). Anything else
// (filters, other chunk shapes, a user block) is left to H5Dread. Private to the store.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "prospect/core/hdf5.h"

namespace prospect {

class DirectReader {
 public:
  // A reader for dataset emb ([rows, dim], elem bytes per value) of the file at path, or null when the
  // layout does not allow direct reads or a test read of the first chunk differs from HDF5's bytes.
  // The caller holds h5::hdf5_mutex().
  static std::unique_ptr<DirectReader> open(const std::string& path, const h5::Dataset& emb, int64_t rows,
                                            int64_t dim, size_t elem);
  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Rows [row0, row0 + n) as stored (n * dim * elem bytes) into raw. False when a chunk cannot be
  // read directly (the caller reads through HDF5); throws when the file ends early.
  bool read(int64_t row0, int64_t n, void* raw) const;

 private:
  DirectReader(std::string path, hid_t emb, int64_t rows, int64_t dim, size_t elem, int64_t chunk_rows, int fd);
  int64_t chunk_address(int64_t chunk) const;  // -1 when the chunk cannot be read directly
  std::string path_;
  hid_t emb_;  // owned by the store
  int64_t dim_;
  size_t elem_;
  int64_t chunk_rows_;
  int fd_;
  mutable std::vector<int64_t> chunk_addr_;  // per chunk: file offset; -2 unknown yet, -1 not direct
};

}  // namespace prospect
