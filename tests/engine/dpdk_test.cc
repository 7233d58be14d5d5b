// DPDK transport on virtual devices: net_null (TX that frees everything) and net_ring (one ring:
// what the port sends, it receives). Every test skips loudly when the EAL cannot start here (no
// permissions, no memory). The EAL is once per process, so all tests share one argument string.
#include <arpa/inet.h>
#include <pthread.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/dpdk_eal.h"
#include "engine/dpdk_port.h"
#include "engine/dpdk_rx.h"
#include "engine/dpdk_tx.h"
#include "engine/eth_frame.h"
#include "engine/wire.h"

namespace shoal::engine {
namespace {

// --no-shconf last: DpdkEal puts it there when it replaces --in-memory (see the rewrite test).
constexpr const char* kEalArgs =
    "--no-huge -m 256 --no-pci --log-level=error --no-telemetry --vdev=net_null0 "
    "--vdev=net_ring0 --no-shconf";

cpu_set_t g_affinity_before_eal;  // of the thread that set up the EAL, just before

// The process-wide EAL, or null with the reason in *why.
std::shared_ptr<DpdkEal> test_eal(std::string* why) {
  static std::string error;
  static std::shared_ptr<DpdkEal> eal = [] {
    CPU_ZERO(&g_affinity_before_eal);
    pthread_getaffinity_np(pthread_self(), sizeof g_affinity_before_eal, &g_affinity_before_eal);
    auto r = DpdkEal::init(kEalArgs);
    if (!r) {
      error = r.error();
      std::fprintf(stderr, "[dpdk_test] EAL unavailable, DPDK tests SKIP: %s\n", error.c_str());
      return std::shared_ptr<DpdkEal>();
    }
    return *r;
  }();
  *why = error;
  return eal;
}

#define REQUIRE_EAL(var)         \
  std::string eal_why;           \
  auto var = test_eal(&eal_why); \
  if (!var) GTEST_SKIP() << "SKIPPED: no DPDK EAL: " << eal_why

std::shared_ptr<DpdkPort> open_port(std::shared_ptr<DpdkEal> eal, const char* device,
                                    uint16_t mtu = 0) {
  DpdkPortOptions o;
  o.device = device;
  o.mbufs = 2047;
  o.mtu = mtu;
  auto p = DpdkPort::open(std::move(eal), o);
  EXPECT_TRUE(p.ok()) << p.error();
  return p.ok() ? *p : nullptr;
}

DpdkTxOptions tx_options(const char* group = "239.255.8.1", uint16_t port = 5000) {
  DpdkTxOptions o;
  o.group = group;
  o.port = port;
  o.src_port = 4000;
  o.ttl = 3;
  o.src_ip = "198.18.0.1";
  o.src_mac = "02:00:00:00:00:01";
  return o;
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

uint16_t reference_checksum(const uint8_t* p, size_t len) {
  uint64_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t{p[i]} * 256 + p[i + 1];
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

// Frames as three caller buffers each; `datagram(i)` is what a UDP socket would carry for frame i
// (TxFrame's contract: header + payload + tail, back to back).
struct Traffic {
  std::vector<std::vector<uint8_t>> headers, payloads, tails;

  void add(size_t header, size_t payload, size_t tail) {
    const auto seq = headers.size();
    auto fill = [&](size_t n, uint8_t salt) {
      std::vector<uint8_t> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seq * 31 + i * 7 + salt);
      return v;
    };
    headers.push_back(fill(header, 1));
    payloads.push_back(fill(payload, 2));
    tails.push_back(fill(tail, 3));
  }
  size_t size() const { return headers.size(); }
  TxFrame frame(size_t i) const {
    return TxFrame{headers[i].data(),
                   static_cast<uint16_t>(headers[i].size()),
                   payloads[i].data(),
                   static_cast<uint16_t>(payloads[i].size()),
                   tails[i].data(),
                   static_cast<uint16_t>(tails[i].size()),
                   true};
  }
  std::vector<uint8_t> datagram(size_t i) const {
    std::vector<uint8_t> d = headers[i];
    d.insert(d.end(), payloads[i].begin(), payloads[i].end());
    d.insert(d.end(), tails[i].begin(), tails[i].end());
    return d;
  }
};

Traffic mixed_traffic(size_t count, uint32_t max_size) {
  Traffic t;
  uint32_t x = 99;
  for (size_t i = 0; i < count; ++i) {
    x = x * 1103515245u + 12345u;
    const uint32_t size = 1 + (x >> 8) % max_size;
    const uint32_t header = std::min<uint32_t>(size, 32);
    const uint32_t tail = (i % 3 == 0) ? std::min<uint32_t>(size - header, 16) : 0;
    t.add(header, size - header - tail, tail);
  }
  return t;
}

// Sends every frame, retrying while the ring is full; returns false on an error.
bool send_all(DpdkTx& tx, const std::vector<TxFrame>& frames, size_t from, size_t to) {
  while (from < to) {
    const int r = tx.tx_burst(frames.data() + from, static_cast<int>(to - from));
    if (r < 0) return false;
    if (r == 0) return false;  // nobody drains the ring in these tests while sending
    from += static_cast<size_t>(r);
  }
  return true;
}

TEST(DpdkEalTest, OnePerProcess) {
  REQUIRE_EAL(eal);
  auto again = DpdkEal::init(kEalArgs);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->get(), eal.get());
  EXPECT_EQ(DpdkEal::current().get(), eal.get());

  auto other = DpdkEal::init("--no-huge -m 128 --no-pci --no-shconf");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().find("only once per process"), std::string::npos) << other.error();
  EXPECT_NE(other.error().find("-m 128"), std::string::npos) << other.error();
}

TEST(DpdkEalTest, CallerKeepsItsCpusAndOtherThreadsCanRegister) {
  REQUIRE_EAL(eal);
  // test_eal ran on this (the main) thread: rte_eal_init pinned it to one CPU, init undid that.
  cpu_set_t now;
  CPU_ZERO(&now);
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof now, &now), 0);
  EXPECT_TRUE(CPU_EQUAL(&now, &g_affinity_before_eal))
      << CPU_COUNT(&now) << " CPUs now, " << CPU_COUNT(&g_affinity_before_eal) << " before";
  EXPECT_NE(rte_lcore_id(), LCORE_ID_ANY) << "the initializing thread is the main lcore";

  unsigned before = 0, after = 0;
  Status registered;
  std::thread other([&] {
    before = rte_lcore_id();
    registered = DpdkEal::register_thread();
    after = rte_lcore_id();
  });
  other.join();
  EXPECT_EQ(before, LCORE_ID_ANY);
  ASSERT_TRUE(registered.ok()) << registered.error();
  EXPECT_NE(after, LCORE_ID_ANY);
  EXPECT_NE(after, rte_lcore_id());
}

