// Store validation (SPEC §2.2): every problem named by clip id, turn, field, expected vs found.
// Warnings keep a store usable; any error makes it invalid (prospect_data validate exits 1, training
// refuses it unless data.skip_invalid, which skips the clips listed in bad_clips).
//
// The file itself is untrusted. The store reads only sizes it has checked (store.h, core/hdf5.h),
// and version 2 stores are checksummed throughout, but HDF5's own parsing of a damaged file can still
// crash or loop inside the library, above all on version 1 stores (variable-length strings). With
// `isolate`, the checks run in a child process (core/child.h): a crash or a stall there becomes one
// file-level error naming the file, after the problems found up to then.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace prospect {

class Store;

enum class Severity { Warning, Error };

struct Problem {
  Severity severity = Severity::Error;
  std::string clip_id;   // "" for file-level problems
  int64_t clip = -1;     // clip index in the store, -1 for file-level problems
  int64_t turn = -1;     // turn index in the clip's conversation, -1 when none
  std::string field;     // e.g. "end_frame", "embedding_dim", "rows", "transition", "json"
  std::string expected, found;
  std::string message;   // what is wrong, in words
  std::string video_uid;  // the clip's video (from the store's index) when clip_id is unknown
};

// "error: train.h5: clip v1:0 turn 3: end_frame: expected 0..99, found 120: turn frame outside the clip"
// "error: train.h5: clip #4 of video v7: json: expected a clip object, found invalid JSON: ..."
std::string format_problem(const Problem& p, const std::string& path = "");

struct ValidationReport {
  std::string path;
  std::vector<Problem> problems;
  std::set<int64_t> bad_clips;  // clip indices with at least one error
  int64_t clips = 0, errors = 0, warnings = 0;
  bool readable = false;  // false: the file is not a readable prospect store (one file-level error)
  bool ok() const { return errors == 0; }
};

struct ValidateOptions {
  int64_t expected_dim = 0;  // model.feature_dim from a config (0: not checked)
  bool check_values = true;  // read every row for NaN/Inf
  bool isolate = false;      // run the checks in a child process (see above; never in an MPI process)
  double stall_timeout_s = 120;  // isolated: a child silent this long (no clip finished) is killed
};

// Never throws for bad data: every defect becomes a Problem.
ValidationReport validate_store(const std::string& path, const ValidateOptions& opt = {});
// The first of n rows of dim values that holds a NaN or an infinity; -1 when every value is finite.
int64_t first_non_finite_row(const float* rows, int64_t n, int64_t dim);
// The checks of one clip of an open store (schema, frames, order, steps, transitions, rows, values).
std::vector<Problem> validate_clip(const Store& store, int64_t c, bool check_values = true);

}  // namespace prospect
