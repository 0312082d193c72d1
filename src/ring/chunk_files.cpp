#include "ring/chunk_files.h"

#include <fmt/format.h>

#include <charconv>

namespace recorder::ring {
namespace {
constexpr std::string_view kPrefix = "chunk-";
constexpr size_t kSeqDigits = 12;
}  // namespace

std::string chunk_file_name(uint64_t seq, sink::FileFormat format) {
  return fmt::format("{}{:0{}}.{}", kPrefix, seq, kSeqDigits, sink::file_extension(format));
}

std::string index_file_name(uint64_t seq) {
  return fmt::format("{}{:0{}}.idx", kPrefix, seq, kSeqDigits);
}

std::optional<ChunkFileName> parse_chunk_file_name(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  if (name.size() < kSeqDigits + 1 || name[kSeqDigits] != '.') return std::nullopt;
  ChunkFileName parsed;
  const char* end = name.data() + kSeqDigits;
  auto [ptr, ec] = std::from_chars(name.data(), end, parsed.seq);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  const std::string_view ext = name.substr(kSeqDigits + 1);
  if (ext == sink::file_extension(sink::FileFormat::kPcap)) {
    parsed.format = sink::FileFormat::kPcap;
  } else if (ext == sink::file_extension(sink::FileFormat::kPcapng)) {
    parsed.format = sink::FileFormat::kPcapng;
  } else {
    return std::nullopt;
  }
  return parsed;
}

}  // namespace recorder::ring