TEST(DpdkEalTest, InMemoryWithoutHugepagesMeansNoSharedConfig) {
  REQUIRE_EAL(eal);
  // DPDK 22.11 refuses --in-memory with --no-huge; the rewrite makes this the same argument list.
  auto same = DpdkEal::init(
      "--no-huge -m 256 --no-pci --in-memory --log-level=error --no-telemetry "
      "--vdev=net_null0 --vdev=net_ring0");
  ASSERT_TRUE(same.ok()) << same.error();
  EXPECT_EQ(same->get(), eal.get());
}

TEST(DpdkPortTest, UnknownDeviceListsThePorts) {
  REQUIRE_EAL(eal);
  DpdkPortOptions o;
  o.device = "net_nosuch0";
  auto p = DpdkPort::open(eal, o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("no DPDK port named 'net_nosuch0'"), std::string::npos) << p.error();
  EXPECT_NE(p.error().find("net_null0"), std::string::npos) << p.error();
  EXPECT_NE(p.error().find("net_ring0"), std::string::npos) << p.error();

  o.device = "";  // two ports exist: which one is ambiguous
  p = DpdkPort::open(eal, o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("name one"), std::string::npos) << p.error();
}

TEST(DpdkPortTest, DeviceIsOpenOnceAtATimeAndCanBeReopened) {
  REQUIRE_EAL(eal);
  auto first = open_port(eal, "net_null0", 9000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->driver(), "net_null");
  EXPECT_EQ(first->mtu(), 9000);
  EXPECT_EQ(first->frame_capacity(), 9014u);
  EXPECT_TRUE(first->tx_chains());
  DpdkPortOptions o;
  o.device = "net_null0";
  auto second = DpdkPort::open(eal, o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("already open"), std::string::npos) << second.error();
  first.reset();
  auto reopened = open_port(eal, "net_null0");
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->mtu(), 1500);  // the default again, not the last configuration
}

