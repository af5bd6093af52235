// One fabricated store per validation rule: the real `prospect_data validate` must name the defect
// and exit with the right code (1 errors, 0 warnings only, 2 usage).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "test_util.h"
#include "tiny_store.h"
#include "prospect/core/hdf5.h"
#include "prospect/core/rng.h"
#include "prospect/data/validate.h"

using namespace prospect;
using namespace prospect::test;

namespace {

CommandResult validate(const std::string& path, const std::string& extra = "") {
  return run_program(binary_path("prospect_data") + " validate " + path + " " + extra);
}

// Writes a store with clips {a good clip of another video, the given clip} and validates it.
CommandResult validate_clip(const std::string& name, const json& clip, int64_t rows = -1) {
  std::string path = fresh_dir("data_" + name) + "/s.h5";
  write_store(path, {sc(good_clip("ok", 0, 19)), sc(clip, rows)});
  return validate(path);
}

void expect(const CommandResult& r, int code, const std::string& text) {
  EXPECT_EQ(r.code, code) << r.output;
  EXPECT_NE(r.output.find(text), std::string::npos) << "expected '" << text << "' in:\n" << r.output;
}

}  // namespace

TEST(Validate, GoodStorePasses) {
  auto r = validate_clip("good", good_clip("v1", 100, 119));
  expect(r, 0, "0 errors, 0 warnings: valid");
}

TEST(Validate, SchemaErrorNamesTheField) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][2]["content"] = 42;
  auto r = validate_clip("schema", c);
  expect(r, 1, "clip v1:0");
  expect(r, 1, "content");
  json d = good_clip("v2", 0, 19);
  d.erase("end_frame_idx");
  expect(validate_clip("schema2", d, 20), 1, "'end_frame_idx' is missing");
}

TEST(Validate, InvalidJsonText) {
  std::string path = fresh_dir("data_badjson") + "/s.h5";
  write_store(path, {sc(good_clip()), StoreClip{"{\"video_uid\": \"x\", ", "x", 5}});
  auto r = validate(path);
  expect(r, 1, "invalid JSON");
  expect(r, 1, "clip #1 of video x json:");  // the index and the video from the store's index
}

TEST(Validate, TurnFrameOutsideTheClip) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][3]["start_frame"] = 25;
  c["conversation"][3]["end_frame"] = 25;
  c["conversation"][3]["time"] = 2.5;
  auto r = validate_clip("outside", c);
  expect(r, 1, "clip v1:0 turn 3 end_frame: expected 0..19, found 25: turn frame outside the clip");
}

TEST(Validate, ReversedTurnRange) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][3]["start_frame"] = 6;  // end_frame 5
  expect(validate_clip("reversed", c), 1, "turn frame range is reversed");
}

TEST(Validate, TurnsOutOfTimeOrder) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][4]["time"] = 0.5;  // before the previous turn's 2.5 s
  expect(validate_clip("time", c), 1, "turn 4 time: expected >= 2.5, found 0.5: turns out of time order");
}

TEST(Validate, TurnsOutOfFrameOrder) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][4]["start_frame"] = 1;
  c["conversation"][4]["end_frame"] = 1;
  expect(validate_clip("frames", c), 1, "turns out of frame order");
}

TEST(Validate, StepOnlyAnUpdateNamesIsAWarning) {
  json c = good_clip("v1", 0, 19);
  c["conversation"].push_back({{"role", "DST_UPDATE"}, {"content", json::array({{{"id", "S3"}, {"transition", "start"}}})},
                               {"time", 9.0}, {"start_frame", 18}, {"end_frame", 18}});
  expect(validate_clip("unlisted", c), 0, "warning: ");
  expect(validate_clip("unlisted2", c), 0, "id: expected a step id in dst, found S3: step named only by a DST_UPDATE");
}

