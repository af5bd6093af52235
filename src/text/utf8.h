// UTF-8 as the tokenizers need it: encoding a code point, decoding one, finding the first invalid byte,
// and Unicode white space. Private to src/text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace prospect {

// Appends the UTF-8 bytes of code point cp.
void append_utf8(std::string& out, uint32_t cp);

// Decodes one code point at s[i] (the input is valid UTF-8: std::string from JSON or the caller);
// returns its length in bytes (1 for a stray byte, which then counts as its own "char").
size_t utf8_next(std::string_view s, size_t i, uint32_t* cp);

// Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
// or npos. HF works on Rust strings, which are valid by construction; Oniguruma must not see others.
size_t invalid_utf8_at(std::string_view s);

// Rust's char::is_whitespace (Unicode White_Space), used by lstrip/rstrip of added tokens.
bool is_unicode_space(uint32_t c);

}  // namespace prospect