TEST(DpdkTxTest, NullPortTakesEveryBurstWithoutLeakingMbufs) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_null0");
  ASSERT_TRUE(port);
  for (bool zero_copy : {false, true}) {
    DpdkTxOptions o = tx_options();
    o.zero_copy = zero_copy;
    auto tx = DpdkTx::open(port, o);
    ASSERT_TRUE(tx.ok()) << tx.error();
    static uint8_t header[32], payload[1408];
    std::vector<TxFrame> frames(64, TxFrame{header, 32, payload, 1408, nullptr, 0, true});
    // 200 bursts of 64 = 12800 frames through a pool of 2047: a leak would run it dry.
    for (int burst = 0; burst < 200; ++burst)
      ASSERT_EQ((*tx)->tx_burst(frames.data(), 64), 64) << "burst " << burst;
    EXPECT_EQ((*tx)->stats().frames, 12800u);
    EXPECT_EQ((*tx)->stats().bytes, 12800u * 1440);
    EXPECT_EQ((*tx)->stats().no_mbufs, 0u);
    EXPECT_EQ((*tx)->stats().zero_copy, zero_copy ? 12800u : 0u);
    EXPECT_EQ((*tx)->payloads_in_flight(), 0u) << "net_null frees inside tx_burst";
  }
}

TEST(DpdkTxTest, FramesBeyondTheMtuAreNotTaken) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_null0");
  ASSERT_TRUE(port);
  auto tx = DpdkTx::open(port, tx_options());
  ASSERT_TRUE(tx.ok()) << tx.error();
  EXPECT_EQ((*tx)->max_frame(), 1500u - 28);
  static uint8_t buf[2000];
  const TxFrame fits{buf, 1472, nullptr, 0, nullptr, 0};
  const TxFrame big{buf, 1000, buf, 473, nullptr, 0};  // 1473: one byte too many
  const TxFrame burst[] = {fits, big, fits};
  EXPECT_EQ((*tx)->tx_burst(&big, 1), -EMSGSIZE);
  EXPECT_EQ((*tx)->tx_burst(burst, 3), 1);
  EXPECT_EQ((*tx)->stats().frames, 1u);
}

TEST(DpdkTxTest, BadOptionsAreExplained) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_null0");
  ASSERT_TRUE(port);
  auto expect_error = [&](DpdkTxOptions o, const char* needle) {
    auto tx = DpdkTx::open(port, o);
    ASSERT_FALSE(tx.ok()) << "accepted; wanted an error with '" << needle << "'";
    EXPECT_NE(tx.error().find(needle), std::string::npos) << tx.error();
  };
  DpdkTxOptions o = tx_options("10.0.0.1");
  expect_error(o, "not an IPv4 multicast group");
  o = tx_options("239.1.1.1", 0);
  expect_error(o, "port 0");
  o = tx_options();
  o.src_ip.clear();  // net_null has no kernel interface to ask
  expect_error(o, "src_ip");
  o = tx_options();
  o.ttl = 256;
  expect_error(o, "TTL");
  o = tx_options();
  o.src_mac = "01:00:5e:00:00:01";
  expect_error(o, "unicast MAC");
  o = tx_options();
  o.queue = 1;
  expect_error(o, "queue 1 does not exist");

  auto first = DpdkTx::open(port, tx_options());
  ASSERT_TRUE(first.ok()) << first.error();
  expect_error(tx_options(), "already in use");
  first->reset();
  EXPECT_TRUE(DpdkTx::open(port, tx_options()).ok()) << "the queue is free again";
}

