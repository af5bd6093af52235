// A .model's precompiled charsmaps, checked before libsentencepiece sees the file
// (include/prospect/text/sentencepiece_check.h says why). The protobuf reading is the least a .model
// needs: find two nested length-delimited fields, skip everything else.
#include "prospect/text/sentencepiece_check.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "prospect/core/error.h"

namespace prospect {
namespace {

// ---- the protobuf wire format ----

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a message; for a length-delimited one, [begin, end) is its payload; for a varint, its value.
struct Field {
  uint64_t number = 0;
  uint64_t type = 0;
  size_t begin = 0, end = 0;
  uint64_t value = 0;
};

// Reads the fields of one message, the bytes [begin, end) of the file. `message` names it in errors.
class WireReader {
 public:
  WireReader(std::string_view bytes, size_t begin, size_t end, const std::string& path, std::string message)
      : bytes_(bytes), pos_(begin), end_(end), path_(path), message_(std::move(message)) {}

  bool done() const { return pos_ >= end_; }

  Field next() {
    size_t at = pos_;
    uint64_t key = varint();
    Field f;
    f.number = key >> 3;
    f.type = key & 7;
    if (f.number == 0) broken(at, "a field numbered 0");
    switch (f.type) {
      case kVarint: f.value = varint(); break;
      case kFixed64: skip(f.number, 8); break;
      case kFixed32: skip(f.number, 4); break;
      case kLengthDelimited: {
        uint64_t n = varint();
        f.begin = pos_;
        skip(f.number, n);
        f.end = pos_;
        break;
      }
      default:  // groups (3, 4) never occur in a SentencePiece model; 6 and 7 do not exist
        broken(at, fmt::format("field {} of wire type {}, expected 0, 1, 2 or 5", f.number, f.type));
    }
    return f;
  }

