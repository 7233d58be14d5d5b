// libFuzzer target for parse_eth_udp, the DPDK receiver's parser of raw Ethernet frames (the
// kernel path never sees these bytes). It must never read outside the frame; what it accepts
// must be an unfragmented IPv4/UDP datagram whose payload lies inside the frame and whose length
// follows from the UDP header.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/eth_frame.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  engine::EthUdpView v;
  const engine::EthUdpError e = engine::parse_eth_udp({data, size}, &v);
  if (engine::to_string(e) == nullptr) std::abort();
  if (e != engine::EthUdpError::Ok) return 0;
  if (size < engine::kEthIpUdpSize) std::abort();
  const uint8_t* begin = v.payload.data();
  if (begin < data + engine::kEthIpUdpSize || begin + v.payload.size() > data + size) std::abort();
  // UDP length field = 8 + payload.
  const size_t udp_at = static_cast<size_t>(begin - data) - 8;
  const size_t udp_len = size_t{data[udp_at + 4]} << 8 | data[udp_at + 5];
  if (udp_len != v.payload.size() + 8) std::abort();
  return 0;
}
