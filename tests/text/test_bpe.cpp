// Byte-level BPE (tokenizer.json) against the oracle goldens, round trips, offsets, added-token flags.
#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/text/tokenizer.h"
#include "text_test_util.h"

using namespace prospect;
using prospect::test::read_jsonl;
using prospect::test::source_path;

namespace {

const Tokenizer& llama3() {
  static auto t = load_tokenizer(test::llama3_path());
  return *t;
}
const Tokenizer& tiny() {
  static auto t = load_tokenizer(test::tiny_path());
  return *t;
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  for (auto& j : read_jsonl(source_path("tests/text/golden/corpus.jsonl"))) out.push_back(j.get<std::string>());
  return out;
}

void expect_goldens(const Tokenizer& tok, const std::string& golden_file) {
  auto texts = corpus();
  auto golden = read_jsonl(source_path("tests/text/golden/" + golden_file));
  ASSERT_GE(texts.size(), 200u);
  ASSERT_EQ(texts.size(), golden.size());
  int bad = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto want = golden[i].get<std::vector<int32_t>>();
    auto got = tok.encode(texts[i]).ids;
    if (got != want && ++bad <= 5)
      ADD_FAILURE() << golden_file << " line " << i + 1 << " text " << nlohmann::json(texts[i]).dump()
                    << "\n  want " << nlohmann::json(want).dump() << "\n  got  " << nlohmann::json(got).dump();
  }
  EXPECT_EQ(bad, 0);
}

// Offsets are contiguous, in order, cover the text, and each byte-level token's span is its bytes.
void expect_offsets_and_round_trip(const Tokenizer& tok) {
  for (const auto& text : corpus()) {
    Encoding e = tok.encode(text);
    ASSERT_EQ(e.ids.size(), e.offsets.size());
    size_t pos = 0;
    for (size_t i = 0; i < e.ids.size(); ++i) {
      ASSERT_EQ(e.offsets[i].first, pos) << nlohmann::json(text).dump() << " token " << i;
      ASSERT_LE(e.offsets[i].first, e.offsets[i].second);
      std::string span = text.substr(e.offsets[i].first, e.offsets[i].second - e.offsets[i].first);
      if (!tok.is_special(e.ids[i])) EXPECT_EQ(span, tok.decode({e.ids[i]})) << nlohmann::json(text).dump();
      pos = e.offsets[i].second;
    }
    EXPECT_EQ(pos, text.size()) << nlohmann::json(text).dump();
    // Round trip, except where an lstrip/rstrip added token absorbed whitespace (HF drops it too).
    bool stripped = false;
    for (size_t i = 0; i < e.ids.size(); ++i)
      stripped |= tok.is_special(e.ids[i]) && e.offsets[i].second - e.offsets[i].first != tok.id_to_token(e.ids[i]).size();
    if (!stripped) EXPECT_EQ(tok.decode(e.ids), text) << nlohmann::json(text).dump();
  }
}

}  // namespace

TEST(Bpe, Llama3MatchesOracleGoldens) { expect_goldens(llama3(), "llama3_ids.jsonl"); }
TEST(Bpe, TinyMatchesOracleGoldens) { expect_goldens(tiny(), "tiny_ids.jsonl"); }

// Where JavaScript's \s differs from Oniguruma's: hand-split cases (oniguruma_cases.jsonl).
TEST(Bpe, OnigurumaWhitespaceCases) {
  auto cases = read_jsonl(source_path("tests/text/golden/oniguruma_cases.jsonl"));
  auto ids = read_jsonl(source_path("tests/text/golden/oniguruma_ids.jsonl"));
  ASSERT_EQ(cases.size(), ids.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tokenizer& tok = cases[i]["tokenizer"] == "llama3" ? llama3() : tiny();
    std::string text = cases[i]["text"];
    Encoding e = tok.encode(text);
    EXPECT_EQ(e.ids, ids[i]["ids"].get<std::vector<int32_t>>()) << cases[i].dump();
    // every piece boundary of the hand split is a token boundary
    std::vector<size_t> ends;
    for (auto& o : e.offsets) ends.push_back(o.second);
    size_t at = 0;
    for (auto& p : cases[i]["pieces"]) {
      at += p.get<std::string>().size();
      EXPECT_NE(std::find(ends.begin(), ends.end(), at), ends.end()) << cases[i].dump() << " boundary " << at;
    }
  }
}

