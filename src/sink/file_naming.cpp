#include "sink/file_naming.h"

#include <ctime>

#include <fmt/format.h>

#include "common/text.h"

namespace recorder::sink {

std::string_view file_extension(FileFormat format) {
  return format == FileFormat::kPcapng ? "pcapng" : "pcap";
}

std::optional<std::string> file_prefix_problem(std::string_view prefix) {
  // Checked by hand rather than with std::regex: the rule is tiny and this gives a precise reason.
  if (prefix.empty()) return "must not be empty";
  if (prefix.size() > kMaxFilePrefixBytes) {
    return fmt::format("{} bytes, more than {}", prefix.size(), kMaxFilePrefixBytes);
  }
  if (prefix[0] < 'a' || prefix[0] > 'z') {
    return fmt::format("must start with a lowercase letter ({})", kFilePrefixPattern);
  }
  for (char c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) {
      return fmt::format("character {} not allowed ({})", excerpt(std::string_view(&c, 1)),
                         kFilePrefixPattern);
    }
  }
  return std::nullopt;
}

std::string recording_file_name(std::string_view prefix,
                                std::chrono::system_clock::time_point start, uint64_t id,
                                std::string_view node, FileFormat format) {
  const std::time_t t = std::chrono::system_clock::to_time_t(start);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string safe_node(node);
  for (char& c : safe_node) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) c = '-';
  }
  if (safe_node.empty()) safe_node.push_back('-');
  return fmt::format("{}_{:04}{:02}{:02}T{:02}{:02}{:02}Z_{}_{}.{}", prefix, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, id, safe_node,
                     file_extension(format));
}

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::optional<RecordingFileName> parse_recording_file_name(std::string_view name) {
  RecordingFileName out;
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view ext = name.substr(dot + 1);
  if (ext == "pcap") {
    out.format = FileFormat::kPcap;
  } else if (ext == "pcapng") {
    out.format = FileFormat::kPcapng;
  } else {
    return std::nullopt;
  }
  std::string_view rest = name.substr(0, dot);
  // prefix _ time _ id _ node, read from the right: the node has no '_' after sanitizing and
  // time and id are digits, while the prefix may contain '_' (the prefix rule allows it).
  const size_t c = rest.rfind('_');
  if (c == std::string_view::npos || c == 0) return std::nullopt;
  const size_t b = rest.rfind('_', c - 1);
  if (b == std::string_view::npos || b == 0) return std::nullopt;
  const size_t a = rest.rfind('_', b - 1);
  if (a == std::string_view::npos || a == 0) return std::nullopt;
  out.prefix = std::string(rest.substr(0, a));
  if (file_prefix_problem(out.prefix)) return std::nullopt;
  const std::string_view time = rest.substr(a + 1, b - a - 1);
  const std::string_view id = rest.substr(b + 1, c - b - 1);
  const std::string_view node = rest.substr(c + 1);
  if (time.size() != 16 || time[8] != 'T' || time[15] != 'Z') return std::nullopt;
  if (!all_digits(time.substr(0, 8)) || !all_digits(time.substr(9, 6))) return std::nullopt;
  if (!all_digits(id) || id.size() > 19) return std::nullopt;
  if (node.empty()) return std::nullopt;
  for (char ch : node) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
    if (!ok) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = num(time.substr(0, 4)) - 1900;
  tm.tm_mon = num(time.substr(4, 2)) - 1;
  tm.tm_mday = num(time.substr(6, 2));
  tm.tm_hour = num(time.substr(9, 2));
  tm.tm_min = num(time.substr(11, 2));
  tm.tm_sec = num(time.substr(13, 2));
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  out.start = std::chrono::system_clock::from_time_t(timegm(&tm));
  uint64_t v = 0;
  for (char ch : id) v = v * 10 + static_cast<uint64_t>(ch - '0');
  out.id = v;
  out.node = std::string(node);
  return out;
}

std::string partial_file_name(std::string_view final_name) {
  return fmt::format(".{}.partial", final_name);
}

}  // namespace recorder::sink
