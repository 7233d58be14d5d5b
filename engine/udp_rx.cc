#include "engine/udp_rx.h"

#include <netinet/udp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "engine/net_iface.h"

namespace shoal::engine {
namespace {

constexpr uint32_t kSkipMessage = 0xFFFFFFFFu;

std::string errno_text(int err) {
  return std::strerror(err);
}

Status set_int_option(int fd, int level, int option, int value, const char* what) {
  if (::setsockopt(fd, level, option, &value, sizeof value) != 0)
    return make_error(std::string("cannot set ") + what + ": " + errno_text(errno));
  return Status::success();
}

// Many receivers in one process (tests, a multi-session daemon) would repeat the same advice.
std::atomic<bool> g_rcvbuf_warned{false};

}  // namespace

Result<std::unique_ptr<UdpRx>> UdpRx::open(const UdpRxOptions& options) {
  auto group = parse_ipv4(options.group);
  if (!group) return make_error("multicast group: " + group.error());
  if (!is_multicast(*group))
    return make_error("'" + options.group + "' is not an IPv4 multicast address (224.0.0.0/4)");
  if (options.port == 0)
    return make_error("port 0 is not usable for a multicast receiver; pick 1..65535");
  if (options.buffers < 1 || options.buffers > 1024)
    return make_error("receive buffers " + std::to_string(options.buffers) + " is outside 1..1024");
  if (options.buffer_size < 2048 || options.buffer_size > 65536)
    return make_error("receive buffer size " + std::to_string(options.buffer_size) +
                      " is outside 2048..65536 bytes");

  std::unique_ptr<UdpRx> rx(new UdpRx());
  if (!options.iface.empty()) {
    auto iface = resolve_iface(options.iface);
    if (!iface) return make_error(iface.error());
    if (!iface->up)
      return make_error("interface '" + iface->name + "' is down (`ip link set " + iface->name +
                        " up`)");
    if (!iface->multicast)
      return make_error("interface '" + iface->name +
                        "' has multicast switched off (`ip link set " + iface->name +
                        " multicast on`)");
    rx->membership_.imr_ifindex = static_cast<int>(iface->index);
  }
  rx->membership_.imr_multiaddr = *group;
  const std::string where =
      options.iface.empty() ? "the routed interface" : "'" + options.iface + "'";

  rx->fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = rx->fd_.get();
  if (fd < 0) return make_error("cannot create a UDP socket: " + errno_text(errno));
  if (Status st = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"); !st)
    return make_error(st.error());

  if (options.rcvbuf > 0) {
    // FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; the plain option is capped silently.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &options.rcvbuf, sizeof options.rcvbuf) != 0) {
      if (Status st = set_int_option(fd, SOL_SOCKET, SO_RCVBUF, options.rcvbuf, "SO_RCVBUF"); !st)
        return make_error(st.error());
    }
  }
  socklen_t len = sizeof rx->rcvbuf_;
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rx->rcvbuf_, &len) != 0) rx->rcvbuf_ = 0;
  // The kernel reports twice the granted size (bookkeeping overhead); less than that means capped.
  if (options.rcvbuf > 0 && rx->rcvbuf_ / 2 < options.rcvbuf && !g_rcvbuf_warned.exchange(true)) {
    spdlog::warn(
        "udp rx: receive buffer capped at {} KiB (asked {} KiB) by net.core.rmem_max; "
        "run as root or raise it (`sysctl -w net.core.rmem_max={}`) to ride out bursts",
        rx->rcvbuf_ / 2 / 1024, options.rcvbuf / 1024, options.rcvbuf);
  }

  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(options.port);
  local.sin_addr = *group;  // bound to the group: other groups on this port are not delivered here
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
    return make_error("cannot bind " + options.group + ":" + std::to_string(options.port) + ": " +
                      errno_text(errno));
  // Only the groups this socket joined, even if another socket on the host joins more.
  if (Status st = set_int_option(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL"); !st)
    return make_error(st.error());
  if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &rx->membership_, sizeof rx->membership_) !=
      0) {
    const int err = errno;
    std::string hint = err == ENODEV
                           ? " (no interface routes to the group: name one, or add a route "
                             "like `ip route add 224.0.0.0/4 dev IFACE`)"
                           : "";
    return make_error("cannot join " + options.group + " on " + where + ": " + errno_text(err) +
                      hint);
  }
  rx->joined_ = true;

  if (!options.gro) {
    spdlog::info("udp rx: UDP GRO switched off by configuration");
  } else if (int on = 1; ::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
    spdlog::warn(
        "udp rx: UDP GRO unavailable (setsockopt UDP_GRO: {}; needs Linux >= 5.0); "
        "receiving one datagram per buffer",
        errno_text(errno));
  } else {
    rx->gro_ = true;
  }
  if (Status st = set_int_option(fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL"); !st)
    spdlog::warn("udp rx: {}; kernel drop counts will read 0", st.error());

  const auto nbuf = static_cast<size_t>(options.buffers);
  rx->buffer_size_ = static_cast<size_t>(options.buffer_size);
  // Not zero-filled: touching 4 MiB here delays the receiver's Ready; pages fault in as used.
  rx->data_ = std::make_unique_for_overwrite<uint8_t[]>(nbuf * rx->buffer_size_);
  rx->msgs_.assign(nbuf, mmsghdr{});
  rx->iovs_.assign(nbuf, iovec{});
  rx->cmsgs_.assign(nbuf, CmsgSpace{});
  rx->seg_size_.assign(nbuf, 0);
  for (size_t i = 0; i < nbuf; ++i)
    rx->iovs_[i] = iovec{rx->data_.get() + i * rx->buffer_size_, rx->buffer_size_};
  return rx;
}

UdpRx::~UdpRx() {
  if (joined_ && fd_)
    ::setsockopt(fd_.get(), IPPROTO_IP, IP_DROP_MEMBERSHIP, &membership_, sizeof membership_);
}

int UdpRx::drain_pending(RxFrame* out, int n) {
  int k = 0;
  while (k < n && cur_msg_ < pending_msgs_) {
    const auto m = static_cast<size_t>(cur_msg_);
    const uint32_t len = msgs_[m].msg_len;
    const uint32_t seg = seg_size_[m];
    if (seg == kSkipMessage) {
      ++cur_msg_;
      continue;
    }
    const uint32_t take = len == 0 ? 0 : std::min(seg, len - cur_off_);
    out[k++] = RxFrame{data_.get() + m * buffer_size_ + cur_off_, static_cast<uint16_t>(take)};
    stats_.bytes += take;
    cur_off_ += take;
    if (cur_off_ >= len) {
      ++cur_msg_;
      cur_off_ = 0;
    }
  }
  stats_.datagrams += static_cast<uint64_t>(k);
  return k;
}

int UdpRx::rx_burst(RxFrame* out, int n) {
  if (n <= 0) return 0;
  // Buffers behind frames still to hand out must not be overwritten: finish the last read first.
  if (cur_msg_ < pending_msgs_) return drain_pending(out, n);

  const size_t want = std::min(static_cast<size_t>(n), msgs_.size());
  for (size_t i = 0; i < want; ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    h.msg_control = cmsgs_[i].bytes;
    h.msg_controllen = sizeof cmsgs_[i].bytes;
  }
  int got;
  do {
    ++stats_.syscalls;
    got = ::recvmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;

  for (size_t i = 0; i < static_cast<size_t>(got); ++i) {
    msghdr& h = msgs_[i].msg_hdr;
    uint32_t seg = msgs_[i].msg_len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int gso_size = 0;
        std::memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
        if (gso_size > 0) seg = static_cast<uint32_t>(gso_size);
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t drops = 0;
        std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
        stats_.kernel_drops = drops;  // cumulative for the socket's lifetime
      }
    }
    if (h.msg_flags & MSG_TRUNC) {
      ++stats_.truncated;
      seg = kSkipMessage;
    }
    seg_size_[i] = seg;
  }
  stats_.messages += static_cast<uint64_t>(got);
  pending_msgs_ = got;
  cur_msg_ = 0;
  cur_off_ = 0;
  return drain_pending(out, n);
}

int receive_buffer_for_rate(uint64_t rate_bps, int floor_bytes, uint64_t ram_bytes) {
  const uint64_t floor = floor_bytes > 0 ? static_cast<uint64_t>(floor_bytes) : 0;
  // In doubles: rate x time overflows 64 bits above ~740 Gbit/s.
  const double want =
      static_cast<double>(rate_bps) / 8 * static_cast<double>(kReceiveBufferCoverNs) / 1e9;
  const uint64_t cap = std::min<uint64_t>(uint64_t{512} << 20, ram_bytes / 16);
  const uint64_t sized = want >= static_cast<double>(cap) ? cap : static_cast<uint64_t>(want);
  return static_cast<int>(std::max(floor, sized));
}

}  // namespace shoal::engine