TEST(Validate, TransitionAlreadyInEffectIsAWarning) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][6]["content"] = json::array({{{"id", "S1"}, {"transition", "complete"}}});  // S1 completed at turn 5
  auto r = validate_clip("again", c);
  expect(r, 0, "transition already in effect");
  expect(r, 0, "1 warnings");
}

TEST(Validate, BackwardTransitionIsAnError) {
  json c = good_clip("v1", 0, 19);
  c["conversation"][8]["content"] = json::array({{{"id", "S1"}, {"transition", "start"}}});  // S1 completed
  expect(validate_clip("backward", c), 1, "S1 start while completed: transition goes back");
}

TEST(Validate, InitialStateComesFromTimestamps) {
  // A clip that starts after S1 ended: completing S1 again is in effect already (warning only),
  // starting it is going back (error).
  json c = good_clip("v1", 0, 19);
  c["start_frame_idx"] = 9;
  c["conversation"][1]["start_frame"] = c["conversation"][1]["end_frame"] = 9;
  c["conversation"][1]["time"] = 4.5;
  c["conversation"][2]["start_frame"] = c["conversation"][2]["end_frame"] = 9;
  c["conversation"][2]["time"] = 4.5;
  for (int i = 3; i <= 7; ++i) c["conversation"].erase(3);
  // left: system, DST S1 start @9, assistant @9, DST S2 complete @15
  expect(validate_clip("initial", c), 1, "S1 start while completed");
}

TEST(Validate, RowsDifferFromFrameRange) {
  expect(validate_clip("rows", good_clip("v1", 0, 19), 15), 1,
         "rows: expected 20 (frames 0..19), found 15: stored rows differ from the clip's frame range");
}

TEST(Validate, TurnBeyondTheStoredRows) {
  expect(validate_clip("stored", good_clip("v1", 0, 19), 12), 1, "turn frame outside the stored rows");
}

TEST(Validate, EmptyClip) {
  json c = good_clip("v1", 10, 19);
  c["end_frame_idx"] = 5;
  c["conversation"] = json::array({c["conversation"][0]});
  expect(validate_clip("empty", c, 0), 1, "empty clip");
}

TEST(Validate, NanRowsAreErrors) {
  std::string path = fresh_dir("data_nan") + "/s.h5";
  {
    StoreWriter w(path, 4, 2.0, "", true);
    std::vector<float> v(20 * 4, 0.5f);
    v[7 * 4 + 2] = NAN;
    v[9 * 4 + 0] = INFINITY;
    w.add_clip(parse_clip(good_clip("v1", 100, 119), "x"), v.data(), 20);
    w.close();
  }
  expect(validate(path), 1, "2 rows with NaN/Inf: first at frame 107");
  expect(validate(path, "--no-values"), 0, "valid");
}

TEST(Validate, EmbeddingDimAttributeDisagrees) {
  std::string path = fresh_dir("data_dimattr") + "/s.h5";
  write_store(path, {sc(good_clip())});
  {
    h5::File f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path);
    ASSERT_GE(f.id(), 0);
    h5::set_attr(f, "embedding_dim", int64_t{1152});
  }
  expect(validate(path), 1, "embedding_dim: expected 8 (the shape of /embeddings), found 1152");
}

TEST(Validate, EmbeddingDimAgainstTheConfig) {
  std::string dir = fresh_dir("data_dimcfg");
  write_store(dir + "/s.h5", {sc(good_clip())});
  std::ofstream(dir + "/bad.ini") << "[model]\nfeature_dim = 1152\n";
  std::ofstream(dir + "/good.ini") << "[model]\nfeature_dim = 8\n";
  std::ofstream(dir + "/auto.ini") << "[model]\nfeature_dim = 0\n";
  expect(validate(dir + "/s.h5", "--config " + dir + "/bad.ini"), 1,
         "embedding_dim: expected 1152 (model.feature_dim), found 8");
  expect(validate(dir + "/s.h5", "--config " + dir + "/good.ini"), 0, "valid");
  expect(validate(dir + "/s.h5", "--config " + dir + "/auto.ini"), 0, "valid");
}

