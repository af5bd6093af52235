#include "prospect/model/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/file.h"

namespace prospect {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Headers of real checkpoints are well under 1 MB (a 405B model's is ~200 KB); anything past this is a
// corrupt or hostile length field, refused before allocating.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
const DtypeName kDtypes[] = {
    {"F32", at::kFloat}, {"F16", at::kHalf},   {"BF16", at::kBFloat16}, {"F64", at::kDouble},
    {"I64", at::kLong},  {"I32", at::kInt},    {"I16", at::kShort},     {"I8", at::kChar},
    {"U8", at::kByte},   {"BOOL", at::kBool},
};

json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

}  // namespace

std::string safetensors_dtype_name(at::ScalarType t) {
  for (auto& d : kDtypes)
    if (t == d.type) return d.name;
  fail("dtype {} cannot be stored in safetensors", c10::toString(t));
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("{}: truncated: {} bytes, a safetensors file starts with an 8-byte header length", path, size);
  }
  map_size_ = size;
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail("cannot mmap {}: {}", path, std::strerror(errno));
  }
  try {
    const uint8_t* bytes = static_cast<const uint8_t*>(map_);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
    if (header_len > kMaxHeaderBytes)
      fail("{}: header length {} is not plausible (limit {} bytes): corrupt file", path, header_len,
           kMaxHeaderBytes);
    if (header_len > size - 8)
      fail("{}: truncated: header length {} but only {} bytes follow", path, header_len, size - 8);
    data_ = bytes + 8 + header_len;
    uint64_t data_size = size - 8 - header_len;
    json header;
    try {
      header = json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const json::exception& e) {
      fail("{}: header is not valid JSON: {}", path, e.what());
    }
    if (!header.is_object()) fail("{}: header is not a JSON object", path);
    std::vector<std::pair<uint64_t, std::string>> by_offset;
    for (auto& [name, v] : header.items()) {
      if (name == "__metadata__") {
        if (!v.is_object()) fail("{}: __metadata__ is not an object", path);
        for (auto& [k, s] : v.items()) {
          if (!s.is_string()) fail("{}: __metadata__ value of '{}' is not a string", path, k);
          metadata_[k] = s.get<std::string>();
        }
        continue;
      }
      auto bad = [&](const std::string& why) { fail("{}: tensor '{}': {}", path, name, why); };
      if (!v.is_object()) bad("header entry is not an object");
      if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing dtype");
      if (!v.contains("shape") || !v["shape"].is_array()) bad("missing shape");
      if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
        bad("data_offsets must be [begin, end]");
      Entry e;
      std::string dt = v["dtype"].get<std::string>();
      bool known = false;
      for (auto& d : kDtypes)
        if (dt == d.name) e.dtype = d.type, known = true;
      if (!known) bad("unsupported dtype '" + dt + "'");
      uint64_t numel = 1;
      bool overflow = false;
      for (auto& d : v["shape"]) {
        if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
          bad("shape entries must be non-negative integers");
        uint64_t n = d.get<uint64_t>();
        if (n > (1ull << 48)) overflow = true;
        e.shape.push_back(static_cast<int64_t>(n));
        if (!overflow && n != 0 && numel > (1ull << 62) / n) overflow = true;
        if (!overflow) numel *= n;
      }
      for (auto& o : v["data_offsets"])
        if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0))
          bad("data_offsets must be non-negative integers");
      e.begin = v["data_offsets"][0].get<uint64_t>();
      e.end = v["data_offsets"][1].get<uint64_t>();
      if (e.end < e.begin) bad(fmt::format("data_offsets [{}, {}] end before begin", e.begin, e.end));
      if (e.end > data_size)
        bad(fmt::format("data_offsets [{}, {}] run past the data section ({} bytes): truncated or corrupt",
                        e.begin, e.end, data_size));
      uint64_t elem = c10::elementSize(e.dtype);
      if (overflow || numel * elem != e.end - e.begin)
        bad(fmt::format("{} bytes for shape [{}] of {} (expected {} bytes)", e.end - e.begin,
                        fmt::join(e.shape, ", "), dt, overflow ? std::string("overflowing") : std::to_string(numel * elem)));
      entries_[name] = e;
      by_offset.emplace_back(e.begin, name);
    }
    std::sort(by_offset.begin(), by_offset.end(), [&](auto& a, auto& b) {
      return a.first != b.first ? a.first < b.first : entries_[a.second].end < entries_[b.second].end;
    });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const Entry& prev = entries_[by_offset[i - 1].second];
      const Entry& cur = entries_[by_offset[i].second];
      if (cur.begin < prev.end && cur.end > cur.begin && prev.end > prev.begin)
        fail("{}: tensor '{}' (bytes [{}, {})) overlaps tensor '{}' (bytes [{}, {}))", path, by_offset[i].second,
             cur.begin, cur.end, by_offset[i - 1].second, prev.begin, prev.end);
    }
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail("{}: no tensor '{}'", path_, name);
  const Entry& e = it->second;
  at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
  // memcpy rather than from_blob: data offsets need not be aligned for the element type.
  if (e.end > e.begin) std::memcpy(t.data_ptr(), data_ + e.begin, e.end - e.begin);
  return t;
}

TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  SafetensorsFile f(path);
  TensorMap out;
  for (auto& [name, e] : f.entries()) out[name] = f.tensor(name);
  if (metadata) *metadata = f.metadata();
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (auto& [name, t0] : tensors) {
    if (name == "__metadata__" || name.empty()) fail("{}: invalid tensor name '{}'", path, name);
    if (!seen.insert(name).second) fail("{}: tensor '{}' given twice", path, name);
    if (!t0.defined()) fail("{}: tensor '{}' is undefined", path, name);
    at::Tensor t = t0.detach().to(at::kCPU).contiguous();
    uint64_t n = t.numel() * t.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(t);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');  // the data section starts 8-aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xff);
  std::vector<ByteSpan> pieces{{len, 8}, {h.data(), h.size()}};
  for (auto& t : data)
    if (t.numel() > 0) pieces.push_back({t.data_ptr(), t.numel() * t.element_size()});
  write_file_atomic(path, pieces);
}

SafetensorsDir::SafetensorsDir(const std::string& dir) : dir_(dir) {
  fs::path d(dir);
  if (!fs::is_directory(d)) fail("model folder {} does not exist", dir);
  fs::path index = d / "model.safetensors.index.json";
  if (!fs::exists(index)) {
    fs::path single = d / "model.safetensors";
    if (!fs::exists(single)) fail("{}: neither model.safetensors nor model.safetensors.index.json", dir);
    add(single.string());
    return;
  }
  json j = parse_json_file(index.string());
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail("{}: no weight_map object", index.string());
  std::map<std::string, std::vector<std::string>> by_file;
  for (auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) fail("{}: weight_map entry '{}' is not a file name", index.string(), name);
    std::string f = file.get<std::string>();
    if (f.find('/') != std::string::npos || f == ".." || f.empty())
      fail("{}: weight_map entry '{}' names '{}', not a file in the folder", index.string(), name, f);
    by_file[f].push_back(name);
  }
  for (auto& [file, names] : by_file) {
    files_.push_back(std::make_unique<SafetensorsFile>((d / file).string()));
    const SafetensorsFile* sf = files_.back().get();
    for (auto& n : names) {
      if (!sf->contains(n)) fail("{}: tensor '{}' listed in {} is missing", sf->path(), n, index.string());
      where_[n] = sf;
    }
  }
}

void SafetensorsDir::add(const std::string& path) {
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  const SafetensorsFile* sf = files_.back().get();
  for (auto& [n, e] : sf->entries()) {
    auto [it, fresh] = where_.emplace(n, sf);
    if (!fresh) fail("{}: tensor '{}' is also in {}", path, n, it->second->path());
  }
}

std::vector<std::string> SafetensorsDir::names() const {
  std::vector<std::string> out;
  for (auto& [n, f] : where_) out.push_back(n);
  return out;
}

const SafetensorsFile::Entry& SafetensorsDir::entry(const std::string& name) const {
  return where_.at(name)->entries().at(name);
}

const std::string& SafetensorsDir::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: no tensor '{}'", dir_, name);
  return it->second->path();
}

at::Tensor SafetensorsDir::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: no tensor '{}'", dir_, name);
  return it->second->tensor(name);
}

TensorMap load_safetensors_dir(const std::string& dir) {
  SafetensorsDir d(dir);
  TensorMap out;
  for (auto& n : d.names()) out[n] = d.tensor(n);
  return out;
}

void save_safetensors_dir(const std::string& dir, const NamedTensors& tensors, uint64_t max_shard_bytes,
                          const std::map<std::string, std::string>& metadata) {
  fs::create_directories(dir);
  fs::path d(dir);
  uint64_t total = 0;
  for (auto& [n, t] : tensors) total += t.numel() * t.element_size();
  if (max_shard_bytes == 0 || total <= max_shard_bytes) {
    save_safetensors((d / "model.safetensors").string(), tensors, metadata);
    if (fs::exists(d / "model.safetensors.index.json")) fs::remove(d / "model.safetensors.index.json");
    return;
  }
  std::vector<NamedTensors> shards(1);
  uint64_t cur = 0;
  for (auto& nt : tensors) {
    uint64_t n = nt.second.numel() * nt.second.element_size();
    if (cur > 0 && cur + n > max_shard_bytes) shards.emplace_back(), cur = 0;
    shards.back().push_back(nt);
    cur += n;
  }
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    save_safetensors((d / name).string(), shards[i], metadata);
    for (auto& nt : shards[i]) weight_map[nt.first] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic((d / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  if (fs::exists(d / "model.safetensors")) fs::remove(d / "model.safetensors");
}

}  // namespace prospect
