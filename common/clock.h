// The one clock of the data and control planes: CLOCK_MONOTONIC in nanoseconds. Cores take `now`
// as an argument; only drivers call this.
#pragma once

#include <time.h>

#include <cstdint>

namespace shoal {

inline uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace shoal