TEST(DpdkLoopTest, WireBytesAreTheSocketPathsDatagramInAMulticastFrame) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  auto tx = DpdkTx::open(port, tx_options());
  ASSERT_TRUE(tx.ok()) << tx.error();

  // Real shoal frames: header written by encode_header over the payload and tag.
  constexpr int kFrames = 8;
  std::vector<uint8_t> payload(1408), tag(16), headers(kFrames * kHeaderSize);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 5 + 3);
  for (size_t i = 0; i < tag.size(); ++i) tag[i] = static_cast<uint8_t>(0xA0 + i);
  std::vector<TxFrame> frames;
  for (int i = 0; i < kFrames; ++i) {
    FrameHeader h;
    h.k = 64;
    h.esi = static_cast<uint8_t>(i);
    h.flags = kFlagAuth;
    h.tag_len = 16;
    h.session = 0x5EED;
    h.block = 7;
    h.payload_len = 1408;
    h.sequence = static_cast<uint32_t>(i);
    uint8_t* hdr = headers.data() + i * kHeaderSize;
    encode_header(h, payload, tag, hdr);
    frames.push_back(TxFrame{hdr, kHeaderSize, payload.data(), 1408, tag.data(), 16});
  }
  ASSERT_EQ((*tx)->tx_burst(frames.data(), kFrames), kFrames);

  rte_mbuf* got[16];
  const uint16_t n = rte_eth_rx_burst(port->id(), 0, got, 16);
  ASSERT_EQ(n, kFrames);
  uint16_t first_ident = 0;
  for (int i = 0; i < n; ++i) {
    rte_mbuf* m = got[i];
    ASSERT_EQ(m->nb_segs, 1) << "copy mode sends one segment";
    const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
    const size_t udp_payload = kHeaderSize + 1408 + 16;
    ASSERT_EQ(m->pkt_len, 14 + 20 + 8 + udp_payload);
    const uint8_t dst_mac[] = {0x01, 0x00, 0x5e, 0x7f, 0x08, 0x01};  // 239.255.8.1
    const uint8_t src_mac[] = {0x02, 0, 0, 0, 0, 0x01};
    EXPECT_EQ(std::memcmp(f, dst_mac, 6), 0);
    EXPECT_EQ(std::memcmp(f + 6, src_mac, 6), 0);
    EXPECT_EQ(be16(f + 12), 0x0800);
    const uint8_t* v4 = f + 14;
    EXPECT_EQ(v4[0], 0x45);
    EXPECT_EQ(be16(v4 + 2), 20 + 8 + udp_payload);
    if (i == 0) first_ident = be16(v4 + 4);
    EXPECT_EQ(be16(v4 + 4), static_cast<uint16_t>(first_ident + i)) << "one ident per frame";
    EXPECT_EQ(be16(v4 + 6), 0x4000) << "DF, not a fragment";
    EXPECT_EQ(v4[8], 3) << "TTL";
    EXPECT_EQ(v4[9], 17);
    EXPECT_EQ(reference_checksum(v4, 20), 0) << "IPv4 header checksum";
    const uint8_t src_ip[] = {198, 18, 0, 1}, group[] = {239, 255, 8, 1};
    EXPECT_EQ(std::memcmp(v4 + 12, src_ip, 4), 0);
    EXPECT_EQ(std::memcmp(v4 + 16, group, 4), 0);
    const uint8_t* udp = v4 + 20;
    EXPECT_EQ(be16(udp), 4000);
    EXPECT_EQ(be16(udp + 2), 5000);
    EXPECT_EQ(be16(udp + 4), 8 + udp_payload);
    EXPECT_EQ(be16(udp + 6), 0);
    // The UDP payload is exactly the socket path's datagram, and a valid shoal frame.
    std::vector<uint8_t> want(headers.begin() + i * kHeaderSize,
                              headers.begin() + (i + 1) * kHeaderSize);
    want.insert(want.end(), payload.begin(), payload.end());
    want.insert(want.end(), tag.begin(), tag.end());
    EXPECT_EQ(std::memcmp(udp + 8, want.data(), want.size()), 0) << "frame " << i;
    const ParseResult parsed = parse_frame({udp + 8, udp_payload});
    ASSERT_TRUE(parsed.ok()) << to_string(parsed.error());
    EXPECT_EQ(parsed->header.esi, i);
  }
  rte_pktmbuf_free_bulk(got, n);
}

struct LoopCase {
  bool zero_copy;
  int rx_burst;
  size_t tx_chunk;
};

class DpdkLoopModes : public ::testing::TestWithParam<LoopCase> {};

