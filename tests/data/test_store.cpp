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
  EXPECT_EQ(h5::attr_int(f, "version"), 2);
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

// SPEC §2.2 version 2: texts as checksummed bytes with offsets, no variable-length data anywhere, and
// HDF5's checksummed file format.
TEST(Store, Version2LayoutIsChecksummedBytes) {
  std::string path = fresh_dir("data_v2layout") + "/s.h5";
  std::vector<json> clips = {good_clip("va", 0, 19), good_clip("vb", 0, 29), good_clip("va", 20, 39)};
  write_store(path, {sc(clips[0]), sc(clips[1]), sc(clips[2])});
  h5::File f = h5::open_read(path);
  EXPECT_EQ(h5::attr_int(f, "version"), 2);
  for (const char* name : {"format", "feature_model"}) {
    h5::Attribute a(H5Aopen(f.id(), name, H5P_DEFAULT));
    h5::Type t(H5Aget_type(a.id()));
    EXPECT_EQ(H5Tget_class(t.id()), H5T_STRING) << name;
    EXPECT_EQ(H5Tis_variable_str(t.id()), 0) << name << " must be a fixed-length string";
  }
  for (const char* name : {"clip_offsets", "clip_video", "clip_json", "clip_json_offsets", "video_uid_text",
                           "video_uid_offsets"}) {
    h5::Dataset d = h5::open_dataset(f, name);
    h5::Plist dcpl(H5Dget_create_plist(d.id()));
    ASSERT_EQ(H5Pget_nfilters(dcpl.id()), 1) << name;
    unsigned flags = 0;
    size_t n = 0;
    EXPECT_EQ(H5Pget_filter2(dcpl.id(), 0, &flags, &n, nullptr, 0, nullptr, nullptr), H5Z_FILTER_FLETCHER32) << name;
    h5::Type t = h5::file_type(d);
    EXPECT_EQ(H5Tget_class(t.id()), H5T_INTEGER) << name;
  }
  EXPECT_FALSE(h5::exists(f, "clips"));
  EXPECT_FALSE(h5::exists(f, "video_uids"));
  std::string all = clips[0].dump() + clips[1].dump() + clips[2].dump();
  EXPECT_EQ(h5::read_bytes(f, "clip_json"), all);
  int64_t a = clips[0].dump().size(), b = clips[1].dump().size();
  EXPECT_EQ(h5::read_int64(f, "clip_json_offsets"), (std::vector<int64_t>{0, a, a + b, static_cast<int64_t>(all.size())}));
  EXPECT_EQ(h5::read_bytes(f, "video_uid_text"), "vavb");
  EXPECT_EQ(h5::read_int64(f, "video_uid_offsets"), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(h5::read_int64(f, "clip_video"), (std::vector<int64_t>{0, 1, 0}));
  H5F_info2_t info;
  ASSERT_GE(H5Fget_info2(f.id(), &info), 0);
  EXPECT_GE(info.super.version, 2u) << "the superblock carries no checksum";
}

// Stores written before version 2 are still read.
TEST(Store, ReadsVersion1) {
  std::string path = fresh_dir("data_v1") + "/s.h5";
  std::vector<json> clips = {good_clip("va", 0, 19), good_clip("vb", 40, 99), good_clip("va", 20, 39)};
  write_store_v1(path, {sc(clips[0]), sc(clips[1]), sc(clips[2])});
  Store s(path);
  EXPECT_EQ(s.info().version, 1);
  EXPECT_EQ(s.num_clips(), 3);
  EXPECT_EQ(s.info().feature_model, "old-features");
  EXPECT_EQ(s.video_uids(), (std::vector<std::string>{"va", "vb"}));
  EXPECT_EQ(s.clip_video_uid(2), "va");
  EXPECT_EQ(s.clip_offsets(), (std::vector<int64_t>{0, 20, 80, 100}));
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(s.clip_json(c), clips[c].dump());
    int64_t first = clips[c]["start_frame_idx"].get<int64_t>();
    EXPECT_EQ(s.read_clip(c), rows_for(c, first, s.clip_rows(c), 8)) << c;
  }
}