 private:
  uint64_t varint() {
    size_t at = pos_;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) broken(at, "a varint cut off by the end of the message");
      auto c = static_cast<uint8_t>(bytes_[pos_++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    broken(at, "a varint longer than 10 bytes");
  }

  void skip(uint64_t field, uint64_t n) {
    if (n > end_ - pos_)
      broken(pos_, fmt::format("field {} holds {} bytes, but only {} are left", field, n, end_ - pos_));
    pos_ += n;
  }

  [[noreturn]] void broken(size_t at, const std::string& what) const {
    fail("{}: not a valid SentencePiece model: {} (in {} at byte {})", path_, what, message_, at);
  }

  std::string_view bytes_;
  size_t pos_, end_;
  const std::string& path_;
  std::string message_;
};

// ---- the darts-clone double array ----

// libsentencepiece's Normalizer keeps this many matches of one prefix search in an array on the stack,
// but goes on to read as many as the search counted (Normalizer::kMaxTrieResultsSize).
constexpr int kMaxMatches = 32;

uint32_t le32(const char* p) {
  auto b = reinterpret_cast<const uint8_t*>(p);
  return b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

// One unit of the double array, as darts-clone reads it.
struct Unit {
  uint32_t bits;
  bool has_leaf() const { return (bits >> 8) & 1; }
  uint32_t value() const { return bits & 0x7fffffffu; }  // of a leaf unit
  uint32_t label() const { return bits & (0x80000000u | 0xffu); }  // a leaf unit's never matches a byte
  uint32_t offset() const { return (bits >> 10) << ((bits & (1u << 9)) >> 6); }
};

// The walk of libsentencepiece's prefix search (darts-clone commonPrefixSearch), every path at once.
// A node is a position `base`: for an input byte c the search reads unit base ^ c; if that unit's label
// is c it follows the edge to the node at (base ^ c) ^ offset, and if the unit has a leaf it also reads
// the value of the unit at that new base: an offset into the normalized strings, read up to a NUL.
// The input is any byte string, so all 256 bytes of every reachable node are checked. A node is
// visited once (nodes are shared, the trie being a DAWG); a node met again while still on the path is
// a cycle, which only damage makes.
class TrieCheck {
 public:
  TrieCheck(std::string_view units, std::string_view strings, const std::string& path, const std::string& field)
      : units_(units),
        strings_(strings),
        n_(units.size() / 4),
        last_nul_(strings.rfind('\0')),
        path_(path),
        field_(field),
        state_(n_, kNew),
        matches_below_(n_, 0) {}

  void run() {
    uint32_t root = unit(0).offset();
    enter(0, root);
    walk(root);
  }

 private:
  enum State : uint8_t { kNew, kOnPath, kDone };

  // One node on the path being walked: its next byte to try, the most matches on a path below it.
  struct Frame {
    size_t base;
    int byte = 0;
    int matches = 0;
  };

  Unit unit(size_t i) const { return Unit{le32(units_.data() + 4 * i)}; }

  // The edge from unit `from` leads to the node at `base`: the search may read any of base ^ 0..255,
  // the 256-unit block around base.
  void enter(size_t from, size_t base) {
    if (base >= n_) bad("trie unit {} points to unit {}, beyond the {} units", from, base, n_);
    if ((base | 0xff) >= n_)
      bad("trie unit {} points to the node at unit {}, whose byte labels reach unit {}, beyond the {} units",
          from, base, base | 0xff, n_);
  }

  // The leaf the unit `from` announces: the value of the unit at `base`, a string of the normalized ones.
  void check_leaf(size_t from, size_t base) {
    uint32_t at = unit(base).value();
    if (at >= strings_.size())
      bad("trie leaf at unit {} (from unit {}) points to byte {} of the normalized strings, beyond their {} bytes",
          base, from, at, strings_.size());
    if (last_nul_ == std::string_view::npos || at > last_nul_)
      bad("the normalized string at byte {} (trie leaf at unit {}) has no NUL before the end of the {} bytes", at,
          base, strings_.size());
  }

  void walk(size_t root) {
    std::vector<Frame> path{Frame{root}};
    state_[root] = kOnPath;
    while (!path.empty()) {
      Frame& f = path.back();
      if (f.byte > 0xff) {  // every child seen
        state_[f.base] = kDone;
        matches_below_[f.base] = static_cast<uint8_t>(f.matches);
        path.pop_back();
        continue;
      }
      size_t pos = f.base ^ static_cast<size_t>(f.byte);
      Unit u = unit(pos);
      if (u.label() != static_cast<uint32_t>(f.byte)) {  // no edge for this byte: the search stops here
        ++f.byte;
        continue;
      }
      size_t child = pos ^ u.offset();
      if (child >= n_ || state_[child] == kNew) {  // walk the child first, then come back to this byte
        enter(pos, child);                           // fails when the child's units lie outside
        state_[child] = kOnPath;
        path.push_back(Frame{child});  // f is not used after this
        continue;
      }
      if (state_[child] == kOnPath)
        bad("trie unit {} points back to unit {}, a node on its own path (a cycle)", pos, child);
      if (u.has_leaf()) check_leaf(pos, child);
      int matches = (u.has_leaf() ? 1 : 0) + matches_below_[child];
      if (matches > kMaxMatches)
        bad("a path through trie unit {} holds {} leaves, expected at most {} (libsentencepiece's limit)", pos,
            matches, kMaxMatches);
      f.matches = std::max(f.matches, matches);
      ++f.byte;
    }
  }

  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> what, Args&&... args) const {
    fail("{}: {}: {}", path_, field_, fmt::format(what, std::forward<Args>(args)...));
  }

  std::string_view units_, strings_;
  size_t n_;
  size_t last_nul_;  // a string starting at or before it ends inside the blob
  const std::string& path_;
  const std::string& field_;
  std::vector<State> state_;
  std::vector<uint8_t> matches_below_;  // of a done node: the most leaves on one path below it
};

}  // namespace

std::vector<SpmCharsmap> find_sentencepiece_charsmaps(std::string_view model, const std::string& path) {
  std::vector<SpmCharsmap> found;
  WireReader top(model, 0, model.size(), path, "ModelProto");
  while (!top.done()) {
    Field f = top.next();
    const char* spec = f.number == 3 ? "normalizer_spec" : f.number == 5 ? "denormalizer_spec" : nullptr;
    if (!spec || f.type != kLengthDelimited) continue;  // a wrong wire type: protobuf refuses the file itself
    WireReader inner(model, f.begin, f.end, path, spec);
    while (!inner.done()) {
      Field g = inner.next();
      if (g.number == 2 && g.type == kLengthDelimited)  // every copy: protobuf keeps the last, check them all
        found.push_back({std::string(spec) + ".precompiled_charsmap", g.begin, g.end - g.begin});
    }
  }
  return found;
}

void check_sentencepiece_charsmap(std::string_view charsmap, const std::string& path, const std::string& field) {
  if (charsmap.empty()) return;  // no normalization rule: libsentencepiece builds no trie
  if (charsmap.size() < 4)
    fail("{}: {}: {} bytes, expected at least the 4 of trie_blob_size", path, field, charsmap.size());
  uint32_t trie_size = le32(charsmap.data());
  size_t room = charsmap.size() - 4;
  // libsentencepiece only checks trie_blob_size < the charsmap's size, 4 bytes too many.
  if (trie_size > room)
    fail("{}: {}: trie_blob_size {} is larger than the {} bytes that follow it", path, field, trie_size, room);
  if (trie_size == 0 || trie_size % 4 != 0)
    fail("{}: {}: trie_blob_size {}, expected a positive multiple of 4 (4-byte units)", path, field, trie_size);
  TrieCheck(charsmap.substr(4, trie_size), charsmap.substr(4 + trie_size), path, field).run();
}

std::vector<int> sentencepiece_piece_types(std::string_view model, const std::string& path) {
  std::vector<int> types;
  WireReader top(model, 0, model.size(), path, "ModelProto");
  while (!top.done()) {
    Field f = top.next();
    if (f.number != 1 || f.type != kLengthDelimited) continue;
    int type = 1;  // NORMAL unless stated
    WireReader piece(model, f.begin, f.end, path, "pieces");
    while (!piece.done()) {
      Field g = piece.next();
      if (g.number == 3 && g.type == kVarint) type = static_cast<int>(g.value);
    }
    types.push_back(type);
  }
  return types;
}

void check_sentencepiece_model(std::string_view model, const std::string& path) {
  for (const SpmCharsmap& c : find_sentencepiece_charsmaps(model, path))
    check_sentencepiece_charsmap(model.substr(c.offset, c.size), path, c.field);
}

}  // namespace prospect
