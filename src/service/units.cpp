#include "service/units.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <string>

namespace recorder::service {
namespace {

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// Reads a non-negative decimal number ("12", "1.5", ".5") at `pos`; false when there is none.
bool read_number(std::string_view text, size_t& pos, double& value) {
  size_t start = pos;
  bool digits = false;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    ++pos;
    digits = true;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      ++pos;
      digits = true;
    }
  }
  if (!digits) return false;
  value = std::stod(std::string(text.substr(start, pos - start)));
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return invalid("duration: empty (use e.g. 30s, 5m, 1h)");
  double total_ns = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    double value = 0;
    if (!read_number(text, pos, value)) {
      return invalid(fmt::format("duration \"{}\": expected a number at \"{}\" (e.g. 30s, 5m, 1h)",
                                 text, text.substr(pos)));
    }
    size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "µs")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else if (unit.empty()) {
      return invalid(fmt::format("duration \"{}\": missing unit (ns, us, ms, s, m, h)", text));
    } else {
      return invalid(
          fmt::format("duration \"{}\": unknown unit \"{}\" (ns, us, ms, s, m, h)", text, unit));
    }
    total_ns += value * scale;
  }
  if (total_ns > 9.2e18) return invalid(fmt::format("duration \"{}\": too long", text));
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(total_ns)));
}

Result<uint64_t> parse_size(std::string_view text) {
  size_t pos = 0;
  double value = 0;
  if (!read_number(text, pos, value)) {
    return invalid(fmt::format("size \"{}\": expected a number (e.g. 512, 10MB, 1GiB)", text));
  }
  std::string unit = lower(text.substr(pos));
  if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kb")
    scale = 1e3;
  else if (unit == "m" || unit == "mb")
    scale = 1e6;
  else if (unit == "g" || unit == "gb")
    scale = 1e9;
  else if (unit == "t" || unit == "tb")
    scale = 1e12;
  else if (unit == "ki" || unit == "kib")
    scale = 1024.0;
  else if (unit == "mi" || unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "gi" || unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "ti" || unit == "tib")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else {
    return invalid(
        fmt::format("size \"{}\": unknown unit \"{}\" (B, KB, MB, GB, TB, KiB, MiB, "
                    "GiB, TiB)",
                    text, text.substr(pos)));
  }
  double bytes = value * scale;
  if (bytes > 1.8e19) return invalid(fmt::format("size \"{}\": too large", text));
  if (scale == 1 && value != std::floor(value)) {
    return invalid(fmt::format("size \"{}\": a number of bytes must be whole", text));
  }
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string format_duration(std::chrono::nanoseconds duration) {
  int64_t ns = duration.count();
  if (ns == 0) return "0s";
  if (ns < 1000000000) return fmt::format("{}ms", ns / 1000000);
  int64_t h = ns / 3600000000000LL;
  ns %= 3600000000000LL;
  int64_t m = ns / 60000000000LL;
  ns %= 60000000000LL;
  std::string out;
  if (h) out += fmt::format("{}h", h);
  if (m) out += fmt::format("{}m", m);
  if (ns) out += fmt::format("{:g}s", static_cast<double>(ns) / 1e9);
  return out;
}

}  // namespace recorder::service