// A damaged byte of a clip's text is a checksum error naming the file, not a different clip.
TEST(Store, DamagedClipTextIsAChecksumError) {
  std::string dir = fresh_dir("data_damaged_text");
  write_store(dir + "/s.h5", {sc(good_clip()), sc(good_clip("v2", 0, 29))});
  std::string bytes = read_text(dir + "/s.h5");
  size_t at = bytes.find("Wait for the kettle");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'w';  // still valid JSON: only the checksum can tell
  write_file_bytes(dir + "/s.h5", bytes);
  std::string e = error_of(dir + "/s.h5");
  EXPECT_NE(e.find(dir + "/s.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("clip_json"), std::string::npos) << e;
  EXPECT_NE(e.find("checksum"), std::string::npos) << e;
}

// A dataspace claiming more elements than the file could hold is an error before any allocation
// (here 2^40 int64: 8 TiB).
TEST(Store, DataspaceLargerThanTheFileIsAnError) {
  std::string path = fresh_dir("data_huge") + "/s.h5";
  write_store(path, {sc(good_clip())});
  {
    h5::File f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path);
    ASSERT_GE(f.id(), 0);
    ASSERT_GE(H5Ldelete(f.id(), "clip_video", H5P_DEFAULT), 0);
    hsize_t n = hsize_t{1} << 40, chunk = 1024;
    h5::Space s(H5Screate_simple(1, &n, nullptr));
    h5::Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.id(), 1, &chunk);
    h5::Dataset d(H5Dcreate2(f.id(), "clip_video", H5T_STD_I64LE, s.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), "x");
    ASSERT_GE(d.id(), 0);
  }
  std::string e = error_of(path);
  EXPECT_NE(e.find("clip_video: 1099511627776 elements of 8 bytes do not fit a file of"), std::string::npos) << e;
}

