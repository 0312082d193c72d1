#include "common/text.h"

#include <fmt/format.h>

namespace recorder {
namespace {

// The length of the UTF-8 sequence at `pos` (1-4), or 0 when it is not valid UTF-8 (overlong
// forms, surrogates and code points above U+10FFFF included, as RFC 3629 says).
size_t utf8_sequence(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 == 0xe0) low = 0xa0;   // overlong
    if (b0 == 0xed) high = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 == 0xf0) low = 0x90;   // overlong
    if (b0 == 0xf4) high = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

}  // namespace

std::string excerpt(std::string_view text) {
  std::string out = "\"";
  const size_t shown = std::min(text.size(), kExcerptChars);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (shown < text.size()) {
    out.insert(out.size() - 1, "...");
    out += fmt::format(" ({} bytes)", text.size());
  }
  return out;
}

Status check_text(std::string_view text, std::string_view field, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("{} {}: longer than the limit of {} bytes", field, excerpt(text), max_bytes));
  }
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] == '\0') {
      return Error(
          ErrorCode::kInvalidArgument,
          fmt::format("{} {}: contains a NUL byte (at offset {})", field, excerpt(text), pos));
    }
    const size_t length = utf8_sequence(text, pos);
    if (length == 0) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{} {}: not valid UTF-8 (at offset {})", field, excerpt(text), pos));
    }
    pos += length;
  }
  return ok_status();
}

}  // namespace recorder
