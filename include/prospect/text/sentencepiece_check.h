// The check a SentencePiece .model passes before libsentencepiece parses it (load_sentencepiece_tokenizer
// runs it). libsentencepiece checks only the sizes of a precompiled charsmap (the normalization rule),
// then walks its darts-clone double array and its leaves' offsets into the normalized strings without
// bounds checks, so a damaged charsmap makes it read outside the file's bytes: a crash, or not,
// depending on what lies there. Every read that walk can make is checked here instead.
//
// A .model is a serialized ModelProto (protobuf): normalizer_spec is field 3, denormalizer_spec field 5,
// both a NormalizerSpec whose field 2 is precompiled_charsmap. A charsmap is a little-endian uint32
// trie_blob_size, the double array (trie_blob_size / 4 uint32 units), then the normalized strings, each
// ending with a NUL. Errors name the file, the field and what was expected against what was found.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace prospect {

// Where one precompiled charsmap lies in the bytes of a .model.
struct SpmCharsmap {
  std::string field;  // "normalizer_spec.precompiled_charsmap" or "denormalizer_spec.precompiled_charsmap"
  size_t offset = 0;  // of its first byte in the file
  size_t size = 0;
};

// Every precompiled charsmap of the model, in file order. Throws Error when the protobuf wire format
// is broken (a length running past its message, an unknown wire type), naming the byte.
std::vector<SpmCharsmap> find_sentencepiece_charsmaps(std::string_view model, const std::string& path);

// Checks one charsmap (empty: no rule, nothing to check): its sizes, every trie unit the library's
// prefix search can reach and read, every leaf's string, no cycle, at most 32 matches along one path
// (libsentencepiece keeps 32 and reads as many as it counted).
void check_sentencepiece_charsmap(std::string_view charsmap, const std::string& path, const std::string& field);

// Both of the above on a whole .model.
void check_sentencepiece_model(std::string_view model, const std::string& path);

// The type of every piece, read with the same wire-format reader (libsentencepiece 0.1.97 has no
// IsUserDefined): ModelProto field 1 = repeated SentencePiece {1: piece, 2: score, 3: type}; 1 normal,
// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte (normal when absent). Throws as above.
std::vector<int> sentencepiece_piece_types(std::string_view model, const std::string& path);

}  // namespace prospect