TEST(Bpe, Llama3OffsetsAndRoundTrip) { expect_offsets_and_round_trip(llama3()); }
TEST(Bpe, TinyOffsetsAndRoundTrip) { expect_offsets_and_round_trip(tiny()); }

TEST(Bpe, Llama3SpecialIds) {
  const Tokenizer& t = llama3();
  EXPECT_EQ(t.kind(), "bpe");
  EXPECT_EQ(t.vocab_size(), 128256);
  EXPECT_EQ(t.bos_id(), 128000);           // from the TemplateProcessing post-processor
  EXPECT_EQ(t.eos_id(), 128009);           // eos_token of tokenizer_config.json: <|eot_id|>
  EXPECT_EQ(t.token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(t.token_to_id("Hello"), 9906);
  EXPECT_EQ(t.token_to_id("no such token"), -1);
  EXPECT_EQ(t.id_to_token(128009), "<|eot_id|>");
  EXPECT_TRUE(t.is_special(128009));
  EXPECT_FALSE(t.is_special(9906));
  // encode never adds BOS
  EXPECT_EQ(t.encode("Hello World").ids, (std::vector<int32_t>{9906, 4435}));
  EXPECT_TRUE(t.encode("").ids.empty());
  // special tokens are matched with spaces kept and case-sensitively
  EXPECT_EQ(t.encode(" <|eot_id|> ").ids, (std::vector<int32_t>{220, 128009, 220}));
  EXPECT_EQ(t.encode("<|EOT_ID|>").ids.size(), 7u);
  for (const char* bad : {"\xff", "ab\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80" "b"})
    EXPECT_THROW(t.encode(bad), Error) << bad;
  EXPECT_EQ(t.decode(t.encode("\xf0\x9f\x98\x80").ids), "\xf0\x9f\x98\x80");  // 😀 is fine
  EXPECT_THROW(t.decode({-1}), Error);
  EXPECT_THROW(t.decode({128256}), Error);
}

TEST(Bpe, TinySpecialIds) {
  const Tokenizer& t = tiny();
  EXPECT_EQ(t.bos_id(), -1);  // no template post-processor, no <|begin_of_text|> or <s>
  EXPECT_EQ(t.eos_id(), 0);   // <|endoftext|>
  EXPECT_EQ(t.token_to_id("<|eot|>"), t.vocab_size() - 1);
}

// A hand-made tokenizer.json: the 256 byte tokens, no merges, added tokens with each flag.
namespace {
std::string flags_json() {
  nlohmann::json vocab = nlohmann::json::object();
  int n = 0, extra = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    uint32_t cp = printable ? b : 256 + extra++;
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab[s] = n++;
  }
  auto tok = [](int id, const char* c, bool sw, bool l, bool r) {
    return nlohmann::json{{"id", id}, {"content", c}, {"single_word", sw}, {"lstrip", l}, {"rstrip", r},
                          {"normalized", false}, {"special", true}};
  };
  nlohmann::json j = {
      {"added_tokens", {tok(256, "[W]", true, false, false), tok(257, "<l>", false, true, false),
                        tok(258, "<r>", false, false, true), tok(259, "<ab>", false, false, false),
                        tok(260, "<abc>", false, false, false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  return j.dump();
}
}  // namespace

TEST(Bpe, AddedTokenFlags) {
  auto t = bpe_tokenizer_from_json(flags_json(), "flags.json");
  auto ids = [&](const std::string& s) { return t->encode(s).ids; };
  using V = std::vector<int32_t>;
  // single_word: only between non-word characters
  EXPECT_EQ(ids("[W]"), V({256}));
  EXPECT_EQ(ids("a [W]!"), V({t->token_to_id("a"), t->token_to_id("\xC4\xA0"), 256, t->token_to_id("!")}));
  EXPECT_EQ(ids("x[W]").size(), 4u);      // glued to a word: plain bytes
  EXPECT_EQ(ids("\xC3\xA9[W]").size(), 5u);  // é is a word character
  EXPECT_EQ(ids("\xE2\x85\xAB[W]").size(), 6u);  // so is Ⅻ (Alphabetic, though a number)
  EXPECT_EQ(ids("\xE2\x80\x8D[W]").size(), 6u);  // and ZWJ (Join_Control)
  EXPECT_EQ(ids("\xE2\x91\xA0[W]").size(), 4u);  // ① (No) is not: [W] matches
  // lstrip: the token absorbs the whitespace before it; rstrip: after it
  Encoding e = t->encode("a  <l>b");
  EXPECT_EQ(e.ids, V({t->token_to_id("a"), 257, t->token_to_id("b")}));
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>(1, 6)));
  e = t->encode("<r> \t b");
  EXPECT_EQ(e.ids, V({258, t->token_to_id("b")}));
  EXPECT_EQ(e.offsets[0], (std::pair<size_t, size_t>(0, 6)));
  // longest first among tokens at the same position
  EXPECT_EQ(ids("<abc>"), V({260}));
  EXPECT_EQ(ids("<ab><abc>"), V({259, 260}));
}

TEST(Bpe, Errors) {
  try {
    load_tokenizer("/nonexistent/tokenizer.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json"), std::string::npos);
  }
  EXPECT_THROW(load_tokenizer(source_path("tests/text/golden/README.md")), Error);  // unknown extension
  auto j = nlohmann::json::parse(flags_json());
  j["normalizer"] = {{"type", "NFC"}};
  try {
    bpe_tokenizer_from_json(j.dump(), "x.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NFC"), std::string::npos) << e.what();
  }
  j = nlohmann::json::parse(flags_json());
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_THROW(bpe_tokenizer_from_json(j.dump(), "x.json"), Error);
  EXPECT_THROW(bpe_tokenizer_from_json("{not json", "x.json"), Error);
  EXPECT_THROW(bpe_tokenizer_from_json("{\"model\": {\"type\": \"BPE\"}}", "x.json"), Error);
}

