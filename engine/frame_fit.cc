#include "engine/frame_fit.h"

#include <algorithm>

#include "engine/frame_crypto.h"
#include "engine/wire.h"
#include "fec/limits.h"

namespace shoal::engine {

uint32_t data_frame_bytes(uint32_t symbol_size, bool tagged) {
  return static_cast<uint32_t>(kHeaderSize) + symbol_size +
         (tagged ? static_cast<uint32_t>(kFrameTagSize) : 0);
}

uint32_t largest_symbol_size_for_mtu(uint32_t mtu, bool tagged) {
  const uint32_t overhead = kIpv4UdpHeaderBytes + data_frame_bytes(0, tagged);
  if (mtu <= overhead) return 0;
  const uint32_t room = mtu - overhead;
  const auto align = static_cast<uint32_t>(fec::kSymbolAlign);
  const uint32_t largest = room / align * align;
  return std::min(largest, static_cast<uint32_t>(fec::kMaxSymbolSize));
}

Status check_symbol_size_fits_mtu(uint32_t symbol_size, bool tagged, uint32_t mtu,
                                  const std::string& where) {
  if (mtu == 0) return {};
  const uint32_t frame = data_frame_bytes(symbol_size, tagged);
  const uint32_t packet = frame + kIpv4UdpHeaderBytes;
  if (packet <= mtu) return {};
  std::string parts = std::to_string(kHeaderSize) + "-byte header + " +
                      std::to_string(symbol_size) + "-byte symbol";
  if (tagged) parts += " + " + std::to_string(kFrameTagSize) + "-byte tag";
  const uint32_t largest = largest_symbol_size_for_mtu(mtu, tagged);
  std::string fix = largest > 0 ? "use --symbol-size " + std::to_string(largest) +
                                      " or less (the largest that fits), or raise the MTU"
                                : "raise the MTU";
  return make_error("--symbol-size " + std::to_string(symbol_size) + " does not fit the " +
                    std::to_string(mtu) + "-byte MTU of " + where + ": a data frame is " + parts +
                    " = " + std::to_string(frame) + " bytes of UDP payload, " +
                    std::to_string(packet) + " bytes with the IPv4 and UDP headers, so it would " +
                    "be fragmented (DPDK receivers drop fragments): " + fix);
}

}  // namespace shoal::engine
