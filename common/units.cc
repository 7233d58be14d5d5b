#include "common/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace shoal {
namespace {

// Splits "1.5G" into 1.5 and "G"; rejects empty numbers, negatives and trailing junk after the
// suffix.
bool split_number(std::string_view text, double& number, std::string_view& suffix) {
  if (text.empty()) return false;
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i || !std::isfinite(number)) return false;
  suffix = text.substr(i);
  return true;
}

}  // namespace

Result<uint64_t> parse_rate(std::string_view text) {
  double n = 0;
  std::string_view s;
  if (!split_number(text, n, s)) {
    return make_error("bad rate '" + std::string(text) +
                      "': expected a number with k/M/G suffix, e.g. 400M");
  }
  if (s.ends_with("bps"))
    s.remove_suffix(3);
  else if (s.ends_with("bit/s"))
    s.remove_suffix(5);
  double mult = 1;
  if (s == "k" || s == "K")
    mult = 1e3;
  else if (s == "m" || s == "M")
    mult = 1e6;
  else if (s == "g" || s == "G")
    mult = 1e9;
  else if (s == "t" || s == "T")
    mult = 1e12;
  else if (!s.empty()) {
    return make_error("bad rate '" + std::string(text) + "': unknown suffix '" + std::string(s) +
                      "' (use k, M or G, in bits per second)");
  }
  double v = n * mult;
  if (v < 1e3 || v > 1e12) {
    return make_error("rate '" + std::string(text) +
                      "' out of range: use 1k to 1T bits per second");
  }
  return static_cast<uint64_t>(std::llround(v));
}

Result<uint64_t> parse_size(std::string_view text) {
  double n = 0;
  std::string_view s;
  if (!split_number(text, n, s)) {
    return make_error("bad size '" + std::string(text) +
                      "': expected a number with K/M/G suffix, e.g. 256M");
  }
  if (s.size() == 3 && s[1] == 'i' && (s[2] == 'B'))
    s.remove_suffix(2);
  else if (s.size() == 2 && (s[1] == 'B' || s[1] == 'b'))
    s.remove_suffix(1);
  double mult = 1;
  if (s == "k" || s == "K")
    mult = 1024.0;
  else if (s == "m" || s == "M")
    mult = 1024.0 * 1024;
  else if (s == "g" || s == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (s == "t" || s == "T")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!s.empty() && s != "B") {
    return make_error("bad size '" + std::string(text) + "': unknown suffix '" + std::string(s) +
                      "' (use K, M, G)");
  }
  double v = n * mult;
  if (v > 9.0e18) return make_error("size '" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::llround(v));
}

Result<uint64_t> parse_duration_ns(std::string_view text) {
  double n = 0;
  std::string_view s;
  if (!split_number(text, n, s)) {
    return make_error("bad duration '" + std::string(text) + "': expected e.g. 30s, 500ms, 2m");
  }
  double mult = 1e9;
  if (s.empty() || s == "s")
    mult = 1e9;
  else if (s == "ms")
    mult = 1e6;
  else if (s == "us")
    mult = 1e3;
  else if (s == "m" || s == "min")
    mult = 60e9;
  else if (s == "h")
    mult = 3600e9;
  else {
    return make_error("bad duration '" + std::string(text) + "': unknown unit '" + std::string(s) +
                      "' (use ms, s, m or h)");
  }
  double v = n * mult;
  if (v > 9.0e18) return make_error("duration '" + std::string(text) + "' is too long");
  return static_cast<uint64_t>(std::llround(v));
}

std::string format_rate(double bps) {
  char buf[64];
  if (bps >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f Gbit/s", bps / 1e9);
  else if (bps >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f Mbit/s", bps / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1f kbit/s", bps / 1e3);
  return buf;
}

std::string format_bytes(double b) {
  char buf[64];
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

}  // namespace shoal
