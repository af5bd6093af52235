// SentencePiece .model: a tiny model trained here with <|eot|> as a user-defined symbol.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "prospect/core/error.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/sentencepiece_check.h"
#include "prospect/text/tokenizer.h"
#include "test_util.h"

using namespace prospect;

namespace {


// Trains a tiny model into the build tree (once per name); returns the .model path.
std::string train_model(const std::string& name, const std::string& extra) {
  {
    namespace fs = std::filesystem;
    fs::path dir = test::process_dir("test_text_sp");  // removed at exit; ctest runs the cases in parallel
    std::ofstream txt(dir / "train.txt");
    const char* lines[] = {
        "cut the onion into small pieces", "heat the pan with a little oil", "stir the sauce until it thickens",
        "the assistant watches the video and speaks when needed", "step one is complete and step two starts",
        "boil the water then steep the tea for three minutes", "current step states are tracked per frame",
        "user asks a question and the assistant answers it",
        "The Quick Brown Fox Jumps Over The Lazy Dog: zebra, quokka! 0123456789",
        "System: User: Assistant: Dst: State: S1->start, S2->complete"};
    for (int r = 0; r < 20; ++r)
      for (const char* l : lines) txt << l << "\n";
    txt.close();
    std::string prefix = (dir / name).string();
    sentencepiece_train(
        "--input=" + (dir / "train.txt").string() + " --model_prefix=" + prefix +
        " --model_type=bpe --character_coverage=1.0 --user_defined_symbols=<|eot|>"
        " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=2" + extra);
    return prefix + ".model";
  }
}

const std::string& tiny_sp_model() {
  static const std::string path = train_model("sp", " --vocab_size=150");
  return path;
}

int count_special(const Tokenizer& t) {
  int n = 0;
  for (int32_t id = 0; id < t.vocab_size(); ++id) n += t.is_special(id);
  return n;
}

}  // namespace

TEST(SentencePiece, RoundTripOffsetsAndEot) {
  auto tok = load_tokenizer(tiny_sp_model());
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->vocab_size(), 150);
  int32_t eot = tok->token_to_id("<|eot|>");
  ASSERT_GE(eot, 0);
  EXPECT_TRUE(tok->is_special(eot));
  EXPECT_EQ(tok->token_to_id("<|no such|>"), -1);
  EXPECT_FALSE(tok->is_special(tok->encode("onion").ids.back()));

  for (std::string text : {"cut the onion", "the assistant speaks<|eot|>", "a<|eot|>b <|eot|> c",
                           "heat the pan with oil", "zebra quokka"}) {
    Encoding e = tok->encode(text);
    EXPECT_EQ(tok->decode(e.ids), text);
    ASSERT_EQ(e.ids.size(), e.offsets.size());
    size_t pos = 0;
    for (auto [b, en] : e.offsets) {  // byte spans in order, inside the text
      EXPECT_GE(b, pos);
      EXPECT_LE(b, en);
      EXPECT_LE(en, text.size());
      pos = en;
    }
    // <|eot|> is always exactly one id, spanning its own bytes
    size_t n_text = 0, n_ids = 0;
    for (size_t p = text.find("<|eot|>"); p != std::string::npos; p = text.find("<|eot|>", p + 1)) ++n_text;
    for (size_t i = 0; i < e.ids.size(); ++i) {
      if (e.ids[i] != eot) continue;
      ++n_ids;
      EXPECT_EQ(text.substr(e.offsets[i].first, e.offsets[i].second - e.offsets[i].first), "<|eot|>");
    }
    EXPECT_EQ(n_ids, n_text) << text;
  }
  EXPECT_EQ(count_special(*tok), 4);  // <unk> <s> </s> <|eot|>
  EXPECT_THROW(tok->decode({1000}), Error);
  EXPECT_THROW(sentencepiece_train("--input=/nonexistent/x.txt --model_prefix=/tmp/never"), Error);
}

// The demo's settings: no dummy prefix, identity normalization, byte fallback: exact round trips, and
// word pieces that encode to themselves are still not special.
TEST(SentencePiece, DemoSettings) {
  auto tok = load_tokenizer(train_model("demo", " --normalization_rule_name=identity --add_dummy_prefix=false"
                                                " --remove_extra_whitespaces=false --byte_fallback=true"
                                                " --vocab_size=400"));
  EXPECT_EQ(count_special(*tok), 4);
  for (std::string text : {"  two  spaces\n", "cut the onion<|eot|>", "ünïcödé 中文 😀", ""}) {
    Encoding e = tok->encode(text);
    EXPECT_EQ(tok->decode(e.ids), text);
  }
  EXPECT_EQ(tok->encode("<|eot|>").ids, std::vector<int32_t>{tok->token_to_id("<|eot|>")});
}

TEST(SentencePiece, PlainTemplate) {
  auto tok = load_tokenizer(tiny_sp_model());
  ChatTemplate t = make_chat_template("plain", *tok);
  EXPECT_EQ(t.end_of_turn, tok->token_to_id("<|eot|>"));
  auto ids = t.turn(Role::User, "cut the onion");
  EXPECT_EQ(ids.back(), t.end_of_turn);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), t.end_of_turn), 1);
  EXPECT_EQ(tok->decode(t.header(Role::User)), "User:");  // SentencePiece drops the trailing space
  EXPECT_THROW(make_chat_template("llama3", *tok), UsageError);
}

