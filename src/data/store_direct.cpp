// Direct reads of /embeddings: set-up (is the layout right, do our bytes equal HDF5's) and pread.
#include "store_direct.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "prospect/core/error.h"

namespace prospect {

DirectReader::DirectReader(std::string path, hid_t emb, int64_t rows, int64_t dim, size_t elem, int64_t chunk_rows, int fd)
    : path_(std::move(path)), emb_(emb), dim_(dim), elem_(elem), chunk_rows_(chunk_rows), fd_(fd),
      chunk_addr_(static_cast<size_t>((rows + chunk_rows - 1) / chunk_rows), -2) {}

DirectReader::~DirectReader() { ::close(fd_); }

std::unique_ptr<DirectReader> DirectReader::open(const std::string& path, const h5::Dataset& emb, int64_t rows,
                                                 int64_t dim, size_t elem) {
  h5::Plist dcpl(H5Dget_create_plist(emb.id()));
  h5::Type t(H5Dget_type(emb.id()));
  hsize_t cd[2] = {0, 0};
  bool layout_ok = dcpl.id() >= 0 && t.id() >= 0 && H5Pget_layout(dcpl.id()) == H5D_CHUNKED &&
                   H5Pget_nfilters(dcpl.id()) == 0 && H5Pget_chunk(dcpl.id(), 2, cd) == 2 &&
                   cd[1] == static_cast<hsize_t>(dim) && cd[0] > 0 && H5Tget_order(t.id()) == H5T_ORDER_LE && rows > 0;
  H5Eclear2(H5E_DEFAULT);
  if (!layout_ok) return nullptr;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  std::unique_ptr<DirectReader> r(
      new DirectReader(path, emb.id(), rows, dim, elem, static_cast<int64_t>(cd[0]), fd));

  // Check once that a direct read gives HDF5's bytes (it would not with a user block, say).
  int64_t n = std::min<int64_t>(r->chunk_rows_, rows);
  std::vector<char> a(static_cast<size_t>(n * dim) * elem), b(a.size());
  bool same = false;
  try {
    same = r->read(0, n, a.data());
  } catch (const Error&) {
  }
  if (same) {
    h5::Space fspace(H5Dget_space(emb.id()));
    hsize_t start[2] = {0, 0}, count[2] = {static_cast<hsize_t>(n), cd[1]};
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    h5::Space mspace(H5Screate_simple(2, count, nullptr));
    h5::Type mt(H5Tcopy(t.id()));
    same = H5Dread(emb.id(), mt.id(), mspace.id(), fspace.id(), H5P_DEFAULT, b.data()) >= 0 && a == b;
    H5Eclear2(H5E_DEFAULT);
  }
  if (!same) return nullptr;
  return r;
}

int64_t DirectReader::chunk_address(int64_t chunk) const {
  std::lock_guard<std::recursive_mutex> lock(h5::hdf5_mutex());
  int64_t& a = chunk_addr_[static_cast<size_t>(chunk)];
  if (a == -2) {
    hsize_t offset[2] = {static_cast<hsize_t>(chunk * chunk_rows_), 0};
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    hsize_t full = static_cast<hsize_t>(chunk_rows_ * dim_) * elem_;
    if (H5Dget_chunk_info_by_coord(emb_, offset, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF && size == full &&
        mask == 0)
      a = static_cast<int64_t>(addr);
    else
      a = -1;
    H5Eclear2(H5E_DEFAULT);
  }
  return a;
}

bool DirectReader::read(int64_t row0, int64_t n, void* raw) const {
  const int64_t row_bytes = dim_ * static_cast<int64_t>(elem_);
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
      if (got <= 0) fail("{}: reading rows {}..{}: the file ends early (truncated?)", path_, row0, row0 + n - 1);
      dst += got;
      at += got;
      bytes -= static_cast<size_t>(got);
    }
    r = end;
  }
  return true;
}

}  // namespace prospect
