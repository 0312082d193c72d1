// libFuzzer target: parse_filter() on arbitrary text. A filter that parses must print back to
// a text that parses to the same filter (the round trip the CLI and service rely on), and an
// error must be INVALID_ARGUMENT with a message.
#include <cstdlib>
#include <string_view>

#include "dispatch/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto filter = recorder::parse_filter(text);
  if (!filter.ok()) {
    if (filter.error().code() != recorder::ErrorCode::kInvalidArgument) std::abort();
    if (filter.error().message().empty()) std::abort();
    return 0;
  }
  auto again = recorder::parse_filter(recorder::to_string(*filter));
  if (!again.ok() || !(*again == *filter)) std::abort();
  if (!(recorder::reversed(recorder::reversed(*filter)) == *filter)) std::abort();
  auto cidr = recorder::parse_cidr(text);
  if (cidr.ok()) {
    auto back = recorder::parse_cidr(recorder::to_string(*cidr));
    if (!back.ok() || !(*back == *cidr)) std::abort();
  }
  return 0;
}
