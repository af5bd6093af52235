// SentencePiece .model through Debian's libsentencepiece. Ids and byte spans come from SentencePiece's
// own encoder (EncodeAsImmutableProto), so user-defined symbols such as <|eot|> are matched exactly
// as SentencePiece matches them.
#include <sentencepiece_processor.h>

#include "prospect/core/error.h"
#include "prospect/text/tokenizer.h"

namespace prospect {
namespace {

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    auto st = sp_.Load(path);
    if (!st.ok()) fail("cannot load SentencePiece model {}: {}", path, st.ToString());
    int n = sp_.GetPieceSize();
    special_.assign(n, 0);
    for (int id = 0; id < n; ++id) {
      if (sp_.IsControl(id) || sp_.IsUnknown(id)) {
        special_[id] = 1;
        continue;
      }
      // libsentencepiece 0.1.97 has no IsUserDefined: a user-defined piece is one that SentencePiece
      // matches verbatim in raw text (no "▁" of its own, encodes to exactly itself).
      const std::string& piece = sp_.IdToPiece(id);
      if (sp_.IsByte(id) || piece.rfind("\xE2\x96\x81", 0) == 0) continue;
      auto spt = sp_.EncodeAsImmutableProto(piece);
      if (spt.pieces_size() == 1 && static_cast<int>(spt.pieces(0).id()) == id) special_[id] = 1;
      else if (spt.pieces_size() == 2 && static_cast<int>(spt.pieces(1).id()) == id &&
               spt.pieces(0).begin() == spt.pieces(0).end())
        special_[id] = 1;  // "▁" dummy prefix (zero width) then the symbol
    }
  }

  Encoding encode(std::string_view text) const override {
    Encoding enc;
    auto spt = sp_.EncodeAsImmutableProto(text);
    size_t n = spt.pieces_size();
    enc.ids.reserve(n);
    enc.offsets.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto p = spt.pieces(static_cast<int>(i));
      enc.ids.push_back(static_cast<int32_t>(p.id()));
      enc.offsets.push_back({p.begin(), p.end()});
    }
    return enc;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int> v(ids.begin(), ids.end());
    for (int id : v)
      if (id < 0 || id >= sp_.GetPieceSize())
        fail("{}: cannot decode id {} (vocabulary size {})", path_, id, sp_.GetPieceSize());
    std::string out;
    auto st = sp_.Decode(v, &out);
    if (!st.ok()) fail("{}: decode failed: {}", path_, st.ToString());
    return out;
  }
  int32_t token_to_id(std::string_view token) const override {
    int id = sp_.PieceToId(token);
    if (id < 0 || id >= sp_.GetPieceSize() || sp_.IdToPiece(id) != token) return -1;  // PieceToId gives unk
    return id;
  }
  std::string id_to_token(int32_t id) const override {
    if (id < 0 || id >= sp_.GetPieceSize()) return "";
    return sp_.IdToPiece(id);
  }
  int64_t vocab_size() const override { return sp_.GetPieceSize(); }
  int32_t bos_id() const override { return sp_.bos_id(); }
  int32_t eos_id() const override { return sp_.eos_id(); }
  std::string kind() const override { return "sentencepiece"; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < static_cast<int32_t>(special_.size()) && special_[id];
  }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
  std::vector<char> special_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace prospect
