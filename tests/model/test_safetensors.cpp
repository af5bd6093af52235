// safetensors: round trips in every dtype, metadata, sharded folders, and every kind of corrupt file
// (each an Error naming the file and the tensor), plus a fuzz loop that may only ever throw Error.
#include "prospect/model/safetensors.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "model_test_util.h"
#include "prospect/core/error.h"

namespace prospect {
namespace {
namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(s.data(), s.size());
}
// A file with a hand-written header (possibly lying) followed by `data_bytes` bytes.
void write_raw(const fs::path& p, const std::string& header, size_t data_bytes, uint64_t header_len = 0) {
  std::string s(8, '\0');
  uint64_t n = header_len ? header_len : header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  s += header;
  s += std::string(data_bytes, '\x01');
  write_bytes(p, s);
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  at::set_num_threads(1);
  auto d = test::model_dir("st_roundtrip");
  NamedTensors t = {
      {"a.f32", at::randn({3, 4})},
      {"b.f16", at::randn({5}).to(at::kHalf)},
      {"c.bf16", at::randn({2, 3, 2}).to(at::kBFloat16)},
      {"d.f64", at::randn({2}, at::kDouble)},
      {"e.i64", at::arange(7, at::kLong)},
      {"f.scalar", at::tensor(3.5f).reshape({})},
      {"g.empty", at::empty({0, 4})},
      {"h.noncontig", at::randn({4, 3}).t()},
  };
  std::string p = (d / "x.safetensors").string();
  save_safetensors(p, t, {{"format", "pt"}, {"step", "12"}});
  std::map<std::string, std::string> meta;
  TensorMap back = load_safetensors(p, &meta);
  EXPECT_EQ(meta.at("step"), "12");
  ASSERT_EQ(back.size(), t.size());
  for (auto& [name, ten] : t) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_EQ(back[name].scalar_type(), ten.scalar_type()) << name;
    EXPECT_TRUE(back[name].equal(ten.contiguous())) << name;
  }
  EXPECT_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));
  // The header length is a multiple of 8 so the data section is aligned.
  std::string bytes = read_bytes(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, ShardedFolderLoadsLikeSingleFile) {
  auto d1 = test::model_dir("st_single"), d2 = test::model_dir("st_sharded");
  NamedTensors t;
  for (int i = 0; i < 6; ++i) t.emplace_back("layer." + std::to_string(i) + ".w", at::randn({16, 16}));
  save_safetensors_dir(d1.string(), t);
  save_safetensors_dir(d2.string(), t, 16 * 16 * 4 * 2);  // two tensors a shard
  EXPECT_TRUE(fs::exists(d2 / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(d2 / "model-00003-of-00003.safetensors"));
  TensorMap a = load_safetensors_dir(d1.string()), b = load_safetensors_dir(d2.string());
  ASSERT_EQ(a.size(), b.size());
  for (auto& [n, x] : a) EXPECT_TRUE(x.equal(b.at(n))) << n;
  // A weight_map entry whose shard lacks the tensor.
  auto j = test::read_json(d2 / "model.safetensors.index.json");
  j["weight_map"]["ghost.w"] = "model-00001-of-00003.safetensors";
  std::ofstream(d2 / "model.safetensors.index.json") << j.dump();
  std::string e = test::error_message<Error>([&] { load_safetensors_dir(d2.string()); });
  EXPECT_NE(e.find("ghost.w"), std::string::npos) << e;
  EXPECT_NE(e.find("model-00001-of-00003.safetensors"), std::string::npos) << e;
  // A missing folder names it.
  e = test::error_message<Error>([&] { load_safetensors_dir((d2 / "nope").string()); });
  EXPECT_NE(e.find("nope"), std::string::npos) << e;
}

TEST(Safetensors, CorruptFilesNameFileAndTensor) {
  auto d = test::model_dir("st_corrupt");
  std::string p = (d / "bad.safetensors").string();
  auto expect_error = [&](const std::string& what, std::initializer_list<std::string> words) {
    std::string e = test::error_message<Error>([&] { load_safetensors(p); });
    ASSERT_FALSE(e.empty()) << what << ": no error";
    EXPECT_NE(e.find(p), std::string::npos) << what << ": " << e;
    for (auto& w : words) EXPECT_NE(e.find(w), std::string::npos) << what << ": '" << w << "' not in: " << e;
  };
  // Truncated: a valid file cut short in the data section names the tensor whose bytes are gone.
  save_safetensors(p, {{"w1", at::randn({4, 4})}, {"w2", at::randn({8})}});
  std::string good = read_bytes(p);
  write_bytes(p, good.substr(0, good.size() - 5));
  expect_error("truncated data", {"w2", "truncated"});
  write_bytes(p, good.substr(0, 5));
  expect_error("shorter than the length field", {"truncated"});
  write_bytes(p, good.substr(0, 20));
  expect_error("truncated header", {"truncated"});
  // Offsets that lie.
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  expect_error("overlap", {"overlaps", "'a'", "'b'"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  expect_error("out of bounds", {"'a'"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  expect_error("size != numel * dtype", {"'a'", "expected 12 bytes"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8);
  expect_error("end before begin", {"'a'"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8);
  expect_error("overflowing shape", {"'a'"});
  write_raw(p, R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8);
  expect_error("unknown dtype", {"'a'", "Q4"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  expect_error("negative shape", {"'a'"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2]}})", 8);
  expect_error("no offsets", {"'a'", "data_offsets"});
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8);
  expect_error("bad JSON", {"JSON"});
  write_raw(p, R"([1,2,3])", 0);
  expect_error("not an object", {"object"});
  write_raw(p, "{}", 0, 1ull << 60);
  expect_error("huge header length", {"header length"});
  write_raw(p, "{}", 0, 5000);
  expect_error("header longer than file", {"truncated"});
  // Missing file.
  std::string e = test::error_message<Error>([&] { load_safetensors((d / "missing.safetensors").string()); });
  EXPECT_NE(e.find("missing.safetensors"), std::string::npos) << e;
}

TEST(Safetensors, FuzzOnlyThrowsError) {
  auto d = test::model_dir("st_fuzz");
  std::string p = (d / "f.safetensors").string();
  save_safetensors(p, {{"emb", at::randn({5, 3})}, {"x", at::randn({2}).to(at::kHalf)}, {"y", at::arange(3, at::kLong)}},
                   {{"format", "pt"}});
  std::string good = read_bytes(p);
  uint64_t header_end = 8 + static_cast<uint8_t>(good[0]) + 256 * static_cast<uint8_t>(good[1]);
  std::mt19937_64 rng(7);
  int errors = 0, ok = 0;
  for (int it = 0; it < 400; ++it) {
    std::string s = good;
    int kind = it % 3;
    if (kind == 0) {
      s.resize(rng() % good.size());
    } else if (kind == 1) {  // random bytes in the header or its length
      int flips = 1 + rng() % 4;
      for (int f = 0; f < flips; ++f) s[rng() % header_end] = static_cast<char>(rng() & 0xff);
    } else {  // printable garbage in the header keeps it JSON-ish more often
      const char pool[] = "{}[]\":,0123456789-eE. abF";
      int flips = 1 + rng() % 3;
      for (int f = 0; f < flips; ++f) s[8 + rng() % (header_end - 8)] = pool[rng() % (sizeof pool - 1)];
    }
    write_bytes(p, s);
    try {
      load_safetensors(p);
      ++ok;
    } catch (const Error&) {
      ++errors;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << it << ": not a prospect::Error: " << e.what();
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace prospect
