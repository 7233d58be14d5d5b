// UdpTx -> UdpRx over multicast on the loopback interface. As root each test runs in a private
// network namespace (no cross-talk with other tests or hosts' traffic, and lo can be switched to
// multicast); otherwise it uses this namespace's lo if it already carries multicast, and skips
// loudly if not.
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "common/fd.h"
#include "engine/net_iface.h"
#include "engine/udp_rx.h"
#include "engine/udp_tx.h"

namespace shoal::engine {
namespace {

// Makes the calling thread's lo usable for multicast; returns why not ("" when it is).
std::string prepare_loopback(bool* isolated) {
  *isolated = ::unshare(CLONE_NEWNET) == 0;  // per-thread, needs CAP_SYS_ADMIN
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return std::string("cannot create a socket: ") + std::strerror(errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) return "cannot read the flags of lo";
  const short want = IFF_UP | IFF_MULTICAST;
  if ((req.ifr_flags & want) != want) {
    req.ifr_flags = static_cast<short>(req.ifr_flags | want);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0)
      return std::string("multicast on lo is off and cannot be switched on (") +
             std::strerror(errno) + "): run as root, or `ip link set lo up multicast on` first";
  }
  return "";
}

// Runs fn in a new thread prepared by prepare_loopback; returns the skip reason, "" if fn ran.
std::string run_on_loopback(const std::function<void(bool isolated)>& fn) {
  std::string skip;
  std::thread t([&] {
    bool isolated = false;
    skip = prepare_loopback(&isolated);
    if (skip.empty()) fn(isolated);
  });
  t.join();
  return skip;
}

// Test traffic: frame seq has size sizes[seq]; header = seq and size, payload = a pattern of seq,
// tail = seq ^ a constant. The receiver can check every byte without knowing how frames were
// batched.
struct Traffic {
  std::vector<uint32_t> sizes;
  std::vector<uint8_t> bytes;  // all frames back to back
  std::vector<size_t> offset;

  static constexpr uint32_t kHeader = 8, kTail = 4, kMin = kHeader + kTail;

  void add_run(uint32_t count, uint32_t size) {
    for (uint32_t i = 0; i < count; ++i) add(size);
  }
  void add(uint32_t size) {
    const auto seq = static_cast<uint32_t>(sizes.size());
    sizes.push_back(size);
    offset.push_back(bytes.size());
    bytes.resize(bytes.size() + size);
    uint8_t* f = bytes.data() + offset.back();
    std::memcpy(f, &seq, 4);
    std::memcpy(f + 4, &size, 4);
    for (uint32_t i = kHeader; i < size - kTail; ++i)
      f[i] = static_cast<uint8_t>(seq * 131 + i * 7);
    const uint32_t tail = seq ^ 0xA5C3E1F0u;
    std::memcpy(f + size - kTail, &tail, 4);
  }
  // Split each frame into three pieces so the scatter-gather path is exercised.
  TxFrame frame(size_t seq) const {
    const uint8_t* f = bytes.data() + offset[seq];
    const uint32_t size = sizes[seq];
    return TxFrame{
        f,    kHeader, f + kHeader, static_cast<uint16_t>(size - kHeader - kTail), f + size - kTail,
        kTail};
  }
  // Returns "" if d is exactly frame `expect_seq`.
  std::string check(const RxFrame& d, uint32_t expect_seq) const {
    if (d.len < kMin) return "runt datagram of " + std::to_string(d.len) + " bytes";
    uint32_t seq = 0;
    std::memcpy(&seq, d.data, 4);
    if (seq != expect_seq)
      return "got seq " + std::to_string(seq) + ", expected " + std::to_string(expect_seq);
    if (d.len != sizes[seq])
      return "seq " + std::to_string(seq) + ": " + std::to_string(d.len) + " bytes, sent " +
             std::to_string(sizes[seq]);
    if (std::memcmp(d.data, bytes.data() + offset[seq], d.len) != 0)
      return "seq " + std::to_string(seq) + ": contents differ";
    return "";
  }
};

Traffic mixed_traffic() {
  Traffic t;
  t.add_run(200, 1400);  // several full GSO batches of equal size
  t.add(100);            // a short frame right after a run (rides as the short last segment)
  t.add_run(63, 1200);
  t.add_run(130, 1472);
  t.add_run(9, 8000);  // large segments: 8 per batch fit under 64 KiB
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {  // every frame a different size: no batching possible
    x = x * 1103515245u + 12345u;
    t.add(Traffic::kMin + (x >> 8) % 1400);
  }
  t.add_run(3, 30000);  // 2 per batch
  t.add(60000);         // one big datagram, alone
  t.add_run(700, 1000);
  return t;
}

bool wait_fd(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 5000) == 1;  // a deadline against hangs, not a performance bound
}

