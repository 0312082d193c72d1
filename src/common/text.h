// Text that arrives from outside (requests, flags, config files) before anything parses it: a
// bound on its length, no NUL bytes, valid UTF-8; and how an error message quotes it (a short,
// escaped excerpt, so a 1 MiB field never travels back in an error).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace recorder {

// The characters of `text` an error message quotes at most.
inline constexpr size_t kExcerptChars = 40;

// `text` in double quotes for an error message: bytes outside printable ASCII escaped (\x00,
// \n, \"), cut after kExcerptChars characters with "..." and the full size when longer, e.g.
// "aaaaaaaa..." (1048576 bytes).
std::string excerpt(std::string_view text);

// OK when `text` is at most `max_bytes` long, holds no NUL byte and is valid UTF-8; otherwise
// INVALID_ARGUMENT naming `field` and saying which rule failed (quoting an excerpt).
Status check_text(std::string_view text, std::string_view field, size_t max_bytes);

}  // namespace recorder
