#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "test_util.h"
#include "tiny_store.h"
#include "prospect/core/error.h"
#include "prospect/core/hdf5.h"
#include "prospect/data/npy.h"
#include "prospect/data/store.h"

using namespace prospect;
using namespace prospect::test;

TEST(Half, KnownValuesAndRounding) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);               // overflow -> inf
  EXPECT_EQ(float_to_half(5.960464477539063e-08f), 1);  // smallest subnormal
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  for (uint32_t h = 0; h < 0x7c00; ++h) ASSERT_EQ(float_to_half(half_to_float(static_cast<uint16_t>(h))), h);
}

static void round_trip(bool fp16) {
  std::string dir = fresh_dir(fp16 ? "data_rt16" : "data_rt32");
  std::string path = dir + "/s.h5";
  const int64_t D = 12;
  // Clips crossing chunk boundaries (256 rows) with out-of-order videos.
  std::vector<json> clips = {good_clip("va", 0, 199), good_clip("vb", 10, 129), good_clip("va", 200, 409),
                             good_clip("vc", 5, 5)};
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> dist(-2048, 2047);
  std::vector<std::vector<float>> rows;
  {
    StoreWriter w(path, D, 2.0, "unit", fp16);
    for (auto& c : clips) {
      Clip cl = parse_clip(c, "x");
      std::vector<float> v(cl.num_frames() * D);
      for (auto& x : v) x = fp16 ? dist(gen) / 256.0f : std::ldexp(static_cast<float>(dist(gen)), -7) + 1e-3f * dist(gen);
      w.add_clip(cl, v.data(), cl.num_frames());
      rows.push_back(v);
    }
    w.close();
  }
  Store s(path);
  EXPECT_EQ(s.num_clips(), 4);
  EXPECT_EQ(s.embedding_dim(), D);
  EXPECT_EQ(s.info().fp16, fp16);
  EXPECT_EQ(s.info().feature_model, "unit");
  EXPECT_DOUBLE_EQ(s.fps(), 2.0);
  EXPECT_EQ(s.info().num_rows, 200 + 120 + 210 + 1);
  EXPECT_EQ(s.video_uids(), (std::vector<std::string>{"va", "vb", "vc"}));
  EXPECT_EQ(s.clip_video(2), 0);
  EXPECT_EQ(s.clip_video(1), 1);
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_EQ(s.read_clip(c), rows[c]) << "clip " << c;
    EXPECT_EQ(s.clip(c).id(), parse_clip(clips[c], "x").id());
  }
  // A sub-range by video-absolute frames: clip 2 starts at frame 200.
  auto sub = s.read_frames(2, 250, 260);
  ASSERT_EQ(sub.size(), 11u * D);
  EXPECT_TRUE(std::equal(sub.begin(), sub.end(), rows[2].begin() + 50 * D));
  EXPECT_THROW(s.read_frames(2, 199, 201), Error);
  EXPECT_THROW(s.read_frames(2, 400, 410), Error);
  EXPECT_THROW(s.read_clip(4), Error);
}

TEST(Store, RoundTripFp32Exact) { round_trip(false); }
TEST(Store, RoundTripFp16Exact) { round_trip(true); }

TEST(Store, Fp16RowsAreRoundedToNearest) {
  std::string path = fresh_dir("data_round") + "/s.h5";
  std::vector<float> v(20 * 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>(i) - 3.3f;
  {
    StoreWriter w(path, 4, 2.0, "", true);
    w.add_clip(parse_clip(good_clip(), "x"), v.data(), 20);
    w.close();
  }
  auto back = Store(path).read_clip(0);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(back[i], half_to_float(float_to_half(v[i])));
}

TEST(Store, ClipJsonKeepsUnknownFieldsAndAttributesAreSet) {
  std::string path = fresh_dir("data_attrs") + "/s.h5";
  write_store(path, {sc(good_clip())});
  Store s(path);
  json j = json::parse(s.clip_json(0));
  EXPECT_EQ(j["quality"], 5);
  h5::File f = h5::open_read(path);
  EXPECT_EQ(h5::attr_string(f, "format"), "prospect-store");
  EXPECT_EQ(h5::attr_int(f, "version"), 1);
  EXPECT_EQ(h5::attr_int(f, "embedding_dim"), 8);
  EXPECT_EQ(h5::attr_string(f, "feature_model"), "test-features");
}

TEST(Store, WriterWithoutCloseLeavesNothing) {
  std::string path = fresh_dir("data_noclose") + "/s.h5";
  {
    StoreWriter w(path, 4, 2.0, "", true);
    std::vector<float> v(20 * 4, 1.0f);
    w.add_clip(parse_clip(good_clip(), "x"), v.data(), 20);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

static std::string error_of(const std::string& path) {
  return error_message<Error>([&] { Store s(path); });
}

TEST(Store, OpenErrorsAreTypedAndNameThePath) {
  std::string dir = fresh_dir("data_bad");
  EXPECT_NE(error_of(dir + "/missing.h5").find("no such file"), std::string::npos);
  {
    std::ofstream f(dir + "/text.h5");
    f << "this is not hdf5\n";
  }
  std::string e = error_of(dir + "/text.h5");
  EXPECT_NE(e.find("text.h5"), std::string::npos);
  EXPECT_NE(e.find("not an HDF5 file"), std::string::npos) << e;
  std::string good = dir + "/good.h5";
  write_store(good, {sc(good_clip()), sc(good_clip("v2", 0, 299))});
  auto size = std::filesystem::file_size(good);
  std::filesystem::copy_file(good, dir + "/trunc.h5");
  std::filesystem::resize_file(dir + "/trunc.h5", size / 2);
  e = error_of(dir + "/trunc.h5");
  EXPECT_NE(e.find("trunc.h5"), std::string::npos);
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  {
    h5::File f = h5::create(dir + "/other.h5");
    h5::set_attr(f, "format", std::string("something-else"));
  }
  e = error_of(dir + "/other.h5");
  EXPECT_NE(e.find("not a prospect store"), std::string::npos) << e;
  {
    h5::File f = h5::create(dir + "/plain.h5");
  }
  e = error_of(dir + "/plain.h5");
  EXPECT_NE(e.find("not a prospect store"), std::string::npos) << e;
}

TEST(Npy, ReadsFloat16_32_64AndTokenAxis) {
  std::string dir = fresh_dir("data_npy");
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  write_npy(dir + "/a.npy", {3, 1, 2}, v.data());
  NpyArray a = read_npy(dir + "/a.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(a.data, v);
  std::ofstream(dir + "/bad.npy") << "nope";
  EXPECT_THROW(read_npy(dir + "/bad.npy"), Error);
}