struct LoopbackCase {
  bool gso;
  bool gro;
  int rx_burst;
  int tx_chunk;
};

class UdpLoopbackTest : public ::testing::TestWithParam<LoopbackCase> {};

TEST_P(UdpLoopbackTest, EveryFrameArrivesIntactAndInOrder) {
  const LoopbackCase c = GetParam();
  const Traffic traffic = mixed_traffic();
  std::string skip = run_on_loopback([&](bool isolated) {
    if (!isolated) std::fprintf(stderr, "[udp_test] not root: using the shared namespace's lo\n");
    const uint16_t port = static_cast<uint16_t>(isolated ? 4000 : 20000 + ::getpid() % 20000);
    UdpRxOptions ro{.group = "239.255.7.1", .port = port, .iface = "lo", .gro = c.gro};
    auto rx = UdpRx::open(ro);
    ASSERT_TRUE(rx.ok()) << rx.error();
    UdpTxOptions to{
        .group = "239.255.7.1", .port = port, .iface = "lo", .loopback = true, .gso = c.gso};
    auto tx = UdpTx::open(to);
    ASSERT_TRUE(tx.ok()) << tx.error();

    const size_t total = traffic.sizes.size();
    std::vector<TxFrame> frames(total);
    for (size_t i = 0; i < total; ++i) frames[i] = traffic.frame(i);
    std::vector<RxFrame> got(static_cast<size_t>(c.rx_burst));
    size_t sent = 0, received = 0;
    while (received < total) {
      // Send one chunk, then read it all back: the receive buffer never has to hold everything.
      const size_t chunk_end = std::min(total, sent + static_cast<size_t>(c.tx_chunk));
      while (sent < chunk_end) {
        const int r = (*tx)->tx_burst(frames.data() + sent, static_cast<int>(chunk_end - sent));
        ASSERT_GE(r, 0) << "tx_burst: " << std::strerror(-r);
        if (r == 0) {
          ASSERT_TRUE(wait_fd((*tx)->fd(), POLLOUT)) << "socket never became writable";
        }
        sent += static_cast<size_t>(r);
      }
      while (received < sent) {
        const int r = (*rx)->rx_burst(got.data(), c.rx_burst);
        ASSERT_GE(r, 0) << "rx_burst: " << std::strerror(-r);
        ASSERT_LE(r, c.rx_burst);
        if (r == 0) {
          ASSERT_TRUE(wait_fd((*rx)->fd(), POLLIN))
              << "stuck after " << received << " of " << sent << " datagrams; kernel drops "
              << (*rx)->stats().kernel_drops << ", truncated " << (*rx)->stats().truncated;
          continue;
        }
        for (int i = 0; i < r; ++i) {
          const std::string bad =
              traffic.check(got[static_cast<size_t>(i)], static_cast<uint32_t>(received));
          ASSERT_EQ(bad, "") << "at datagram " << received;
          ++received;
        }
      }
    }
    const UdpTxStats& ts = (*tx)->stats();
    const UdpRxStats& rs = (*rx)->stats();
    EXPECT_EQ(ts.frames, total);
    EXPECT_EQ(rs.datagrams, total);
    EXPECT_EQ(rs.kernel_drops, 0u);
    EXPECT_EQ(rs.truncated, 0u);
    EXPECT_EQ((*tx)->gso_enabled(), c.gso) << "UDP GSO should be available on this kernel";
    // GSO packs equal-sized runs: clearly fewer messages than frames. Without it, one each.
    if ((*tx)->gso_enabled())
      EXPECT_LT(ts.messages * 2, ts.frames);
    else
      EXPECT_EQ(ts.messages, ts.frames);
    // A GSO batch looped back to a UDP_GRO socket arrives whole: rx_burst must have cut buffers
    // apart.
    if ((*tx)->gso_enabled() && (*rx)->gro_enabled()) {
      EXPECT_LT(rs.messages * 2, rs.datagrams);
    }
    std::fprintf(
        stderr,
        "[udp_test] gso=%d gro=%d: %llu frames in %llu tx messages / %llu syscalls; "
        "%llu rx buffers / %llu syscalls\n",
        (*tx)->gso_enabled(), (*rx)->gro_enabled(), static_cast<unsigned long long>(ts.frames),
        static_cast<unsigned long long>(ts.messages), static_cast<unsigned long long>(ts.syscalls),
        static_cast<unsigned long long>(rs.messages), static_cast<unsigned long long>(rs.syscalls));
  });
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

INSTANTIATE_TEST_SUITE_P(
    Modes, UdpLoopbackTest,
    ::testing::Values(LoopbackCase{true, true, 64, 1024}, LoopbackCase{true, true, 1, 256},
                      LoopbackCase{true, true, 7, 100}, LoopbackCase{true, false, 64, 1024},
                      LoopbackCase{false, true, 64, 512}, LoopbackCase{false, false, 16, 64}),
    [](const ::testing::TestParamInfo<LoopbackCase>& p) {
      const LoopbackCase& c = p.param;
      return std::string(c.gso ? "Gso" : "NoGso") + (c.gro ? "Gro" : "NoGro") + "RxBurst" +
             std::to_string(c.rx_burst) + "TxChunk" + std::to_string(c.tx_chunk);
    });

TEST(UdpTest, ReceiverBoundToItsGroupIgnoresOtherGroupsOnThePort) {
  std::string skip = run_on_loopback([](bool isolated) {
    const uint16_t port = static_cast<uint16_t>(isolated ? 4001 : 20000 + (::getpid() + 1) % 20000);
    auto rx_a = UdpRx::open({.group = "239.255.7.10", .port = port, .iface = "lo"});
    auto rx_b = UdpRx::open({.group = "239.255.7.11", .port = port, .iface = "lo"});
    ASSERT_TRUE(rx_a.ok()) << rx_a.error();
    ASSERT_TRUE(rx_b.ok()) << rx_b.error();
    auto tx_b =
        UdpTx::open({.group = "239.255.7.11", .port = port, .iface = "lo", .loopback = true});
    ASSERT_TRUE(tx_b.ok()) << tx_b.error();
    const uint8_t byte = 'B';
    const TxFrame f{&byte, 1, nullptr, 0, nullptr, 0};
    ASSERT_EQ((*tx_b)->tx_burst(&f, 1), 1);
    RxFrame d;
    int r = 0;
    while ((r = (*rx_b)->rx_burst(&d, 1)) == 0) ASSERT_TRUE(wait_fd((*rx_b)->fd(), POLLIN));
    ASSERT_EQ(r, 1);
    EXPECT_EQ(d.len, 1);
    // One delivery pass serves every matching socket, so a copy for rx_a would be queued by now.
    EXPECT_EQ((*rx_a)->rx_burst(&d, 1), 0)
        << "a receiver bound to 239.255.7.10 got 239.255.7.11 traffic";
  });
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

TEST(UdpTest, KernelDropsAreCounted) {
  std::string skip = run_on_loopback([](bool isolated) {
    const uint16_t port = static_cast<uint16_t>(isolated ? 4006 : 20000 + (::getpid() + 2) % 20000);
    auto rx = UdpRx::open({.group = "239.255.7.50", .port = port, .iface = "lo", .rcvbuf = 65536});
    ASSERT_TRUE(rx.ok()) << rx.error();
    // One datagram per skb (no GSO), so the socket's drop counter counts datagrams.
    auto tx = UdpTx::open(
        {.group = "239.255.7.50", .port = port, .iface = "lo", .loopback = true, .gso = false});
    ASSERT_TRUE(tx.ok()) << tx.error();
    static uint8_t payload[1400];
    std::vector<TxFrame> frames(500, TxFrame{payload, sizeof payload, nullptr, 0, nullptr, 0});
    size_t sent = 0;
    while (sent < frames.size()) {  // nobody reads: a 64 KiB buffer must overflow
      const int r = (*tx)->tx_burst(frames.data() + sent, static_cast<int>(frames.size() - sent));
      ASSERT_GE(r, 0) << std::strerror(-r);
      if (r == 0) {
        ASSERT_TRUE(wait_fd((*tx)->fd(), POLLOUT));
      }
      sent += static_cast<size_t>(r);
    }
    std::vector<RxFrame> got(64);
    uint64_t received = 0;
    while (int r = (*rx)->rx_burst(got.data(), 64)) {
      ASSERT_GT(r, 0);
      received += static_cast<uint64_t>(r);
    }
    // The count rides on the next datagram queued after the drops.
    ASSERT_EQ((*tx)->tx_burst(frames.data(), 1), 1);
    ++sent;
    int r = 0;
    while ((r = (*rx)->rx_burst(got.data(), 64)) == 0) ASSERT_TRUE(wait_fd((*rx)->fd(), POLLIN));
    ASSERT_EQ(r, 1);
    ++received;
    EXPECT_GT((*rx)->stats().kernel_drops, 0u);
    EXPECT_EQ(received + (*rx)->stats().kernel_drops, sent);
    EXPECT_EQ((*rx)->drops(), (*rx)->stats().kernel_drops) << "what the receiver reports";
  });
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

// Issue #16 item 2: the receive buffer covers 200 ms at the most the sender may send, within the
// floor (the receiver's default), 512 MiB and a sixteenth of the machine's memory.
TEST(UdpTest, TheReceiveBufferGrowsWithTheRateWithinItsBounds) {
  constexpr int kFloor = 64 << 20;
  constexpr uint64_t kBigRam = uint64_t{256} << 30, kSmallRam = uint64_t{1} << 30;
  EXPECT_EQ(receive_buffer_for_rate(400'000'000, kFloor, kBigRam), kFloor) << "10 MB: the floor";
  EXPECT_EQ(receive_buffer_for_rate(10'000'000'000, kFloor, kBigRam), 250'000'000)
      << "10 Gbit/s for 200 ms";
  EXPECT_EQ(receive_buffer_for_rate(400'000'000'000, kFloor, kBigRam), 512 << 20) << "capped";
  EXPECT_EQ(receive_buffer_for_rate(1'000'000'000'000, kFloor, kBigRam), 512 << 20)
      << "1 Tbit/s: capped, not wrapped around to the floor";
  EXPECT_EQ(receive_buffer_for_rate(10'000'000'000, kFloor, kSmallRam), kFloor)
      << "1 GiB of RAM: a sixteenth is below the floor, which stays";
  EXPECT_EQ(receive_buffer_for_rate(10'000'000'000, 1 << 20, kSmallRam), 64 << 20)
      << "a sixteenth of 1 GiB";
}

TEST(UdpTest, OversizedFrameIsNotTaken) {
  std::string skip = run_on_loopback([](bool) {
    auto tx = UdpTx::open({.group = "239.255.7.20", .port = 4002, .iface = "lo"});
    ASSERT_TRUE(tx.ok()) << tx.error();
    static uint8_t big[65535];
    const TxFrame small{big, 100, nullptr, 0, nullptr, 0};
    const TxFrame huge{big,   100,     big,
                       65500, nullptr, 0};  // 65600 bytes: no UDP datagram is that big
    const TxFrame burst[] = {small, huge, small};
    EXPECT_EQ((*tx)->tx_burst(&huge, 1), -EMSGSIZE);
    EXPECT_EQ((*tx)->tx_burst(burst, 3), 1);  // stops before the oversized frame
    EXPECT_EQ((*tx)->stats().frames, 1u);
  });
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

TEST(UdpTest, DefaultInterfaceWithoutRouteSaysWhatToDo) {
  std::string skip = run_on_loopback([](bool isolated) {
    if (!isolated) return;  // the shared namespace may well have a multicast route
    auto tx = UdpTx::open({.group = "239.255.7.30", .port = 4003, .iface = ""});
    ASSERT_FALSE(tx.ok());
    EXPECT_NE(tx.error().find("ip route"), std::string::npos) << tx.error();
  });
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

TEST(UdpTest, InterfaceWithoutIpv4AddressIsExplained) {
  // In a fresh namespace lo is down and has no address until it is brought up.
  std::string skip;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      skip = std::string("needs root for a private network namespace: ") + std::strerror(errno);
      return;
    }
    auto lo = resolve_iface("lo");
    ASSERT_FALSE(lo.ok());
    EXPECT_NE(lo.error().find("interface 'lo' has no IPv4 address"), std::string::npos)
        << lo.error();
    auto tx = UdpTx::open({.group = "239.255.7.60", .port = 4007, .iface = "lo"});
    ASSERT_FALSE(tx.ok());
    EXPECT_NE(tx.error().find("no IPv4 address"), std::string::npos) << tx.error();
  });
  t.join();
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: " << skip;
}

TEST(UdpTest, BadInterfaceNamesAreExplained) {
  auto tx = UdpTx::open({.group = "239.255.7.40", .port = 4004, .iface = "eth9nosuch"});
  ASSERT_FALSE(tx.ok());
  EXPECT_NE(tx.error().find("no such interface 'eth9nosuch'"), std::string::npos) << tx.error();
  EXPECT_NE(tx.error().find("ip link"), std::string::npos) << tx.error();

  auto rx = UdpRx::open({.group = "239.255.7.40", .port = 4004, .iface = "eth9nosuch"});
  ASSERT_FALSE(rx.ok());
  EXPECT_NE(rx.error().find("no such interface 'eth9nosuch'"), std::string::npos) << rx.error();

  auto too_long = resolve_iface("a-name-longer-than-15");
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.error().find("longer than 15"), std::string::npos) << too_long.error();
}

TEST(UdpTest, BadGroupsAndPortsAreExplained) {
  auto unicast = UdpTx::open({.group = "10.1.2.3", .port = 4005, .iface = "lo"});
  ASSERT_FALSE(unicast.ok());
  EXPECT_NE(unicast.error().find("not an IPv4 multicast address"), std::string::npos)
      << unicast.error();

  auto garbage = UdpRx::open({.group = "239.1.2", .port = 4005, .iface = "lo"});
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().find("'239.1.2' is not an IPv4 address"), std::string::npos)
      << garbage.error();

  auto no_port = UdpTx::open({.group = "239.1.2.3", .port = 0, .iface = "lo"});
  ASSERT_FALSE(no_port.ok());
  EXPECT_NE(no_port.error().find("port 0"), std::string::npos) << no_port.error();
}

TEST(UdpTest, LoopbackInterfaceResolves) {
  auto lo = resolve_iface("lo");
  ASSERT_TRUE(lo.ok()) << lo.error();
  EXPECT_GT(lo->index, 0u);
  EXPECT_TRUE(lo->loopback);
  EXPECT_EQ(ipv4_to_string(lo->ipv4), "127.0.0.1");
}

}  // namespace
}  // namespace shoal::engine