TEST_P(DpdkLoopModes, EveryDatagramArrivesIntactAndInOrder) {
  REQUIRE_EAL(eal);
  const LoopCase c = GetParam();
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  DpdkTxOptions to = tx_options();
  to.zero_copy = c.zero_copy;
  to.zero_copy_min = 64;
  auto tx = DpdkTx::open(port, to);
  ASSERT_TRUE(tx.ok()) << tx.error();
  auto rx = DpdkRx::open(port, {.group = "239.255.8.1", .port = 5000});
  ASSERT_TRUE(rx.ok()) << rx.error();

  const Traffic t = mixed_traffic(2000, 1472);
  std::vector<TxFrame> frames;
  for (size_t i = 0; i < t.size(); ++i) frames.push_back(t.frame(i));
  std::vector<RxFrame> got(static_cast<size_t>(c.rx_burst));
  size_t sent = 0, received = 0;
  while (received < t.size()) {
    const size_t end = std::min(t.size(), sent + c.tx_chunk);
    ASSERT_TRUE(send_all(**tx, frames, sent, end)) << "at frame " << sent;
    sent = end;
    int idle = 0;
    while (received < sent) {
      const int r = (*rx)->rx_burst(got.data(), c.rx_burst);
      ASSERT_GE(r, 0);
      ASSERT_LE(r, c.rx_burst);
      if (r == 0) {
        ASSERT_LT(++idle, 1000) << "stuck after " << received << " of " << sent;
        continue;
      }
      for (int i = 0; i < r; ++i, ++received) {
        const std::vector<uint8_t> want = t.datagram(received);
        const RxFrame& d = got[static_cast<size_t>(i)];
        ASSERT_EQ(d.len, want.size()) << "datagram " << received;
        ASSERT_EQ(std::memcmp(d.data, want.data(), want.size()), 0) << "datagram " << received;
      }
    }
  }
  EXPECT_EQ((*tx)->stats().frames, t.size());
  EXPECT_EQ((*rx)->stats().datagrams, t.size());
  EXPECT_EQ((*rx)->stats().packets, t.size()) << "nothing else was on the ring";
  if (c.zero_copy) {
    EXPECT_GT((*tx)->stats().zero_copy, t.size() / 2);
    EXPECT_EQ((*rx)->stats().linearized, (*tx)->stats().zero_copy);
    EXPECT_EQ((*tx)->payloads_in_flight(), 0u) << "the receiver freed every chain";
  } else {
    EXPECT_EQ((*rx)->stats().linearized, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, DpdkLoopModes,
                         ::testing::Values(LoopCase{false, 64, 256}, LoopCase{false, 7, 100},
                                           LoopCase{true, 64, 256}, LoopCase{true, 1, 33}),
                         [](const ::testing::TestParamInfo<LoopCase>& p) {
                           return std::string(p.param.zero_copy ? "ZeroCopy" : "Copy") + "RxBurst" +
                                  std::to_string(p.param.rx_burst) + "TxChunk" +
                                  std::to_string(p.param.tx_chunk);
                         });

TEST(DpdkLoopTest, ZeroCopySharesThePayloadUntilReleasedCopyDoesNot) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  auto rx = DpdkRx::open(port, {.group = "239.255.8.1", .port = 5000});
  ASSERT_TRUE(rx.ok()) << rx.error();
  for (bool zero_copy : {false, true}) {
    SCOPED_TRACE(zero_copy ? "zero copy" : "copy");
    DpdkTxOptions o = tx_options();
    o.zero_copy = zero_copy;
    auto tx = DpdkTx::open(port, o);
    ASSERT_TRUE(tx.ok()) << tx.error();
    std::vector<uint8_t> header(32, 0x11), payload(1000, 0x22);
    std::vector<TxFrame> frames(10,
                                TxFrame{header.data(), 32, payload.data(), 1000, nullptr, 0, true});
    ASSERT_EQ((*tx)->tx_burst(frames.data(), 10), 10);
    EXPECT_EQ((*tx)->payloads_in_flight(), zero_copy ? 10u : 0u);
    EXPECT_EQ((*tx)->reclaim(), zero_copy ? 10u : 0u) << "still on the ring, not released";
    // The caller breaks the zero-copy contract on purpose: this shows what the contract is for.
    std::memset(payload.data(), 0x33, payload.size());
    std::memset(header.data(), 0x44, header.size());
    RxFrame got[16];
    ASSERT_EQ((*rx)->rx_burst(got, 16), 10);
    for (int i = 0; i < 10; ++i) {
      const RxFrame& d = got[i];
      ASSERT_EQ(d.len, 1032);
      EXPECT_EQ(d.data[0], 0x11) << "the header is always copied";
      EXPECT_EQ(d.data[32], zero_copy ? 0x33 : 0x22) << "payload by reference iff zero copy";
      EXPECT_EQ(d.data[1031], zero_copy ? 0x33 : 0x22);
    }
    EXPECT_EQ((*tx)->payloads_in_flight(), 0u) << "the receiver is done with them";
  }
}

// Only a payload marked stable goes by reference: a scratch buffer (repair rows, ciphertext) is
// copied even on a zero-copy queue, so its owner may reuse it at once.
TEST(DpdkLoopTest, AScratchPayloadIsCopiedEvenOnAZeroCopyQueue) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  auto rx = DpdkRx::open(port, {.group = "239.255.8.1", .port = 5000});
  ASSERT_TRUE(rx.ok()) << rx.error();
  DpdkTxOptions o = tx_options();
  o.zero_copy = true;
  auto tx = DpdkTx::open(port, o);
  ASSERT_TRUE(tx.ok()) << tx.error();
  std::vector<uint8_t> header(32, 0x11), mapped(1000, 0x22), scratch(1000, 0x55);
  const TxFrame frames[2] = {TxFrame{header.data(), 32, mapped.data(), 1000, nullptr, 0, true},
                             TxFrame{header.data(), 32, scratch.data(), 1000, nullptr, 0, false}};
  ASSERT_EQ((*tx)->tx_burst(frames, 2), 2);
  EXPECT_EQ((*tx)->stats().zero_copy, 1u);
  EXPECT_EQ((*tx)->payloads_in_flight(), 1u);
  std::memset(mapped.data(), 0x33, mapped.size());
  std::memset(scratch.data(), 0x66, scratch.size());  // reused at once, as DataPass does
  RxFrame got[4];
  ASSERT_EQ((*rx)->rx_burst(got, 4), 2);
  EXPECT_EQ(got[0].data[32], 0x33) << "the stable payload went by reference";
  EXPECT_EQ(got[1].data[32], 0x55) << "the scratch payload was copied when sent";
  EXPECT_EQ((*tx)->payloads_in_flight(), 0u);
}