TEST(Validate, NotAnHdf5File) {
  std::string dir = fresh_dir("data_nothdf5");
  std::ofstream(dir + "/x.h5") << "[1, 2, 3]\n";
  expect(validate(dir + "/x.h5"), 1, "not an HDF5 file");
}

TEST(Validate, TruncatedFile) {
  std::string dir = fresh_dir("data_trunc");
  write_store(dir + "/s.h5", {sc(good_clip()), sc(good_clip("v2", 0, 399))});
  std::filesystem::resize_file(dir + "/s.h5", std::filesystem::file_size(dir + "/s.h5") / 3);
  expect(validate(dir + "/s.h5"), 1, "truncated");
}

TEST(Validate, NotAProspectStore) {
  std::string dir = fresh_dir("data_notstore");
  { h5::File f = h5::create(dir + "/x.h5"); }
  expect(validate(dir + "/x.h5"), 1, "not a prospect store");
}

TEST(Validate, MissingFileAndUsage) {
  expect(validate("/nonexistent/x.h5"), 1, "/nonexistent/x.h5: no such file");
  expect(run_program(binary_path("prospect_data") + " validate x.h5 --bogus"), 2, "bogus");
  expect(run_program(binary_path("prospect_data") + " validate"), 2, "required");
  auto h = run_program(binary_path("prospect_data") + " validate --help");
  expect(h, 0, "--config");
  expect(h, 0, "--no-values");
}

TEST(Validate, LibraryReportListsBadClips) {
  std::string path = fresh_dir("data_lib") + "/s.h5";
  json bad = good_clip("v2", 0, 19);
  bad["conversation"][8]["content"] = json::array({{{"id", "S1"}, {"transition", "start"}}});
  write_store(path, {sc(good_clip()), sc(bad), sc(good_clip("v3", 0, 19))});
  ValidationReport rep = validate_store(path);
  EXPECT_TRUE(rep.readable);
  EXPECT_EQ(rep.clips, 3);
  EXPECT_EQ(rep.errors, 1);
  EXPECT_EQ(rep.bad_clips, (std::set<int64_t>{1}));
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_EQ(rep.problems[0].clip_id, "v2:0");
  EXPECT_EQ(rep.problems[0].turn, 8);
  EXPECT_EQ(rep.problems[0].field, "transition");
}

// Bad input never crashes or hangs: random bytes changed in a small store, in the metadata at the
// start of the file or anywhere; validation reports (or passes) and returns. In this process: a
// version 2 store is checksummed throughout and read with checked sizes only.
TEST(Validate, CorruptedFilesNeverCrash) {
  std::string dir = fresh_dir("data_fuzz");
  std::string good = dir + "/good.h5";
  write_store(good, {sc(good_clip()), sc(good_clip("v2", 40, 99)), sc(good_clip("v3", 0, 19))});
  std::string bytes = read_text(good);
  Rng rng(99);
  int unreadable = 0, invalid = 0;
  for (int t = 0; t < 150; ++t) {
    std::string b = bytes;
    size_t span = t % 2 == 0 ? std::min<size_t>(b.size(), 4096) : b.size();
    for (int k = 0; k < 6; ++k) b[rng.below(span)] = static_cast<char>(rng.below(256));
    std::string path = dir + "/x.h5";
    write_file_bytes(path, b);
    ValidationReport rep = validate_store(path);
    unreadable += !rep.readable;
    invalid += rep.readable && !rep.ok();
  }
  EXPECT_GT(unreadable + invalid, 0);
}

