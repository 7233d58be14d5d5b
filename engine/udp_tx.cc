#include "engine/udp_tx.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shoal::engine {
namespace {

constexpr uint32_t kMaxUdpPayload =
    65535 - 20 - 8;                   // IPv4 total length limit minus IP and UDP headers
constexpr int kMaxGsoSegments = 64;   // kernel UDP_MAX_SEGMENTS on older kernels
constexpr int kMaxBurstLimit = 1024;  // sendmmsg takes at most UIO_MAXIOV messages
constexpr uint32_t kIpUdpHeaders = 20 + 8;

std::string errno_text(int err) {
  return std::strerror(err);
}

Status set_int_option(int fd, int level, int option, int value, const char* what) {
  if (::setsockopt(fd, level, option, &value, sizeof value) != 0)
    return make_error(std::string("cannot set ") + what + ": " + errno_text(errno));
  return Status::success();
}

}  // namespace

Result<std::unique_ptr<UdpTx>> UdpTx::open(const UdpTxOptions& options) {
  auto group = parse_ipv4(options.group);
  if (!group) return make_error("multicast group: " + group.error());
  if (!is_multicast(*group))
    return make_error("'" + options.group + "' is not an IPv4 multicast address (224.0.0.0/4)");
  if (options.port == 0) return make_error("destination port 0 is not usable; pick 1..65535");
  if (options.ttl < 0 || options.ttl > 255)
    return make_error("multicast TTL " + std::to_string(options.ttl) + " is outside 0..255");
  if (options.max_burst < 1 || options.max_burst > kMaxBurstLimit)
    return make_error("max_burst " + std::to_string(options.max_burst) + " is outside 1.." +
                      std::to_string(kMaxBurstLimit));

  auto iface = options.iface.empty() ? iface_routing_to(*group) : resolve_iface(options.iface);
  if (!iface) return make_error(iface.error());
  if (!iface->up)
    return make_error("interface '" + iface->name + "' is down (`ip link set " + iface->name +
                      " up`)");
  if (!iface->multicast)
    return make_error("interface '" + iface->name + "' has multicast switched off (`ip link set " +
                      iface->name + " multicast on`)");

  std::unique_ptr<UdpTx> tx(new UdpTx());
  tx->iface_ = *iface;
  tx->fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = tx->fd_.get();
  if (fd < 0) return make_error("cannot create a UDP socket: " + errno_text(errno));

  ip_mreqn mif{};
  mif.imr_ifindex = static_cast<int>(iface->index);
  mif.imr_address = iface->ipv4;
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) != 0)
    return make_error("cannot send multicast via '" + iface->name +
                      "' (IP_MULTICAST_IF): " + errno_text(errno));
  if (Status st = set_int_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, options.ttl, "IP_MULTICAST_TTL");
      !st)
    return make_error(st.error());
  if (Status st = set_int_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, options.loopback ? 1 : 0,
                                 "IP_MULTICAST_LOOP");
      !st)
    return make_error(st.error());
  if (options.sndbuf > 0) {
    // FORCE ignores net.core.wmem_max but needs CAP_NET_ADMIN; the plain option is capped silently.
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &options.sndbuf, sizeof options.sndbuf) != 0) {
      if (Status st = set_int_option(fd, SOL_SOCKET, SO_SNDBUF, options.sndbuf, "SO_SNDBUF"); !st)
        return make_error(st.error());
    }
  }

  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(options.port);
  to.sin_addr = *group;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
    return make_error("cannot reach " + options.group + ":" + std::to_string(options.port) +
                      " via '" + iface->name + "': " + errno_text(errno) + " (see `ip route get " +
                      options.group + "`)");

  int mtu = 0;
  socklen_t mtu_len = sizeof mtu;
  if (::getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &mtu_len) != 0 || mtu <= 0)
    mtu = static_cast<int>(iface->mtu);  // fall back to the device MTU
  const uint32_t seg =
      static_cast<uint32_t>(mtu) > kIpUdpHeaders ? static_cast<uint32_t>(mtu) - kIpUdpHeaders : 0;
  tx->max_gso_segment_ = std::min(seg, kMaxUdpPayload);
  tx->path_mtu_ = static_cast<uint32_t>(mtu);

  // Probe: setting the per-socket default segment size to 0 is a no-op where UDP_SEGMENT exists.
  if (!options.gso) {
    spdlog::info("udp tx: UDP GSO switched off by configuration; one datagram per message");
  } else if (int zero = 0; ::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) != 0) {
    spdlog::warn(
        "udp tx: UDP GSO unavailable (setsockopt UDP_SEGMENT: {}; needs Linux >= 4.18); "
        "sending one datagram per message",
        errno_text(errno));
  } else {
    tx->gso_ = true;
  }

  tx->max_burst_ = options.max_burst;
  const auto burst = static_cast<size_t>(options.max_burst);
  tx->msgs_.assign(burst, mmsghdr{});
  tx->iovs_.assign(3 * burst, iovec{});
  tx->cmsgs_.assign(burst, CmsgSpace{});
  tx->msg_frames_.assign(burst, 0);
  tx->msg_bytes_.assign(burst, 0);
  return tx;
}

