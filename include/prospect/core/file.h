// Whole files: read in one go (clip JSON, tokenizer files, checkpoint copies), and written so that a
// reader never sees half of one (SPEC §6: a kill at any moment leaves the previous checkpoint
// loadable): a temporary file beside the target, fsync, rename over the target, fsync of the folder.
//
// Failure policy of the writers: every step is checked; a step that fails throws Error naming the path
// and the system's reason (errno), and a temporary file left by the failure is removed. Nothing is
// skipped silently: a folder that cannot be fsync'ed is an error, like a file that cannot be written.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace prospect {

// Reads the file's bytes into *out; false (and *out untouched) when it cannot be opened. Callers
// raise their own error, naming what the file was for (or go on without an optional file).
bool read_file(const std::string& path, std::string* out);

// One piece of a file to write: `size` bytes at `data`.
struct ByteSpan {
  const void* data = nullptr;
  size_t size = 0;
};

// Writes the pieces one after another to path.tmp.<pid>, fsyncs it, renames it over path and fsyncs
// the folder that holds path.
void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& pieces);
void write_file_atomic(const std::string& path, const std::string& bytes);

// Flushes a file or a folder to disk (a folder after a rename in it, so the rename survives a crash).
void fsync_path(const std::string& path);

// Makes sure a folder exists, parents included.
void make_dirs(const std::string& dir);

}  // namespace prospect
