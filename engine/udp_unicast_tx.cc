#include "engine/udp_unicast_tx.h"

#include <arpa/inet.h>
#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace shoal::engine {

namespace {
std::string endpoint_text(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}
}  // namespace

Result<std::unique_ptr<UdpUnicastTx>> UdpUnicastTx::open(const sockaddr_in& to) {
  std::unique_ptr<UdpUnicastTx> t(new UdpUnicastTx());
  t->fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!t->fd_) return make_error(std::string("cannot open a UDP socket: ") + strerror(errno));
  const int buf = 4 << 20;
  if (::setsockopt(t->fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    (void)::setsockopt(t->fd_.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (::connect(t->fd_.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
    return make_error("cannot reach " + endpoint_text(to) + ": " + strerror(errno));
  int zero = 0;
  t->gso_ = ::setsockopt(t->fd_.get(), SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  return t;
}

int UdpUnicastTx::tx_burst(const TxFrame* frames, int n) {
  n = std::min(n, kMaxBurst);
  int m = 0, f = 0, v = 0;
  std::memset(msgs_, 0, sizeof msgs_);
  while (f < n) {
    // One message: a run of equal-sized frames within the GSO limits, or a single frame.
    const uint32_t size = frames[f].size();
    int count = 1;
    if (gso_) {
      while (f + count < n && frames[f + count].size() == size && count < kMaxSegments &&
             uint64_t(count + 1) * size <= kMaxUdpPayload)
        ++count;
    }
    iovec* first = &iov_[v];
    for (int i = f; i < f + count; ++i) {
      if (frames[i].header_len)
        iov_[v++] = {const_cast<uint8_t*>(frames[i].header), frames[i].header_len};
      if (frames[i].payload_len)
        iov_[v++] = {const_cast<uint8_t*>(frames[i].payload), frames[i].payload_len};
      if (frames[i].tail_len)
        iov_[v++] = {const_cast<uint8_t*>(frames[i].tail), frames[i].tail_len};
    }
    msghdr& h = msgs_[m].msg_hdr;
    h.msg_iov = first;
    h.msg_iovlen = static_cast<size_t>(&iov_[v] - first);
    if (count > 1) {
      h.msg_control = cmsg_[m].b;
      h.msg_controllen = sizeof cmsg_[m].b;
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto seg = static_cast<uint16_t>(size);
      std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
    frames_in_[m++] = count;
    f += count;
  }
  const int r = ::sendmmsg(fd_.get(), msgs_, static_cast<unsigned>(m), MSG_DONTWAIT);
  if (r < 0) {
    if ((errno == EIO || errno == EINVAL) && gso_) {
      gso_ = false;  // the device cannot segment after all: one datagram per message
      return 0;
    }
    return -errno;
  }
  int taken = 0;
  for (int i = 0; i < r; ++i) taken += frames_in_[i];
  return taken;
}

}  // namespace shoal::engine
