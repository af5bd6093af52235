// SentencePiece .model: a tiny model trained here with <|eot|> as a user-defined symbol.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "prospect/core/error.h"
#include "prospect/text/chat_template.h"
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
