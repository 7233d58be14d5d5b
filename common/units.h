// Parsing of the human units the CLI and config files accept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shoal {

// "400M", "1.5G", "800k", "1000000" -> bits per second (decimal SI suffixes, as rates are quoted).
Result<uint64_t> parse_rate(std::string_view text);

// "64K", "256M", "4G", "4096" -> bytes (binary suffixes: K = 1024).
Result<uint64_t> parse_size(std::string_view text);

// "30s", "500ms", "2m", "1h", "10" (seconds) -> nanoseconds.
Result<uint64_t> parse_duration_ns(std::string_view text);

// 3.2e9 -> "3.20 Gbit/s"
std::string format_rate(double bits_per_second);
// 1536 -> "1.50 KiB"
std::string format_bytes(double bytes);

}  // namespace shoal