// Version 1 stores are still validated.
TEST(Validate, Version1StoreValidates) {
  std::string path = fresh_dir("data_validate_v1") + "/s.h5";
  json bad = good_clip("v2", 0, 19);
  bad["conversation"][8]["content"] = json::array({{{"id", "S1"}, {"transition", "start"}}});
  write_store_v1(path, {sc(good_clip()), sc(bad)});
  expect(validate(path), 1, "clip v2:0 turn 8 transition");
  expect(validate(path), 1, "2 clips, 1 errors, 1 warnings: INVALID");
  expect(validate(path), 1, "warning: " + path + ": version: expected 2, found 1: an old store");
}

// A version 1 store keeps its texts in HDF5's global heap, which libhdf5 reads without bounds checks.
// Changes a heap object's length (the 8 bytes before its data, which `content` starts) in a version 1
// store of two clips; returns the file.
std::string v1_with_heap_object_length(const std::string& name, const std::string& content, uint64_t length) {
  std::string path = fresh_dir("data_" + name) + "/s.h5";
  write_store_v1(path, {sc(good_clip()), sc(good_clip("v2", 0, 29))});
  std::string b = read_text(path);
  size_t at = b.find(content);
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(b.find(content, at + 1), std::string::npos) << "more than one " << content;
  for (int i = 0; i < 8; ++i) b[at - 8 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  write_file_bytes(path, b);
  return path;
}

// The "format" attribute's text claims 2 GiB: in-process, libhdf5 copies that much and crashes
// (SIGSEGV; a heap-buffer-overflow under AddressSanitizer). validate runs its checks in a child
// process and reports a damaged file.
TEST(Validate, CrashInTheHdf5LibraryIsAnError) {
  std::string path = v1_with_heap_object_length("gcol_crash", "prospect-store", 0x7fffffff);
  auto r = validate(path);
  expect(r, 1, "error: " + path + ": store: the validating process ");
  expect(r, 1, "while opening the file: the file is damaged in a way the HDF5 library cannot read safely");
  ValidateOptions o;
  o.isolate = true;
  ValidationReport rep = validate_store(path, o);
  EXPECT_FALSE(rep.ok());
  EXPECT_TRUE(rep.bad_clips.empty()) << "a damaged file is a file-level error, never a skippable clip";
}

// The "feature_model" attribute's text claims 20 bytes instead of 12: libhdf5 loops for ever reading
// the heap. The child makes no progress and is stopped.
TEST(Validate, LoopInTheHdf5LibraryIsAnError) {
  std::string path = v1_with_heap_object_length("gcol_loop", "old-features", 20);
  ValidateOptions o;
  o.isolate = true;
  o.stall_timeout_s = 2;
  ValidationReport rep = validate_store(path, o);
  ASSERT_FALSE(rep.problems.empty());
  EXPECT_NE(rep.problems.back().message.find("made no progress for 2 s and was stopped while opening the file"),
            std::string::npos)
      << rep.problems.back().message;
  EXPECT_FALSE(rep.ok());
}

// The same fuzzing on version 1 stores, validated as `prospect_data validate` does (in a child).
TEST(Validate, CorruptedVersion1FilesNeverCrash) {
  std::string dir = fresh_dir("data_fuzz_v1");
  std::string good = dir + "/good.h5";
  write_store_v1(good, {sc(good_clip()), sc(good_clip("v2", 40, 99)), sc(good_clip("v3", 0, 19))});
  std::string bytes = read_text(good);
  Rng rng(7);
  ValidateOptions o;
  o.isolate = true;
  o.stall_timeout_s = 30;
  int unreadable = 0, invalid = 0;
  for (int t = 0; t < 60; ++t) {
    std::string b = bytes;
    size_t span = t % 2 == 0 ? std::min<size_t>(b.size(), 4096) : b.size();
    for (int k = 0; k < 6; ++k) b[rng.below(span)] = static_cast<char>(rng.below(256));
    std::string path = dir + "/x.h5";
    write_file_bytes(path, b);
    ValidationReport rep = validate_store(path, o);
    unreadable += !rep.readable;
    invalid += rep.readable && !rep.ok();
  }
  EXPECT_GT(unreadable + invalid, 0);
}