// A damaged .model (cut short, or bytes changed): loading is an Error naming the file, or gives a
// model that still encodes and decodes; never a crash.
TEST(SentencePiece, DamagedModelsNeverCrash) {
  std::string bytes;
  {
    std::ifstream in(tiny_sp_model(), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 100u);
  std::string bad = std::string(PROSPECT_BINARY_DIR) + "/test_text_damaged_" + std::to_string(getpid()) + ".model";
  std::mt19937 gen(5);
  int refused = 0, loaded = 0;
  for (int t = 0; t < 60; ++t) {
    std::string b = bytes;
    if (t % 3 == 0)
      b.resize(gen() % b.size());
    else
      for (int k = 0; k < 4; ++k) b[gen() % b.size()] = static_cast<char>(gen() & 0xff);
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << b;
    std::unique_ptr<Tokenizer> tok;
    try {
      tok = load_tokenizer(bad);
    } catch (const Error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      continue;
    }
    ++loaded;
    try {
      Encoding e = tok->encode("cut the onion<|eot|> zebra");
      tok->decode(e.ids);
    } catch (const Error&) {
    }
  }
  std::remove(bad.c_str());
  EXPECT_GT(refused, 0);
  EXPECT_EQ(refused + loaded, 60);
}

TEST(SentencePiece, MissingModelNamesPath) {
  try {
    load_tokenizer("/nonexistent/demo.model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/demo.model"), std::string::npos);
  }
  std::string bad = std::string(PROSPECT_BINARY_DIR) + "/test_text_bad_" + std::to_string(getpid()) + ".model";
  std::ofstream(bad) << "not a model";
  try {
    load_tokenizer(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos);
  }
  std::remove(bad.c_str());
}

// ---- the charsmap check (sentencepiece_check.h) ----
// The tiny model's normalization rule (nmt_nfkc) is a precompiled charsmap: a darts-clone double array
// and the normalized strings. These tests damage its bytes at positions found by walking the trie as
// libsentencepiece does, and expect load_tokenizer to refuse the file, naming it and the field, before
// libsentencepiece walks it.

namespace {

const char* kField = "normalizer_spec.precompiled_charsmap";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint32_t get32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(b[at + k]);
  return v;
}

void put32(std::string* b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) (*b)[at + k] = static_cast<char>((v >> (8 * k)) & 0xff);
}

// The charsmap's parts as file offsets in the .model.
struct Charsmap {
  size_t at = 0, size = 0;
  uint32_t trie_size = 0;
  size_t units() const { return trie_size / 4; }
  size_t unit_at(size_t i) const { return at + 4 + 4 * i; }
  size_t strings_at() const { return at + 4 + trie_size; }
  size_t end() const { return at + size; }
};

Charsmap normalizer_charsmap(const std::string& model) {
  for (const SpmCharsmap& c : find_sentencepiece_charsmaps(model, "tiny.model"))
    if (c.field == kField) return Charsmap{c.offset, c.size, get32(model, c.offset)};
  throw std::runtime_error("the model has no normalizer_spec.precompiled_charsmap");
}

uint32_t darts_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

// Where libsentencepiece's prefix search goes for `key`: the unit matching its first byte, and the
// leaf unit (holding the offset of the normalized string) reached after its last byte.
struct KeyPath {
  size_t root_base = 0, first_unit = 0, leaf_unit = 0;
  uint32_t value = 0;
};

KeyPath walk_key(const std::string& model, const Charsmap& c, const std::string& key) {
  KeyPath k;
  size_t base = darts_offset(get32(model, c.unit_at(0)));
  k.root_base = base;
  bool leaf = false;
  for (size_t i = 0; i < key.size(); ++i) {
    auto byte = static_cast<uint8_t>(key[i]);
    size_t pos = base ^ byte;
    uint32_t u = get32(model, c.unit_at(pos));
    if ((u & (0x80000000u | 0xffu)) != byte) throw std::runtime_error("key not in the trie");
    if (i == 0) k.first_unit = pos;
    base = pos ^ darts_offset(u);
    leaf = (u >> 8) & 1;
  }
  if (!leaf) throw std::runtime_error("key has no leaf");
  k.leaf_unit = base;
  k.value = get32(model, c.unit_at(base)) & 0x7fffffffu;
  return k;
}

const std::string kFullwidthA = "\xEF\xBC\xA1";  // U+FF21, NFKC "A"

// Writes the damaged bytes as a .model, loads it, and returns the error (which must name the file).
std::string load_error(const std::string& bytes, const std::string& name) {
  std::string path = test::process_dir("test_text_sp") + "/" + name + ".model";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    load_tokenizer(path);
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    return msg;
  }
  return "loaded";
}

}  // namespace

