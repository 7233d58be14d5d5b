// Ethernet/IPv4/UDP framing for raw-frame transports: byte layout against RFC 791/768/1112 read
// by hand, the IPv4 checksum against published examples and an independent reference, and the
// receive-side parser's drop reasons.
#include "engine/eth_frame.h"

#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace shoal::engine {
namespace {

in_addr ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// Independent reference: RFC 1071 written the slow, obvious way (no folding tricks).
uint16_t reference_checksum(const uint8_t* p, size_t len) {
  uint64_t sum = 0;
  for (size_t i = 0; i < len; i += 2) {
    const uint32_t hi = p[i];
    const uint32_t lo = i + 1 < len ? p[i + 1] : 0;
    sum += hi * 256 + lo;
  }
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

// Recomputes the IPv4 header checksum of a frame after a test edited the header.
void fix_ip_checksum(std::vector<uint8_t>& frame) {
  uint8_t* ipv4 = frame.data() + 14;
  const size_t ihl = size_t{ipv4[0] & 0x0Fu} * 4;
  ipv4[10] = ipv4[11] = 0;
  const uint16_t c = reference_checksum(ipv4, ihl);
  ipv4[10] = static_cast<uint8_t>(c >> 8);
  ipv4[11] = static_cast<uint8_t>(c);
}

UdpFlow test_flow() {
  UdpFlow f;
  f.src_mac = MacAddress{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
  f.src_ip = ip("198.18.0.1");
  f.group = ip("239.255.8.9");
  f.src_port = 4321;
  f.dst_port = 5000;
  f.ttl = 7;
  f.tos = 0xB8;  // DSCP EF
  return f;
}

std::vector<uint8_t> make_frame(const EthUdpHeader& h, const std::vector<uint8_t>& payload,
                                uint16_t ident) {
  std::vector<uint8_t> frame(kEthIpUdpSize + payload.size());
  h.write(frame.data(), static_cast<uint16_t>(payload.size()), ident);
  std::memcpy(frame.data() + kEthIpUdpSize, payload.data(), payload.size());
  return frame;
}

TEST(EthFrameTest, MulticastMacTakesTheLow23BitsOfTheGroup) {
  EXPECT_EQ(mac_to_string(multicast_mac(ip("239.255.0.1"))), "01:00:5e:7f:00:01");
  EXPECT_EQ(mac_to_string(multicast_mac(ip("239.1.2.3"))), "01:00:5e:01:02:03");
  // The top bit of the second octet is not carried: 224.128.1.2 and 224.0.1.2 share a MAC.
  EXPECT_EQ(mac_to_string(multicast_mac(ip("224.128.1.2"))), "01:00:5e:00:01:02");
  EXPECT_EQ(multicast_mac(ip("224.128.1.2")), multicast_mac(ip("224.0.1.2")));
}

TEST(EthFrameTest, InternetChecksumMatchesPublishedExamples) {
  // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 folds to ddf2.
  const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(internet_checksum(rfc), 0xFFFF - 0xddf2);
  // A widely quoted IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) whose checksum is b861.
  uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(internet_checksum(hdr), 0xb861);
  hdr[10] = 0xb8;
  hdr[11] = 0x61;
  EXPECT_EQ(internet_checksum(hdr), 0);  // a filled-in header verifies to zero
  // Odd length: the last byte counts as the high half of a word.
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  EXPECT_EQ(internet_checksum(odd), reference_checksum(odd, 3));
  EXPECT_EQ(internet_checksum({}), 0xFFFF);
}

TEST(EthFrameTest, HeaderBytesFollowTheRfcs) {
  auto h = EthUdpHeader::make(test_flow());
  ASSERT_TRUE(h.ok()) << h.error();
  uint8_t f[kEthIpUdpSize];
  std::memset(f, 0xEE, sizeof f);
  h->write(f, 1440, 0xBEEF);

  const uint8_t dst_mac[] = {0x01, 0x00, 0x5e, 0x7f, 0x08, 0x09};  // 239.255.8.9
  EXPECT_EQ(std::memcmp(f, dst_mac, 6), 0);
  EXPECT_EQ(std::memcmp(f + 6, test_flow().src_mac.bytes.data(), 6), 0);
  EXPECT_EQ(be16(f + 12), 0x0800);

  const uint8_t* v4 = f + 14;
  EXPECT_EQ(v4[0], 0x45);                  // version 4, 20-byte header
  EXPECT_EQ(v4[1], 0xB8);                  // TOS
  EXPECT_EQ(be16(v4 + 2), 20 + 8 + 1440);  // total length
  EXPECT_EQ(be16(v4 + 4), 0xBEEF);         // identification
  EXPECT_EQ(be16(v4 + 6), 0x4000);         // DF, offset 0
  EXPECT_EQ(v4[8], 7);                     // TTL
  EXPECT_EQ(v4[9], 17);                    // UDP
  uint8_t copy[20];
  std::memcpy(copy, v4, 20);
  copy[10] = copy[11] = 0;
  EXPECT_EQ(be16(v4 + 10), reference_checksum(copy, 20));
  const uint8_t src_ip[] = {198, 18, 0, 1}, dst_ip[] = {239, 255, 8, 9};
  EXPECT_EQ(std::memcmp(v4 + 12, src_ip, 4), 0);
  EXPECT_EQ(std::memcmp(v4 + 16, dst_ip, 4), 0);

  const uint8_t* udp = v4 + 20;
  EXPECT_EQ(be16(udp), 4321);
  EXPECT_EQ(be16(udp + 2), 5000);
  EXPECT_EQ(be16(udp + 4), 8 + 1440);
  EXPECT_EQ(be16(udp + 6), 0);  // no UDP checksum (legal for IPv4)
}

TEST(EthFrameTest, IncrementalChecksumMatchesTheReferenceEverywhere) {
  // Extreme field values make every carry path of the incremental sum run.
  std::mt19937 rng(7);
  const char* sources[] = {"198.18.0.1", "255.255.255.254", "1.0.0.0", "10.255.255.255"};
  const char* groups[] = {"239.255.255.255", "224.0.0.1", "239.255.8.9", "233.252.0.0"};
  for (int round = 0; round < 4000; ++round) {
    UdpFlow flow = test_flow();
    flow.src_ip = ip(sources[round % 4]);
    flow.group = ip(groups[(round / 4) % 4]);
    flow.ttl = static_cast<uint8_t>(rng());
    flow.tos = static_cast<uint8_t>(rng());
    auto h = EthUdpHeader::make(flow);
    ASSERT_TRUE(h.ok()) << h.error();
    const auto len = static_cast<uint16_t>(rng() % (kMaxUdpPayloadIpv4 + 1));
    const auto ident = static_cast<uint16_t>(round < 8 ? 0xFFFF - round : rng());
    uint8_t f[kEthIpUdpSize];
    h->write(f, len, ident);
    ASSERT_EQ(reference_checksum(f + 14, 20), 0)
        << "round " << round << " len " << len << " ident " << ident;
  }
}

TEST(EthFrameTest, BadFlowsAreExplained) {
  UdpFlow f = test_flow();
  f.group = ip("10.0.0.1");
  auto r = EthUdpHeader::make(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not an IPv4 multicast group"), std::string::npos) << r.error();

  f = test_flow();
  f.src_ip = ip("0.0.0.0");
  r = EthUdpHeader::make(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("source address"), std::string::npos) << r.error();

  f = test_flow();
  f.src_mac = multicast_mac(ip("239.1.1.1"));
  r = EthUdpHeader::make(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("unicast MAC"), std::string::npos) << r.error();

  f = test_flow();
  f.dst_port = 0;
  r = EthUdpHeader::make(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("port 0"), std::string::npos) << r.error();
}

TEST(EthFrameTest, MacTextRoundTrips) {
  auto m = parse_mac("02:AB:cd:00:ff:10");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(mac_to_string(*m), "02:ab:cd:00:ff:10");
  auto dashed = parse_mac("02-ab-cd-00-ff-10");
  ASSERT_TRUE(dashed.ok());
  EXPECT_EQ(*dashed, *m);
  for (const char* bad :
       {"", "02:ab:cd:00:ff", "02:ab:cd:00:ff:1g", "02:ab:cd:00:ff:100", "02.ab.cd.00.ff.10"}) {
    auto r = parse_mac(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("not a MAC address"), std::string::npos) << r.error();
    }
  }
}

TEST(EthFrameTest, ParserReturnsWhatWasWritten) {
  auto h = EthUdpHeader::make(test_flow());
  ASSERT_TRUE(h.ok());
  std::vector<uint8_t> payload(1000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13 + 1);
  std::vector<uint8_t> frame = make_frame(*h, payload, 77);
  frame.resize(frame.size() + 5, 0);  // trailing bytes (padding) beyond the IPv4 length

  EthUdpView v;
  ASSERT_EQ(parse_eth_udp(frame, &v), EthUdpError::Ok);
  EXPECT_EQ(v.dst_mac, multicast_mac(ip("239.255.8.9")));
  EXPECT_EQ(v.src_mac, test_flow().src_mac);
  EXPECT_EQ(v.src_ip.s_addr, ip("198.18.0.1").s_addr);
  EXPECT_EQ(v.dst_ip.s_addr, ip("239.255.8.9").s_addr);
  EXPECT_EQ(v.src_port, 4321);
  EXPECT_EQ(v.dst_port, 5000);
  EXPECT_EQ(v.ttl, 7);
  EXPECT_EQ(v.ident, 77);
  EXPECT_TRUE(v.dont_fragment);
  ASSERT_EQ(v.payload.size(), payload.size());
  EXPECT_EQ(std::memcmp(v.payload.data(), payload.data(), payload.size()), 0);
  EXPECT_EQ(v.payload.data(), frame.data() + 42);

  // An empty datagram is still a datagram.
  std::vector<uint8_t> empty = make_frame(*h, {}, 1);
  ASSERT_EQ(parse_eth_udp(empty, &v), EthUdpError::Ok);
  EXPECT_EQ(v.payload.size(), 0u);
}

TEST(EthFrameTest, ParserSkipsIpOptions) {
  auto h = EthUdpHeader::make(test_flow());
  ASSERT_TRUE(h.ok());
  const std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
  std::vector<uint8_t> plain = make_frame(*h, payload, 9);
  // Insert 4 bytes of options (NOPs + end) after the 20-byte IPv4 header: IHL 6.
  std::vector<uint8_t> frame(plain.begin(), plain.begin() + 34);
  frame.insert(frame.end(), {1, 1, 1, 0});
  frame.insert(frame.end(), plain.begin() + 34, plain.end());
  frame[14] = 0x46;
  const uint16_t total = static_cast<uint16_t>(be16(&frame[16]) + 4);
  frame[16] = static_cast<uint8_t>(total >> 8);
  frame[17] = static_cast<uint8_t>(total);
  fix_ip_checksum(frame);
  EthUdpView v;
  ASSERT_EQ(parse_eth_udp(frame, &v), EthUdpError::Ok);
  ASSERT_EQ(v.payload.size(), payload.size());
  EXPECT_EQ(std::memcmp(v.payload.data(), payload.data(), payload.size()), 0);
  EXPECT_EQ(v.dst_port, 5000);
}

TEST(EthFrameTest, ParserNamesEveryDropReason) {
  auto h = EthUdpHeader::make(test_flow());
  ASSERT_TRUE(h.ok());
  const std::vector<uint8_t> good = make_frame(*h, std::vector<uint8_t>(100, 0x5A), 3);
  EthUdpView v;
  ASSERT_EQ(parse_eth_udp(good, &v), EthUdpError::Ok);

  struct Case {
    const char* what;
    EthUdpError want;
    void (*edit)(std::vector<uint8_t>&);
  };
  const Case cases[] = {
      {"ARP", EthUdpError::NotIpv4, [](auto& f) { f[12] = 0x08, f[13] = 0x06; }},
      {"VLAN tag", EthUdpError::NotIpv4, [](auto& f) { f[12] = 0x81, f[13] = 0x00; }},
      {"IPv6 version", EthUdpError::BadIpHeader,
       [](auto& f) {
         f[14] = 0x65;
         fix_ip_checksum(f);
       }},
      {"IHL 4", EthUdpError::BadIpHeader, [](auto& f) { f[14] = 0x44; }},
      {"total length below headers", EthUdpError::BadIpHeader,
       [](auto& f) {
         f[16] = 0, f[17] = 27;
         fix_ip_checksum(f);
       }},
      {"total length beyond frame", EthUdpError::Truncated,
       [](auto& f) {
         f[16] = 0x10, f[17] = 0;
         fix_ip_checksum(f);
       }},
      {"cut after IPv4 header start", EthUdpError::Truncated, [](auto& f) { f.resize(30); }},
      {"damaged source address", EthUdpError::BadIpChecksum, [](auto& f) { f[27] ^= 1; }},
      {"more fragments", EthUdpError::Fragment,
       [](auto& f) {
         f[20] = 0x20, f[21] = 0;
         fix_ip_checksum(f);
       }},
      {"last fragment", EthUdpError::Fragment,
       [](auto& f) {
         f[20] = 0x00, f[21] = 0xB9;
         fix_ip_checksum(f);
       }},
      {"TCP", EthUdpError::NotUdp,
       [](auto& f) {
         f[23] = 6;
         fix_ip_checksum(f);
       }},
      {"UDP length 7", EthUdpError::BadUdpLength, [](auto& f) { f[38] = 0, f[39] = 7; }},
      {"UDP length beyond IPv4", EthUdpError::BadUdpLength,
       [](auto& f) { f[38] = 0, f[39] = 8 + 101; }},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> f = good;
    c.edit(f);
    EthUdpView untouched;
    untouched.ttl = 99;
    EXPECT_EQ(parse_eth_udp(f, &untouched), c.want)
        << c.what << ": got " << to_string(parse_eth_udp(f, &untouched));
    EXPECT_EQ(untouched.ttl, 99) << c.what << ": output written on error";
  }
  // Shorter UDP length than the IPv4 payload: the kernel trims to it, so do we.
  std::vector<uint8_t> trimmed = good;
  trimmed[39] = 8 + 60;
  ASSERT_EQ(parse_eth_udp(trimmed, &v), EthUdpError::Ok);
  EXPECT_EQ(v.payload.size(), 60u);
  for (size_t n = 0; n < 34; ++n) {
    EXPECT_EQ(parse_eth_udp({good.data(), n}, &v), EthUdpError::Truncated) << n;
  }
}

}  // namespace
}  // namespace shoal::engine
