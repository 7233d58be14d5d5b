#include "engine/eth_frame.h"

#include <algorithm>
#include <cstring>

#include "engine/net_iface.h"

namespace shoal::engine {
namespace {

constexpr uint16_t kFlagDontFragment = 0x4000;
constexpr uint16_t kFlagMoreFragments = 0x2000;
constexpr uint16_t kFragmentOffsetMask = 0x1FFF;

// Offsets inside the 42-byte header.
constexpr size_t kIp = kEthHeaderSize;
constexpr size_t kUdp = kEthHeaderSize + kIpv4HeaderSize;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One's-complement sum of big-endian 16-bit words, not yet folded.
uint32_t sum_words(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(p + i);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1]) << 8;
  return sum;
}

uint16_t fold(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace

Result<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac;
  const auto bad = [&] {
    return make_error("'" + std::string(text) +
                      "' is not a MAC address (want six hex octets like 02:00:00:00:00:01)");
  };
  if (text.size() != 17) return bad();
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(text[i * 3]);
    const int lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return bad();
    if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') return bad();
    mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::string mac_to_string(const MacAddress& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < 6; ++i) {
    if (i) s += ':';
    s += kHex[mac.bytes[i] >> 4];
    s += kHex[mac.bytes[i] & 15];
  }
  return s;
}

MacAddress multicast_mac(in_addr group) {
  uint8_t ip[4];
  std::memcpy(ip, &group.s_addr, 4);  // network order: ip[0] is the first octet
  return MacAddress{{0x01, 0x00, 0x5e, static_cast<uint8_t>(ip[1] & 0x7F), ip[2], ip[3]}};
}

uint16_t internet_checksum(std::span<const uint8_t> bytes) noexcept {
  // Fold as we go so inputs of any length cannot overflow the 32-bit sum.
  uint32_t sum = 0;
  for (size_t at = 0; at < bytes.size(); at += 32768) {
    const size_t n = std::min<size_t>(32768, bytes.size() - at);
    sum = fold(sum + sum_words(bytes.data() + at, n));
  }
  return static_cast<uint16_t>(~fold(sum));
}

Result<EthUdpHeader> EthUdpHeader::make(const UdpFlow& flow) {
  if (!is_multicast(flow.group))
    return make_error("destination " + ipv4_to_string(flow.group) +
                      " is not an IPv4 multicast group (224.0.0.0/4)");
  if (flow.src_ip.s_addr == 0 || is_multicast(flow.src_ip))
    return make_error("source address " + ipv4_to_string(flow.src_ip) +
                      " is not usable (need the sender's unicast IPv4 address)");
  if (flow.src_mac.is_multicast())
    return make_error("source MAC " + mac_to_string(flow.src_mac) +
                      " is a group address; a sender needs a unicast MAC");
  if (flow.dst_port == 0) return make_error("destination port 0 is not usable; pick 1..65535");

  EthUdpHeader h;
  h.flow_ = flow;
  uint8_t* t = h.template_.data();
  const MacAddress dst = multicast_mac(flow.group);
  std::memcpy(t, dst.bytes.data(), 6);
  std::memcpy(t + 6, flow.src_mac.bytes.data(), 6);
  put16(t + 12, kEtherTypeIpv4);

  uint8_t* ip = t + kIp;
  ip[0] = 0x45;  // version 4, IHL 5
  ip[1] = flow.tos;
  // [2..3] total length, [4..5] identification: per datagram
  put16(ip + 6, kFlagDontFragment);
  ip[8] = flow.ttl;
  ip[9] = kIpProtoUdp;
  // [10..11] checksum: per datagram
  std::memcpy(ip + 12, &flow.src_ip.s_addr, 4);
  std::memcpy(ip + 16, &flow.group.s_addr, 4);
  // Length, identification and checksum are still zero, so this sums exactly the fixed words.
  h.ip_constant_sum_ = sum_words(ip, kIpv4HeaderSize);

  uint8_t* udp = t + kUdp;
  put16(udp, flow.src_port);
  put16(udp + 2, flow.dst_port);
  // [4..5] length: per datagram; [6..7] checksum 0 = none (RFC 768)
  return h;
}

void EthUdpHeader::write(uint8_t* out, uint16_t udp_payload_len, uint16_t ident) const noexcept {
  std::memcpy(out, template_.data(), kEthIpUdpSize);
  const auto udp_len = static_cast<uint16_t>(udp_payload_len + kUdpHeaderSize);
  const auto total = static_cast<uint16_t>(udp_len + kIpv4HeaderSize);
  uint8_t* ip = out + kIp;
  put16(ip + 2, total);
  put16(ip + 4, ident);
  put16(ip + 10, static_cast<uint16_t>(~fold(ip_constant_sum_ + total + ident)));
  put16(out + kUdp + 4, udp_len);
}

const char* to_string(EthUdpError error) noexcept {
  switch (error) {
    case EthUdpError::Ok:
      return "ok";
    case EthUdpError::Truncated:
      return "truncated frame";
    case EthUdpError::NotIpv4:
      return "not IPv4";
    case EthUdpError::BadIpHeader:
      return "bad IPv4 header";
    case EthUdpError::BadIpChecksum:
      return "bad IPv4 header checksum";
    case EthUdpError::Fragment:
      return "IPv4 fragment";
    case EthUdpError::NotUdp:
      return "not UDP";
    case EthUdpError::BadUdpLength:
      return "bad UDP length";
  }
  return "unknown";
}

EthUdpError parse_eth_udp(std::span<const uint8_t> frame, EthUdpView* out) noexcept {
  if (frame.size() < kEthHeaderSize + kIpv4HeaderSize) return EthUdpError::Truncated;
  const uint8_t* f = frame.data();
  if (get16(f + 12) != kEtherTypeIpv4) return EthUdpError::NotIpv4;
  const uint8_t* ip = f + kEthHeaderSize;
  const size_t ihl = size_t{ip[0] & 0x0Fu} * 4;
  const uint16_t total = get16(ip + 2);
  if ((ip[0] >> 4) != 4 || ihl < kIpv4HeaderSize || total < ihl + kUdpHeaderSize)
    return EthUdpError::BadIpHeader;
  if (frame.size() < kEthHeaderSize + total) return EthUdpError::Truncated;
  if (internet_checksum({ip, ihl}) != 0) return EthUdpError::BadIpChecksum;
  const uint16_t frag = get16(ip + 6);
  if ((frag & kFlagMoreFragments) || (frag & kFragmentOffsetMask)) return EthUdpError::Fragment;
  if (ip[9] != kIpProtoUdp) return EthUdpError::NotUdp;
  const uint8_t* udp = ip + ihl;
  const uint16_t udp_len = get16(udp + 4);
  if (udp_len < kUdpHeaderSize || udp_len > total - ihl) return EthUdpError::BadUdpLength;

  std::memcpy(out->dst_mac.bytes.data(), f, 6);
  std::memcpy(out->src_mac.bytes.data(), f + 6, 6);
  std::memcpy(&out->src_ip.s_addr, ip + 12, 4);
  std::memcpy(&out->dst_ip.s_addr, ip + 16, 4);
  out->src_port = get16(udp);
  out->dst_port = get16(udp + 2);
  out->ttl = ip[8];
  out->ident = get16(ip + 4);
  out->dont_fragment = (frag & kFlagDontFragment) != 0;
  out->payload = {udp + kUdpHeaderSize, size_t{udp_len} - kUdpHeaderSize};
  return EthUdpError::Ok;
}

}  // namespace shoal::engine
