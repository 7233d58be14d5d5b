// DpdkTx on net_af_packet, attached to the sender's veth of a scripts/testbed.sh bed, delivers
// to a kernel UdpRx in a receiver namespace, across the bed's IGMP-snooping bridge: the frames
// DPDK builds are accepted by a real IP stack, and the datagrams it hands to the socket are the
// bytes the socket path would have sent. Needs root (namespaces); skips loudly otherwise.
//
// A separate binary because the EAL is once per process and af_packet binds to an interface at
// EAL init, in the network namespace of the thread that calls it: here a thread that first
// entered the bed's sender namespace. (The main thread stays in the root namespace, so
// `testbed.sh down`, which kills processes inside the bed, leaves this one alone.)
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/dpdk_eal.h"
#include "engine/dpdk_port.h"
#include "engine/dpdk_tx.h"
#include "engine/udp_rx.h"

#ifndef SHOAL_TESTBED_SCRIPT
#error "SHOAL_TESTBED_SCRIPT must name scripts/testbed.sh"
#endif

namespace shoal::engine {
namespace {

constexpr const char* kGroup = "239.255.9.1";
constexpr uint16_t kPort = 5900;
constexpr size_t kFrames = 3000;

// Runs a shell command, returns its exit status and output.
int run(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A test bed that lives as long as the object.
struct Bed {
  std::string prefix;
  int status = -1;
  std::string output;
  explicit Bed(std::string p) : prefix(std::move(p)) {
    status = run(std::string(SHOAL_TESTBED_SCRIPT) + " up " + prefix + " 1", &output);
  }
  ~Bed() {
    std::string ignored;
    if (status == 0) run(std::string(SHOAL_TESTBED_SCRIPT) + " down " + prefix, &ignored);
  }
};

// Moves the calling thread into a named network namespace; returns "" or why not.
std::string enter_netns(const std::string& name) {
  const int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open /run/netns/" + name + ": " + std::strerror(errno);
  const int r = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  return r == 0 ? "" : "setns " + name + ": " + std::strerror(err);
}

// The datagram for frame i: 32 "header" bytes with the index, then a payload pattern.
std::vector<uint8_t> datagram(size_t i) {
  std::vector<uint8_t> d(32 + 1408);
  std::memcpy(d.data(), &i, sizeof i);
  for (size_t j = 8; j < d.size(); ++j) d[j] = static_cast<uint8_t>(i * 7 + j * 3);
  return d;
}

TEST(DpdkAfPacketTest, KernelReceiverInAnotherNamespaceGetsEveryFrame) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root for network namespaces";
  Bed bed("dpdkaf" + std::to_string(::getpid()));
  if (bed.status == 77) GTEST_SKIP() << "SKIPPED: test bed unavailable: " << bed.output;
  ASSERT_EQ(bed.status, 0) << bed.output;

  std::vector<std::vector<uint8_t>> sent(kFrames);
  for (size_t i = 0; i < kFrames; ++i) sent[i] = datagram(i);

  std::atomic<bool> rx_ready{false}, rx_failed{false}, tx_done{false};
  std::atomic<size_t> received{0};
  std::string rx_error, tx_error;
  std::thread receiver([&] {
    auto fail = [&](std::string why) {
      rx_error = std::move(why);
      rx_failed = true;
    };
    if (std::string e = enter_netns(bed.prefix + "-rx1"); !e.empty()) return fail(e);
    auto rx = UdpRx::open({.group = kGroup, .port = kPort, .iface = "v0"});
    if (!rx) return fail(rx.error());
    rx_ready = true;
    RxFrame got[64];
    while (received < kFrames) {
      pollfd p{(*rx)->fd(), POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1)  // a deadline against hangs, not a performance bound
        return fail("nothing for 5 s after " + std::to_string(received.load()) + " datagrams" +
                    (tx_done ? " (the sender finished)" : ""));
      const int r = (*rx)->rx_burst(got, 64);
      if (r < 0) return fail(std::string("rx_burst: ") + std::strerror(-r));
      for (int k = 0; k < r; ++k) {
        const size_t i = received;
        if (got[k].len != sent[i].size() ||
            std::memcmp(got[k].data, sent[i].data(), sent[i].size()) != 0)
          return fail("datagram " + std::to_string(i) + " differs from what was sent (" +
                      std::to_string(got[k].len) + " bytes)");
        ++received;
      }
    }
  });
  while (!rx_ready && !rx_failed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (rx_failed) {
    receiver.join();
    FAIL() << "receiver: " << rx_error;
  }
  std::string out;
  ASSERT_EQ(
      run(std::string(SHOAL_TESTBED_SCRIPT) + " wait-joined " + bed.prefix + " " + kGroup + " 1",
          &out),
      0)
      << out;

  std::string skip;
  std::thread sender([&] {
    if (std::string e = enter_netns(bed.prefix + "-tx"); !e.empty()) {
      tx_error = e;
      return;
    }
    auto eal = DpdkEal::init(
        "--no-huge -m 256 --no-pci --no-shconf --log-level=error --no-telemetry "
        "--vdev=net_af_packet0,iface=v0");
    if (!eal) {
      skip = eal.error();
      return;
    }
    auto port = DpdkPort::open(*eal, {.device = "net_af_packet0", .mbufs = 2047});
    if (!port) {
      tx_error = port.error();
      return;
    }
    // No source address given: it comes from the kernel interface behind the port (v0).
    auto tx = DpdkTx::open(*port, {.group = kGroup, .port = kPort});
    if (!tx) {
      tx_error = tx.error();
      return;
    }
    std::vector<TxFrame> frames;
    for (const auto& d : sent)
      frames.push_back(TxFrame{d.data(), 32, d.data() + 32, 1408, nullptr, 0});
    size_t next = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (next < kFrames && !rx_failed) {
      if (std::chrono::steady_clock::now() > deadline) {
        tx_error = "sending took longer than 20 s";
        return;
      }
      // Keep at most 256 frames ahead of the receiver: veth backlogs are small, and this test
      // is about bytes, not speed.
      if (next >= received + 256) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      const int r = (*tx)->tx_burst(frames.data() + next,
                                    static_cast<int>(std::min<size_t>(32, kFrames - next)));
      if (r < 0) {
        tx_error = std::string("tx_burst: ") + std::strerror(-r);
        return;
      }
      next += static_cast<size_t>(r);
    }
    std::fprintf(stderr, "[dpdk_netns_test] sent %zu frames from %s via %s\n", next,
                 mac_to_string((*port)->mac()).c_str(), (*port)->kernel_iface().c_str());
  });
  sender.join();
  tx_done = true;
  receiver.join();
  if (!skip.empty()) GTEST_SKIP() << "SKIPPED: no DPDK EAL: " << skip;
  ASSERT_EQ(tx_error, "");
  ASSERT_EQ(rx_error, "");
  EXPECT_EQ(received.load(), kFrames);
}

}  // namespace
}  // namespace shoal::engine
