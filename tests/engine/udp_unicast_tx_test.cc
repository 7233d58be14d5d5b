// UdpUnicastTx -> a UDP socket on 127.0.0.1: every frame arrives as one datagram with its bytes,
// whether it rode in a GSO super-datagram (a run of equal sizes) or alone.
#include "engine/udp_unicast_tx.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "common/fd.h"

namespace shoal::engine {
namespace {

TEST(UdpUnicastTx, FramesArriveAsDatagramsInOrder) {
  Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(rx.valid());
  const int buf = 8 << 20;
  (void)::setsockopt(rx.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(rx.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);

  auto tx = UdpUnicastTx::open(addr);
  ASSERT_TRUE(tx.ok()) << tx.error();

  // 40 frames: a run of 30 of 1000 bytes, then 10 of mixed sizes; header = index, payload and
  // tail patterns of the index.
  constexpr int kFrames = 40;
  std::vector<uint32_t> sizes;
  for (int i = 0; i < 30; ++i) sizes.push_back(1000);
  for (int i = 0; i < 10; ++i) sizes.push_back(200 + 37 * uint32_t(i));
  std::vector<std::vector<uint8_t>> heads(kFrames), bodies(kFrames), tails(kFrames);
  std::vector<TxFrame> frames(kFrames);
  for (int i = 0; i < kFrames; ++i) {
    heads[size_t(i)].assign(8, uint8_t(i));
    bodies[size_t(i)].assign(sizes[size_t(i)] - 8 - 4, uint8_t(i * 3 + 1));
    tails[size_t(i)].assign(4, uint8_t(0xf0 | (i & 0xf)));
    frames[size_t(i)] = {heads[size_t(i)].data(),  8,
                         bodies[size_t(i)].data(), static_cast<uint16_t>(bodies[size_t(i)].size()),
                         tails[size_t(i)].data(),  4};
  }
  int sent = 0;
  for (int tries = 0; sent < kFrames && tries < 1000; ++tries) {
    const int r = (*tx)->tx_burst(frames.data() + sent, kFrames - sent);
    ASSERT_GE(r, 0) << std::strerror(-r);
    sent += r;
  }
  ASSERT_EQ(sent, kFrames);

  for (int i = 0; i < kFrames; ++i) {
    pollfd p{rx.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "datagram " << i << " did not arrive";
    uint8_t got[2048];
    const ssize_t n = ::recv(rx.get(), got, sizeof got, 0);
    ASSERT_EQ(n, ssize_t(sizes[size_t(i)])) << "datagram " << i;
    std::vector<uint8_t> want = heads[size_t(i)];
    want.insert(want.end(), bodies[size_t(i)].begin(), bodies[size_t(i)].end());
    want.insert(want.end(), tails[size_t(i)].begin(), tails[size_t(i)].end());
    EXPECT_EQ(std::memcmp(got, want.data(), want.size()), 0) << "datagram " << i;
  }
}

TEST(UdpUnicastTx, TakesAtMostOneBurst) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(9);  // discard: nobody needs to listen for a connected UDP send
  auto tx = UdpUnicastTx::open(addr);
  ASSERT_TRUE(tx.ok()) << tx.error();
  std::vector<uint8_t> b(100, 1);
  std::vector<TxFrame> frames(UdpUnicastTx::kMaxBurst + 10,
                              TxFrame{b.data(), 100, nullptr, 0, nullptr, 0});
  const int r = (*tx)->tx_burst(frames.data(), int(frames.size()));
  // Loopback without a listener may answer a later send with ECONNREFUSED; this first one goes.
  EXPECT_EQ(r, UdpUnicastTx::kMaxBurst);
}

}  // namespace
}  // namespace shoal::engine
