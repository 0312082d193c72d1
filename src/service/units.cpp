#include "service/units.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <ctime>
#include <string>

namespace recorder::service {
namespace {

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// A non-negative decimal number as written ("12", "1.5", ".5"), kept exact: the whole part and
// up to kMaxFractionDigits digits of the fraction (further digits are below any unit's
// resolution: a nanosecond of an hour, a byte of a TiB).
struct Decimal {
  static constexpr unsigned kMaxFractionDigits = 18;
  uint64_t whole = 0;
  uint64_t fraction = 0;  // the first `fraction_digits` digits after the point
  unsigned fraction_digits = 0;
};

enum class ReadNumber { kOk, kNone, kTooLarge };

// Reads a Decimal at `pos`; kNone when there is no digit there, kTooLarge when the whole part
// does not fit in 64 bits (it would wrap).
ReadNumber read_number(std::string_view text, size_t& pos, Decimal& value) {
  value = Decimal{};
  bool digits = false;
  bool too_large = false;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    const auto digit = static_cast<uint64_t>(text[pos] - '0');
    if (__builtin_mul_overflow(value.whole, 10u, &value.whole) ||
        __builtin_add_overflow(value.whole, digit, &value.whole)) {
      too_large = true;
    }
    ++pos;
    digits = true;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (value.fraction_digits < Decimal::kMaxFractionDigits) {
        value.fraction = value.fraction * 10 + static_cast<uint64_t>(text[pos] - '0');
        ++value.fraction_digits;
      }
      ++pos;
      digits = true;
    }
  }
  if (!digits) return ReadNumber::kNone;
  return too_large ? ReadNumber::kTooLarge : ReadNumber::kOk;
}

// value * scale, rounded to the nearest integer, exactly (128-bit: no intermediate can wrap).
unsigned __int128 scaled(const Decimal& value, uint64_t scale) {
  unsigned __int128 pow10 = 1;
  for (unsigned i = 0; i < value.fraction_digits; ++i) pow10 *= 10;
  const unsigned __int128 fraction =
      (static_cast<unsigned __int128>(value.fraction) * scale + pow10 / 2) / pow10;
  return static_cast<unsigned __int128>(value.whole) * scale + fraction;
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
  constexpr auto kMax = static_cast<unsigned __int128>(INT64_MAX);
  const auto too_long = [&] {
    return invalid(fmt::format("duration \"{}\": too long (at most about 292 years)", text));
  };
  unsigned __int128 total_ns = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    Decimal value;
    const ReadNumber read = read_number(text, pos, value);
    if (read == ReadNumber::kNone) {
      return invalid(fmt::format("duration \"{}\": expected a number at \"{}\" (e.g. 30s, 5m, 1h)",
                                 text, text.substr(pos)));
    }
    size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    // "µs": the micro sign is two bytes, neither of them alphabetic in the C locale.
    if (text.substr(unit_start).starts_with("\xc2\xb5s")) pos = unit_start + 3;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    uint64_t scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "\xc2\xb5s")
      scale = 1000;
    else if (unit == "ms")
      scale = 1000000;
    else if (unit == "s")
      scale = 1000000000;
    else if (unit == "m")
      scale = 60ull * 1000000000;
    else if (unit == "h")
      scale = 3600ull * 1000000000;
    else if (unit.empty()) {
      return invalid(fmt::format("duration \"{}\": missing unit (ns, us, ms, s, m, h)", text));
    } else {
      return invalid(
          fmt::format("duration \"{}\": unknown unit \"{}\" (ns, us, ms, s, m, h)", text, unit));
    }
    if (read == ReadNumber::kTooLarge) return too_long();
    total_ns += scaled(value, scale);
    if (total_ns > kMax) return too_long();
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total_ns));
}

Result<uint64_t> parse_size(std::string_view text) {
  size_t pos = 0;
  Decimal value;
  const ReadNumber read = read_number(text, pos, value);
  if (read == ReadNumber::kNone) {
    return invalid(fmt::format("size \"{}\": expected a number (e.g. 512, 10MB, 1GiB)", text));
  }
  std::string unit = lower(text.substr(pos));
  if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  uint64_t scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kb")
    scale = 1000;
  else if (unit == "m" || unit == "mb")
    scale = 1000000;
  else if (unit == "g" || unit == "gb")
    scale = 1000000000;
  else if (unit == "t" || unit == "tb")
    scale = 1000000000000;
  else if (unit == "ki" || unit == "kib")
    scale = 1ull << 10;
  else if (unit == "mi" || unit == "mib")
    scale = 1ull << 20;
  else if (unit == "gi" || unit == "gib")
    scale = 1ull << 30;
  else if (unit == "ti" || unit == "tib")
    scale = 1ull << 40;
  else {
    return invalid(
        fmt::format("size \"{}\": unknown unit \"{}\" (B, KB, MB, GB, TB, KiB, MiB, "
                    "GiB, TiB)",
                    text, text.substr(pos)));
  }
  if (scale == 1 && value.fraction != 0) {
    return invalid(fmt::format("size \"{}\": a number of bytes must be whole", text));
  }
  const unsigned __int128 bytes = scaled(value, scale);
  if (read == ReadNumber::kTooLarge || bytes > UINT64_MAX) {
    return invalid(fmt::format("size \"{}\": too large (at most {} bytes)", text, UINT64_MAX));
  }
  return static_cast<uint64_t>(bytes);
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

namespace {

// Digits of `text` from `at`, exactly `n` of them, as a number; -1 when they are not digits.
int digits(std::string_view text, size_t at, size_t n) {
  if (at + n > text.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// ".123456789" at `at` as nanoseconds; advances `at`. Up to 9 digits.
uint64_t fraction(std::string_view text, size_t& at) {
  uint64_t ns = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    uint64_t scale = 100000000;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ns += static_cast<uint64_t>(text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
  }
  return ns;
}

}  // namespace

Result<uint64_t> parse_time(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("time \"{}\": {} (RFC 3339 like 2026-11-27T16:00:00Z, or unix "
                             "seconds like 1764259200.5)",
                             text.substr(0, 40), why));
  };
  if (text.empty() || text.size() > 40) return bad("empty or too long");
  if (text.find_first_not_of("0123456789.") == std::string_view::npos) {
    size_t at = text.find('.');
    if (at == 0 || text.find('.', at == std::string_view::npos ? text.size() : at + 1) !=
                       std::string_view::npos) {
      return bad("not a number");
    }
    const std::string_view whole = text.substr(0, at);
    if (whole.size() > 11) return bad("too far ahead");
    uint64_t seconds = 0;
    for (char c : whole) seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
    size_t pos = at == std::string_view::npos ? text.size() : at;
    return seconds * 1000000000u + fraction(text, pos);
  }
  const int year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  const int hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return bad("not a valid date and time");
  }
  size_t at = 19;
  const uint64_t ns = fraction(text, at);
  int64_t offset = 0;  // seconds east of UTC
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const int oh = digits(text, at + 1, 2), om = digits(text, at + 4, 2);
    if (oh < 0 || om < 0 || at + 6 > text.size() || text[at + 3] != ':') {
      return bad("bad UTC offset");
    }
    offset = (text[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return bad("missing the time zone (Z or +HH:MM)");
  }
  if (at != text.size()) return bad("trailing characters");
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const int64_t seconds = static_cast<int64_t>(::timegm(&tm)) - offset;
  if (seconds < 0) return bad("before 1970");
  return static_cast<uint64_t>(seconds) * 1000000000u + ns;
}

}  // namespace recorder::service