// Pre-tokenizer steps beyond the two real files: Split with a String pattern and other behaviors,
// ByteLevel's prefix space (zero-width offset). Expected pieces derived by hand from HF's rules.
TEST(Bpe, SplitBehaviorsAndPrefixSpace) {
  auto make = [](nlohmann::json split, bool prefix) {
    auto j = nlohmann::json::parse(flags_json());
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {split, {{"type", "ByteLevel"}, {"add_prefix_space", prefix}, {"use_regex", false}}}}};
    return bpe_tokenizer_from_json(j.dump(), "split.json");
  };
  auto split = [](const char* lit, const char* behavior, bool invert = false) {
    return nlohmann::json{{"type", "Split"}, {"pattern", {{"String", lit}}}, {"behavior", behavior}, {"invert", invert}};
  };
  using Off = std::vector<std::pair<size_t, size_t>>;
  // Removed + prefix space: "a-b" -> " a", " b"; the added spaces have zero width
  auto t = make(split("-", "Removed"), true);
  Encoding e = t->encode("a-b");
  EXPECT_EQ(t->decode(e.ids), " a b");
  EXPECT_EQ(e.offsets, (Off{{0, 0}, {0, 1}, {2, 2}, {2, 3}}));
  // MergedWithPrevious: "a-b-" -> "a-", "b-"; MergedWithNext: "-a-b" -> "-a", "-b"
  t = make(split("-", "MergedWithPrevious"), true);
  e = t->encode("a-b-");
  EXPECT_EQ(t->decode(e.ids), " a- b-");
  t = make(split("-", "MergedWithNext"), true);
  EXPECT_EQ(t->decode(t->encode("-a-b").ids), " -a -b");
  // Contiguous: "a--b" -> "a", "--", "b"
  t = make(split("-", "Contiguous"), true);
  EXPECT_EQ(t->decode(t->encode("a--b").ids), " a -- b");
  // invert: the pattern marks what to keep apart ("a-b" with invert+Removed keeps only "-")
  t = make(split("-", "Removed", true), false);
  EXPECT_EQ(t->decode(t->encode("a-b").ids), "-");
  // Regex splits ("\\d+" Isolated) and a piece that starts with a space gets no second one
  auto j = nlohmann::json{{"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Isolated"}, {"invert", false}};
  t = make(j, true);
  EXPECT_EQ(t->decode(t->encode("ab12 c").ids), " ab 12 c");
  // A regex that does not compile is an error naming the file
  j["pattern"]["Regex"] = "(unclosed";
  EXPECT_THROW(make(j, false), Error);
}