TEST(DpdkLoopTest, FullRingKeepsUntakenFramesAndIdentsContiguous) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  DpdkTxOptions o = tx_options();
  o.zero_copy = true;
  auto tx = DpdkTx::open(port, o);
  ASSERT_TRUE(tx.ok()) << tx.error();
  static uint8_t payload[1024];
  std::vector<TxFrame> frames(64, TxFrame{nullptr, 0, payload, 1024, nullptr, 0, true});
  uint64_t taken = 0;
  for (int round = 0; round < 1000; ++round) {  // nobody reads: the ring fills up
    const int r = (*tx)->tx_burst(frames.data(), 64);
    ASSERT_GE(r, 0);
    taken += static_cast<uint64_t>(r);
    if (r < 64) break;
  }
  ASSERT_GE((*tx)->stats().queue_full, 1u) << "the ring never filled";
  EXPECT_EQ((*tx)->stats().frames, taken);
  EXPECT_EQ((*tx)->payloads_in_flight(), taken) << "untaken frames were released at once";
  EXPECT_EQ((*tx)->tx_burst(frames.data(), 64), 0) << "still full";

  // What is on the ring carries consecutive IPv4 identifications: untaken frames used none.
  uint64_t drained = 0;
  uint16_t expect = 0;
  rte_mbuf* got[64];
  while (uint16_t n = rte_eth_rx_burst(port->id(), 0, got, 64)) {
    for (uint16_t i = 0; i < n; ++i, ++drained) {
      const uint16_t ident = be16(rte_pktmbuf_mtod(got[i], const uint8_t*) + 18);
      if (drained == 0) expect = ident;
      ASSERT_EQ(ident, expect) << "frame " << drained;
      ++expect;
    }
    rte_pktmbuf_free_bulk(got, n);
  }
  EXPECT_EQ(drained, taken);
  EXPECT_EQ((*tx)->payloads_in_flight(), 0u);
}