int UdpTx::build_messages(const TxFrame* frames, int n) {
  int m = 0;
  size_t iov = 0;
  int i = 0;
  auto add_frame = [&](const TxFrame& f) {
    if (f.header_len) iovs_[iov++] = iovec{const_cast<uint8_t*>(f.header), f.header_len};
    if (f.payload_len) iovs_[iov++] = iovec{const_cast<uint8_t*>(f.payload), f.payload_len};
    if (f.tail_len) iovs_[iov++] = iovec{const_cast<uint8_t*>(f.tail), f.tail_len};
  };
  while (i < n) {
    const uint32_t size = frames[i].size();
    if (size > kMaxUdpPayload) break;  // not a UDP datagram; the caller learns from the count
    const size_t first_iov = iov;
    int count = 0;
    uint32_t bytes = 0;
    const bool can_gso = gso_ && size > 0 && size <= max_gso_segment_;
    do {
      add_frame(frames[i]);
      bytes += size;
      ++count;
      ++i;
    } while (can_gso && i < n && count < kMaxGsoSegments && frames[i].size() == size &&
             bytes + size <= kMaxUdpPayload);
    // GSO allows a shorter last segment: a block's short tail frame can ride along.
    if (can_gso && i < n && count < kMaxGsoSegments) {
      const uint32_t last = frames[i].size();
      if (last > 0 && last < size && bytes + last <= kMaxUdpPayload) {
        add_frame(frames[i]);
        bytes += last;
        ++count;
        ++i;
      }
    }

    msghdr& h = msgs_[static_cast<size_t>(m)].msg_hdr;
    h = msghdr{};
    h.msg_iov = &iovs_[first_iov];
    h.msg_iovlen = iov - first_iov;
    if (count > 1) {
      CmsgSpace& space = cmsgs_[static_cast<size_t>(m)];
      h.msg_control = space.bytes;
      h.msg_controllen = sizeof space.bytes;
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto gso_size = static_cast<uint16_t>(size);
      std::memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
    }
    msg_frames_[static_cast<size_t>(m)] = count;
    msg_bytes_[static_cast<size_t>(m)] = bytes;
    ++m;
  }
  return m;
}

int UdpTx::tx_burst(const TxFrame* frames, int n) {
  if (n <= 0) return 0;
  n = std::min(n, max_burst_);
  int taken = 0;
  while (taken < n) {
    const int nmsg = build_messages(frames + taken, n - taken);
    if (nmsg == 0) return taken > 0 ? taken : -EMSGSIZE;  // frames[taken] is too large
    ++stats_.syscalls;
    const int sent = ::sendmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(nmsg), MSG_DONTWAIT);
    if (sent < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        ++stats_.would_block;
        return taken;
      }
      // Only a send reveals some GSO limits (e.g. EIO from a device without checksum offload).
      if (gso_ && msg_frames_[0] > 1 && (err == EIO || err == EINVAL)) {
        gso_ = false;
        spdlog::warn(
            "udp tx: UDP GSO send failed on '{}' ({}); falling back to one datagram per message",
            iface_.name, errno_text(err));
        continue;
      }
      return taken > 0 ? taken : -err;
    }
    for (int m = 0; m < sent; ++m) {
      taken += msg_frames_[static_cast<size_t>(m)];
      stats_.frames += static_cast<uint64_t>(msg_frames_[static_cast<size_t>(m)]);
      stats_.bytes += msg_bytes_[static_cast<size_t>(m)];
    }
    stats_.messages += static_cast<uint64_t>(sent);
    // A partial send stopped at message `sent`; the next loop round retries it and surfaces its
    // error.
  }
  return taken;
}

}  // namespace shoal::engine
