// Ethernet II + IPv4 + UDP framing for transports that put whole frames on the wire themselves
// (DPDK). The kernel path never needs this: its sockets build the same headers.
//
// What a frame for a multicast group looks like (42 header bytes, then the UDP payload):
//   Ethernet  dst 01:00:5e + the low 23 bits of the group (RFC 1112 6.4), src = the sender's MAC,
//             EtherType 0x0800; no VLAN tag, no padding (a NIC pads frames under 60 bytes).
//   IPv4      version 4, IHL 5 (no options), TOS as configured, total length, identification
//             (the caller's counter), DF set and fragment offset 0 (shoal never fragments: a frame
//             larger than the MTU is refused), TTL as configured, protocol 17, header checksum
//             (RFC 1071, always correct), source address, group address.
//   UDP       source port, destination port, length, checksum 0. Zero means "no checksum" and is
//             legal for UDP over IPv4 (RFC 768); Linux accepts it. Why not compute it: it would
//             cost a second pass over every payload, and the shoal header already carries a CRC32C
//             over header, payload and tag, which is checked before anything is used.
//
// Everything here is allocation-free after construction, exception-free and thread-safe.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shoal::engine {

inline constexpr size_t kEthHeaderSize = 14;
inline constexpr size_t kIpv4HeaderSize = 20;  // without options, as sent
inline constexpr size_t kUdpHeaderSize = 8;
inline constexpr size_t kEthIpUdpSize = kEthHeaderSize + kIpv4HeaderSize + kUdpHeaderSize;  // 42
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint8_t kIpProtoUdp = 17;
// Largest UDP payload an IPv4 datagram can carry (total length is 16 bits).
inline constexpr size_t kMaxUdpPayloadIpv4 = 65535 - kIpv4HeaderSize - kUdpHeaderSize;

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  bool is_multicast() const { return (bytes[0] & 1) != 0; }  // group bit (broadcast included)
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

// "aa:bb:cc:dd:ee:ff" (hex digits of either case, ':' or '-' between octets). Error names the text.
Result<MacAddress> parse_mac(std::string_view text);
// Lower-case "aa:bb:cc:dd:ee:ff".
std::string mac_to_string(const MacAddress& mac);
// The Ethernet address an IPv4 multicast group maps to: 01:00:5e, then bit 0, then the low 23
// bits of the group. `group` in network byte order; not checked to be multicast.
MacAddress multicast_mac(in_addr group);

// RFC 1071 Internet checksum of `bytes`: the one's complement of the one's-complement sum of the
// big-endian 16-bit words (an odd last byte is padded with a zero byte). Returned in host order,
// to be stored big-endian. Over a header whose checksum field is filled in, the result is 0.
uint16_t internet_checksum(std::span<const uint8_t> bytes) noexcept;

// One multicast UDP flow: everything in the 42 header bytes except the lengths and the IPv4
// identification, which change per datagram.
struct UdpFlow {
  MacAddress src_mac;
  in_addr src_ip{};  // network byte order
  in_addr group{};   // destination: an IPv4 multicast group, network byte order
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t ttl = 1;  // 0 keeps frames on the host for kernel senders; on a raw port it is sent
  uint8_t tos = 0;  // DSCP << 2 | ECN
};

// The prebuilt 42-byte header of one flow. write() copies the template and patches lengths,
// identification and the IPv4 checksum (incrementally, from a sum of the constant words).
class EthUdpHeader {
 public:
  // Errors: group not in 224.0.0.0/4, source address 0.0.0.0 or multicast, a multicast source
  // MAC, destination port 0.
  static Result<EthUdpHeader> make(const UdpFlow& flow);

  // Writes kEthIpUdpSize bytes to `out` for a datagram carrying `udp_payload_len` bytes of UDP
  // payload (at most kMaxUdpPayloadIpv4; larger values are a caller bug and produce a header
  // whose lengths are wrong), with IPv4 identification `ident`. `out` needs no alignment.
  void write(uint8_t* out, uint16_t udp_payload_len, uint16_t ident) const noexcept;

  const UdpFlow& flow() const { return flow_; }

 private:
  EthUdpHeader() = default;

  std::array<uint8_t, kEthIpUdpSize> template_{};
  uint32_t ip_constant_sum_ = 0;  // one's-complement sum of the IPv4 words that never change
  UdpFlow flow_;
};

// Why a received Ethernet frame is not a UDP datagram shoal can use. Checked in this order.
enum class EthUdpError : uint8_t {
  Ok = 0,
  Truncated,      // shorter than the headers, or than the IPv4 total length says
  NotIpv4,        // EtherType is not 0x0800 (VLAN-tagged frames included: no tags are used)
  BadIpHeader,    // version != 4, IHL < 5, total length < IHL * 4 + 8
  BadIpChecksum,  // the IPv4 header checksum does not verify
  Fragment,       // MF set or a non-zero fragment offset: fragments are dropped, never reassembled
  NotUdp,         // protocol != 17
  BadUdpLength,   // UDP length < 8 or beyond the IPv4 payload
};

// Static, never null; "ok" for EthUdpError::Ok.
const char* to_string(EthUdpError error) noexcept;

// A parsed frame. `payload` points into the frame given to parse_eth_udp.
struct EthUdpView {
  MacAddress dst_mac;
  MacAddress src_mac;
  in_addr src_ip{};  // network byte order
  in_addr dst_ip{};
  uint16_t src_port = 0;  // host byte order
  uint16_t dst_port = 0;
  uint8_t ttl = 0;
  uint16_t ident = 0;
  bool dont_fragment = false;
  std::span<const uint8_t> payload;  // exactly UDP length - 8 bytes
};

// Checks and splits one Ethernet frame; never reads outside `frame`. Bytes after the IPv4 total
// length (Ethernet padding) are ignored. IPv4 options are allowed and skipped. The UDP checksum
// is not verified (see the top of this file). `out` is written only on Ok.
EthUdpError parse_eth_udp(std::span<const uint8_t> frame, EthUdpView* out) noexcept;

}  // namespace shoal::engine
