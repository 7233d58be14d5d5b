// Whether a session's data frames fit the interface MTU unfragmented. A fragmented frame costs
// the whole datagram on any lost fragment, and DPDK receivers drop fragments outright, so a symbol
// size too large for the path is refused at start instead of failing every receiver later.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace shoal::engine {

inline constexpr uint32_t kIpv4UdpHeaderBytes = 28;  // IPv4 (no options) + UDP

// UDP payload of one data frame: 32-byte header + symbol + 16-byte tag (when frames are tagged).
uint32_t data_frame_bytes(uint32_t symbol_size, bool tagged);

// The largest symbol size (a multiple of 64, the FEC's granularity) whose data frames fit in
// IPv4 packets of `mtu` bytes; 0 when none does. 9000 -> 8896 tagged (8896 + 48 + 28 = 8972 + 28).
uint32_t largest_symbol_size_for_mtu(uint32_t mtu, bool tagged);

// ok() when data frames of `symbol_size` fit `mtu` (0 = unknown: not checked). Otherwise an error
// that does the arithmetic and names the fix. `where`: the interface, for the message.
Status check_symbol_size_fits_mtu(uint32_t symbol_size, bool tagged, uint32_t mtu,
                                  const std::string& where);

}  // namespace shoal::engine
