// Whole-file reads shared by the loaders (clip JSON, tokenizer files, checkpoint copies).
#pragma once
#include <string>

namespace prospect {

// Reads the file's bytes into *out; false (and *out untouched) when it cannot be opened. Callers
// raise their own error, naming what the file was for.
bool read_file(const std::string& path, std::string* out);

}  // namespace prospect
