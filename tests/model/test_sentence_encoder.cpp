// The sentence encoder's contracts on a tiny random BERT folder written here (the numbers against
// sentence-transformers: the oracle test tests/eval/oracle_sentence_encoder.py).
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "tiny_sentence_encoder.h"
#include "prospect/core/error.h"
#include "prospect/model/safetensors.h"
#include "prospect/model/sentence_encoder.h"

using namespace prospect;

namespace {

std::filesystem::path tiny_bert(const std::string& name, const std::string& pooling_mode = "pooling_mode_mean_tokens") {
  std::filesystem::path d = test::fresh_dir("model_" + name);
  test::write_tiny_bert(d, pooling_mode);
  return d;
}

void write(const std::filesystem::path& p, const std::string& text) { test::write_text(p, text); }

}  // namespace

TEST(SentenceEncoder, UnitRowsIndependentOfBatch) {
  SentenceEncoder enc(tiny_bert("enc_batch").string());
  at::Tensor alone = enc.embed({{2, 5, 6, 3}});
  at::Tensor batch = enc.embed({{2, 7, 8, 9, 10, 11, 3}, {2, 5, 6, 3}});  // padded to 7
  ASSERT_EQ(batch.sizes(), (at::IntArrayRef{2, 8}));
  EXPECT_TRUE(at::allclose(batch[1], alone[0], 1e-6, 1e-6));  // padding changes nothing
  EXPECT_NEAR(batch.norm(2, {1}).min().item<double>(), 1.0, 1e-6);
  EXPECT_FALSE(at::allclose(batch[0], batch[1]));
  EXPECT_EQ(enc.embed({}).size(0), 0);
}

TEST(SentenceEncoder, RejectsWhatItCannotRun) {
  SentenceEncoder enc(tiny_bert("enc_bad").string());
  EXPECT_THROW(enc.embed({{}}), Error);
  EXPECT_THROW(enc.embed({{2, 20, 3}}), Error);                   // id outside the vocabulary
  EXPECT_THROW(enc.embed({std::vector<int32_t>(17, 2)}), Error);  // more ids than positions
  EXPECT_THROW(SentenceEncoder(tiny_bert("enc_cls", "pooling_mode_cls_token").string()), UsageError);
  auto d = tiny_bert("enc_type");
  write(d / "config.json", R"({"model_type":"roberta","vocab_size":20,"hidden_size":8,"num_hidden_layers":2,
      "num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":16})");
  EXPECT_THROW(SentenceEncoder(d.string()), UsageError);
  auto no_modules = tiny_bert("enc_missing");
  std::filesystem::remove(no_modules / "modules.json");
  EXPECT_THROW(SentenceEncoder(no_modules.string()), Error);
  EXPECT_THROW(SentenceEncoder(test::fresh_dir("model_enc_empty")), Error);
}

TEST(SentenceEncoder, RelativeBucketsAsT5) {
  // key - query = 0..7: buckets 0..7 looking back (query after key) are exact; forward gets +16.
  at::Tensor b = SentenceEncoder::relative_buckets(200, 32);
  EXPECT_EQ(b[5][5].item<int64_t>(), 0);
  EXPECT_EQ(b[7][0].item<int64_t>(), 7);    // key 7 before the query: n = 7, small
  EXPECT_EQ(b[0][7].item<int64_t>(), 23);   // key 7 after: 16 + 7
  EXPECT_EQ(b[16][0].item<int64_t>(), 10);  // n = 16: 8 + trunc(log(2) / log(16) * 8) = 10
  EXPECT_EQ(b[64][0].item<int64_t>(), 14);  // n = 64: 8 + 6
  EXPECT_EQ(b[199][0].item<int64_t>(), 15); // beyond max_distance: the last bucket
}