// Builds a raw frame in an mbuf of the port's pool from a header written for `flow`, then lets
// `edit` change it (fixing the IPv4 checksum afterwards unless told not to).
rte_mbuf* raw_frame(DpdkPort& port, const UdpFlow& flow, size_t payload_len,
                    void (*edit)(uint8_t* frame), bool fix_checksum = true) {
  auto h = EthUdpHeader::make(flow);
  EXPECT_TRUE(h.ok()) << h.error();
  rte_mbuf* m = rte_pktmbuf_alloc(port.pool());
  EXPECT_NE(m, nullptr);
  auto* f = rte_pktmbuf_mtod(m, uint8_t*);
  h->write(f, static_cast<uint16_t>(payload_len), 1);
  std::memset(f + kEthIpUdpSize, 0x77, payload_len);
  if (edit) edit(f);
  if (fix_checksum) {
    f[24] = f[25] = 0;
    const uint16_t c = reference_checksum(f + 14, 20);
    f[24] = static_cast<uint8_t>(c >> 8);
    f[25] = static_cast<uint8_t>(c);
  }
  m->data_len = static_cast<uint16_t>(kEthIpUdpSize + payload_len);
  m->pkt_len = m->data_len;
  return m;
}

TEST(DpdkLoopTest, ReceiverDropsWhatIsNotItsGroupAndPort) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  auto rx = DpdkRx::open(port, {.group = "239.255.8.1", .port = 5000});
  ASSERT_TRUE(rx.ok()) << rx.error();

  UdpFlow ours;
  ours.src_mac = MacAddress{{2, 0, 0, 0, 0, 9}};
  inet_pton(AF_INET, "198.18.0.9", &ours.src_ip);
  inet_pton(AF_INET, "239.255.8.1", &ours.group);
  ours.src_port = 1;
  ours.dst_port = 5000;
  UdpFlow other_group = ours, other_port = ours;
  inet_pton(AF_INET, "239.255.8.2", &other_group.group);
  other_port.dst_port = 5001;

  rte_mbuf* frames[] = {
      raw_frame(*port, other_group, 100, nullptr),
      raw_frame(*port, other_port, 100, nullptr),
      raw_frame(*port, ours, 100, [](uint8_t* f) { f[20] = 0x20; }),  // more fragments
      raw_frame(*port, ours, 100, [](uint8_t* f) { f[12] = 0x08, f[13] = 0x06; }),  // ARP
      raw_frame(*port, ours, 100, [](uint8_t* f) { f[23] = 6; }),                   // TCP
      raw_frame(
          *port, ours, 100, [](uint8_t* f) { f[26] ^= 0xFF; }, false),  // bad checksum
      raw_frame(*port, ours, 100, [](uint8_t* f) { f[39] = 7; }),       // UDP length 7
      raw_frame(*port, ours, 123, nullptr),                             // the one we want
  };
  constexpr uint16_t kCount = sizeof frames / sizeof frames[0];
  ASSERT_EQ(rte_eth_tx_burst(port->id(), 0, frames, kCount), kCount);

  RxFrame got[16];
  int total = 0, polls = 0;
  while ((*rx)->stats().packets < kCount && ++polls < 100) {
    const int r = (*rx)->rx_burst(got + total, 16 - total);
    ASSERT_GE(r, 0);
    total += r;
  }
  ASSERT_EQ(total, 1);
  EXPECT_EQ(got[0].len, 123);
  EXPECT_EQ(got[0].data[0], 0x77);
  const DpdkRxStats& s = (*rx)->stats();
  EXPECT_EQ(s.packets, kCount);
  EXPECT_EQ(s.other_group, 1u);
  EXPECT_EQ(s.other_port, 1u);
  EXPECT_EQ(s.fragments, 1u);
  EXPECT_EQ(s.not_ipv4, 1u);
  EXPECT_EQ(s.not_udp, 1u);
  EXPECT_EQ(s.bad_ip, 1u);
  EXPECT_EQ(s.bad_udp, 1u);
  EXPECT_EQ(s.datagrams, 1u);
}

TEST(DpdkRxTest, BadOptionsAreExplained) {
  REQUIRE_EAL(eal);
  auto port = open_port(eal, "net_ring0");
  ASSERT_TRUE(port);
  auto r = DpdkRx::open(port, {.group = "10.1.1.1", .port = 5000});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not an IPv4 multicast address"), std::string::npos) << r.error();
  r = DpdkRx::open(port, {.group = "239.1.1.1", .port = 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("port 0"), std::string::npos) << r.error();
  auto first = DpdkRx::open(port, {.group = "239.1.1.1", .port = 1});
  ASSERT_TRUE(first.ok()) << first.error();
  r = DpdkRx::open(port, {.group = "239.1.1.1", .port = 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("already in use"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace shoal::engine