TEST(SentencePiece, CharsmapCheckPassesTrainedModel) {
  std::string model = read_bytes(tiny_sp_model());
  EXPECT_NO_THROW(check_sentencepiece_model(model, tiny_sp_model()));
  Charsmap c = normalizer_charsmap(model);
  EXPECT_GT(c.size, 1000u);
  EXPECT_EQ(c.units() % 256, 0u);  // darts-clone allocates whole 256-unit blocks
  // The tests' walk agrees with the model: Ａ normalizes to "A".
  KeyPath k = walk_key(model, c, kFullwidthA);
  EXPECT_EQ(std::string(model.c_str() + c.strings_at() + k.value), "A");
}

TEST(SentencePiece, CharsmapUnitOutsideArrayRefused) {
  std::string model = read_bytes(tiny_sp_model());
  Charsmap c = normalizer_charsmap(model);
  KeyPath k = walk_key(model, c, kFullwidthA);
  // The unit of Ａ's first byte keeps its label and leaf bit; its offset (bits 10-30: bit 31 would
  // make the label match no byte) now leads far past the array.
  const uint32_t far = (1u << 21) - 1;
  std::string bad = model;
  uint32_t u = get32(model, c.unit_at(k.first_unit));
  put32(&bad, c.unit_at(k.first_unit), (u & 0x1ffu) | (far << 10));
  std::string msg = load_error(bad, "unit_outside");
  EXPECT_NE(msg.find(kField), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("trie unit {} points to unit {}", k.first_unit, k.first_unit ^ far)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(fmt::format("beyond the {} units", c.units())), std::string::npos) << msg;
  // The root's own offset, too.
  bad = model;
  put32(&bad, c.unit_at(0), far << 10);
  msg = load_error(bad, "root_outside");
  EXPECT_NE(msg.find(fmt::format("{}: trie unit 0 points to unit {}", kField, far)), std::string::npos) << msg;
}

TEST(SentencePiece, CharsmapLeafOutsideStringsRefused) {
  std::string model = read_bytes(tiny_sp_model());
  Charsmap c = normalizer_charsmap(model);
  KeyPath k = walk_key(model, c, kFullwidthA);
  std::string bad = model;
  put32(&bad, c.unit_at(k.leaf_unit), 0x80000000u | 0x7fffff00u);  // still a leaf unit, value far out
  std::string msg = load_error(bad, "leaf_outside");
  EXPECT_NE(msg.find(kField), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("trie leaf at unit {} (from unit", k.leaf_unit)), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("points to byte {} of the normalized strings, beyond their {} bytes", 0x7fffff00u,
                                 c.end() - c.strings_at())),
            std::string::npos)
      << msg;
}

TEST(SentencePiece, CharsmapStringWithoutNulRefused) {
  std::string model = read_bytes(tiny_sp_model());
  Charsmap c = normalizer_charsmap(model);
  KeyPath k = walk_key(model, c, kFullwidthA);
  // No NUL from Ａ's string to the end of the blob: that string, and any after it, would be read on
  // into whatever follows the charsmap.
  std::string bad = model;
  for (size_t i = c.strings_at() + k.value; i < c.end(); ++i)
    if (bad[i] == '\0') bad[i] = 'x';
  std::string msg = load_error(bad, "no_nul");
  EXPECT_NE(msg.find(kField), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("has no NUL before the end of the {} bytes", c.end() - c.strings_at())),
            std::string::npos)
      << msg;
}

TEST(SentencePiece, CharsmapTrieSizeLargerThanBlobRefused) {
  std::string model = read_bytes(tiny_sp_model());
  Charsmap c = normalizer_charsmap(model);
  // libsentencepiece itself refuses a trie_blob_size of the charsmap's size or more, but takes up to
  // 3 bytes less, which still runs past the end: the 4-byte size and the array must both fit.
  for (size_t trie_size : {c.size, c.size - 3}) {
    std::string bad = model;
    put32(&bad, c.at, static_cast<uint32_t>(trie_size));
    std::string msg = load_error(bad, "trie_size");
    EXPECT_NE(msg.find(fmt::format("{}: trie_blob_size {} is larger than the {} bytes that follow it", kField,
                                   trie_size, c.size - 4)),
              std::string::npos)
        << msg;
  }
}

TEST(SentencePiece, CharsmapCycleRefused) {
  std::string model = read_bytes(tiny_sp_model());
  Charsmap c = normalizer_charsmap(model);
  KeyPath k = walk_key(model, c, kFullwidthA);
  // Ａ's first byte now leads back to the root, with a leaf: "\xEF\xEF\xEF..." would match without end.
  std::string bad = model;
  uint32_t u = get32(model, c.unit_at(k.first_unit));
  uint32_t back = static_cast<uint32_t>(k.first_unit ^ k.root_base);
  ASSERT_LT(back, 1u << 21);  // fits the plain offset form
  put32(&bad, c.unit_at(k.first_unit), (u & 0xffu) | (1u << 8) | (back << 10));
  std::string msg = load_error(bad, "cycle");
  EXPECT_NE(msg.find(kField), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("trie unit {} points back to unit {}", k.first_unit, k.root_base)),
            std::string::npos)
      << msg;
}