// An attribute with many values where one is expected is an error; HDF5 would write them all into
// the reader's one-value buffer.
TEST(Store, AttributeWithManyValuesIsAnError) {
  std::string path = fresh_dir("data_attr_many") + "/s.h5";
  write_store(path, {sc(good_clip())});
  {
    h5::File f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path);
    ASSERT_GE(f.id(), 0);
    ASSERT_GE(H5Adelete(f.id(), "version"), 0);
    hsize_t n = 1000;
    std::vector<int64_t> v(n, 2);
    h5::Space s(H5Screate_simple(1, &n, nullptr));
    h5::Attribute a(H5Acreate2(f.id(), "version", H5T_STD_I64LE, s.id(), H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_GE(H5Awrite(a.id(), H5T_NATIVE_INT64, v.data()), 0);
  }
  std::string e = error_of(path);
  EXPECT_NE(e.find("attribute version: expected one value, found 1000"), std::string::npos) << e;
}

// The JSON of a clip that does not parse is named with its video (the store's index knows it).
TEST(Store, UnparsableClipNamesItsVideo) {
  std::string path = fresh_dir("data_badjson_store") + "/s.h5";
  write_store(path, {sc(good_clip()), StoreClip{"{\"video_uid\": ", "vx", 5}});
  Store s(path);
  try {
    s.clip(1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip 1 (video vx)"), std::string::npos) << e.what();
  }
}

// .npy files written byte by byte: format 1.0 or 2.0, the header dictionary, little-endian data.
namespace {
std::string npy_bytes(int major, const std::string& descr, const std::string& shape, const std::string& data,
                      const std::string& fortran = "False") {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  const size_t len_bytes = major == 1 ? 2 : 4;
  while ((8 + len_bytes + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  for (size_t i = 0; i < len_bytes; ++i) s += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return s + header + data;
}
std::string le(std::initializer_list<unsigned> bytes) {
  std::string s;
  for (unsigned b : bytes) s += static_cast<char>(b);
  return s;
}
}  // namespace

TEST(Npy, ReadsFloat16_32_64AndTokenAxis) {
  std::string dir = fresh_dir("data_npy");
  // float16: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest subnormal), -0
  write_file_bytes(dir + "/f2.npy", npy_bytes(1, "<f2", "(3, 2)",
                                              le({0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x80})));
  NpyArray a = read_npy(dir + "/f2.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2}));
  ASSERT_EQ(a.data.size(), 6u);
  EXPECT_EQ(a.data[0], 1.0f);
  EXPECT_EQ(a.data[1], -2.0f);
  EXPECT_EQ(a.data[2], 0.5f);
  EXPECT_EQ(a.data[3], 65504.0f);
  EXPECT_EQ(a.data[4], 5.9604644775390625e-08f);
  EXPECT_EQ(a.data[5], 0.0f);
  EXPECT_TRUE(std::signbit(a.data[5]));
  // float32: 1.5, -0.25 (0x3fc00000, 0xbe800000)
  write_file_bytes(dir + "/f4.npy", npy_bytes(1, "<f4", "(2,)", le({0, 0, 0xc0, 0x3f, 0, 0, 0x80, 0xbe})));
  a = read_npy(dir + "/f4.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a.data, (std::vector<float>{1.5f, -0.25f}));
  // float64: 0.1 (0x3fb999999999999a), 2.5 (0x4004000000000000), 1e300 (beyond float: inf)
  write_file_bytes(dir + "/f8.npy",
                   npy_bytes(1, "<f8", "(1, 3)",
                             le({0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0x40,
                                 0x9c, 0x75, 0x00, 0x88, 0x3c, 0xe4, 0x37, 0x7e})));
  a = read_npy(dir + "/f8.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 3}));
  ASSERT_EQ(a.data.size(), 3u);
  EXPECT_EQ(a.data[0], 0.1f);
  EXPECT_EQ(a.data[1], 2.5f);
  EXPECT_TRUE(std::isinf(a.data[2]));
  // SigLIP's [N, 1, D] with a format 2.0 header: the token axis is kept (build squeezes it).
  std::string f4;
  for (float x : {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}) f4.append(reinterpret_cast<const char*>(&x), 4);
  write_file_bytes(dir + "/tok.npy", npy_bytes(2, "<f4", "(3, 1, 2)", f4));
  a = read_npy(dir + "/tok.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(a.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // What our own writer writes reads back.
  write_npy(dir + "/w.npy", {3, 1, 2}, a.data.data());
  EXPECT_EQ(read_npy(dir + "/w.npy").data, a.data);
}

TEST(Npy, BadFilesAreErrorsNamingTheProblem) {
  std::string dir = fresh_dir("data_npy_bad");
  auto error_of_npy = [&](const std::string& name, const std::string& bytes) {
    write_file_bytes(dir + "/" + name, bytes);
    try {
      read_npy(dir + "/" + name);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string eight(8, '\0');
  EXPECT_NE(error_of_npy("magic.npy", "nope").find("not a .npy file"), std::string::npos);
  EXPECT_NE(error_of_npy("be.npy", npy_bytes(1, ">f4", "(2,)", eight)).find("big-endian"), std::string::npos);
  EXPECT_NE(error_of_npy("int.npy", npy_bytes(1, "<i4", "(2,)", eight)).find("expected float16, float32 or float64"),
            std::string::npos);
  EXPECT_NE(error_of_npy("fortran.npy", npy_bytes(1, "<f4", "(2, 1)", eight, "True")).find("Fortran"),
            std::string::npos);
  EXPECT_NE(error_of_npy("short.npy", npy_bytes(1, "<f4", "(3,)", eight)).find("truncated .npy data"),
            std::string::npos);
  // A shape whose element count overflows or exceeds the file: an error before any allocation.
  EXPECT_NE(error_of_npy("huge.npy", npy_bytes(1, "<f4", "(1099511627776, 1099511627776)", eight)).find("truncated .npy data"),
            std::string::npos);
  // 2^32 * 2^32 * 16 elements: the count wraps to 0 in 64 bits.
  EXPECT_NE(error_of_npy("wrap.npy", npy_bytes(1, "<f8", "(4294967296, 4294967296, 16)", eight)).find("truncated .npy data"),
            std::string::npos);
  EXPECT_NE(error_of_npy("digits.npy", npy_bytes(1, "<f4", "(99999999999999999999999,)", eight)).find("shape"),
            std::string::npos);
}
