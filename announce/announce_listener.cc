#include "announce/announce_listener.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/event_log.h"  // session_hex
#include "control/tls.h"
#include "engine/net_iface.h"

namespace shoal::announce {

Result<bool> accept_unsigned_announcements(size_t key_count, bool insecure, bool tls) {
  if (insecure && key_count > 0)
    return make_error("--key-file and --insecure contradict each other: choose one");
  if (insecure && tls)
    return make_error(
        "--insecure and --tls-cert/--tls-key/--tls-ca contradict each other: with certificates and "
        "no --key-file unsigned announcements are already accepted and their sessions joined with "
        "TLS; drop --insecure");
  if (Status a = control::require_authentication(key_count > 0, insecure, tls); !a)
    return make_error(a.error());
  return key_count == 0;  // with a key, signed ones only, also with TLS: a key is never dropped
}

HeardAnnouncement check_announcement(std::span<const uint8_t> datagram, const sockaddr_in& from,
                                     const AnnounceChecks& checks, AnnounceFilter& filter,
                                     uint64_t now_ms) {
  HeardAnnouncement h;
  h.source = engine::ipv4_to_string(from.sin_addr);
  auto v = decode_announcement(datagram, checks.keys, checks.accept_unsigned);
  if (!v) {
    h.kind = HeardAnnouncement::Kind::kRejected;
    h.problem = "ignoring announcements from " + h.source + ": " + v.error();
    return h;
  }
  h.announcement = std::move(v->announcement);
  h.key_index = v->key_index;
  const Announcement& a = h.announcement;
  in_addr ctl{};
  ctl.s_addr = a.control_ipv4 ? htonl(a.control_ipv4) : from.sin_addr.s_addr;
  h.sender = engine::ipv4_to_string(ctl) + ":" + std::to_string(a.control_port);
  switch (filter.check(a.session_id, a.timestamp_ms, now_ms)) {
    case AnnounceFilter::Verdict::kDuplicate:
      h.kind = HeardAnnouncement::Kind::kDuplicate;
      break;
    case AnnounceFilter::Verdict::kStale: {
      h.kind = HeardAnnouncement::Kind::kStale;
      const double skew = (double(a.timestamp_ms) - double(now_ms)) / 1000.0;
      h.problem = "ignoring session " + session_hex(a.session_id) + " from " + h.source +
                  ": its announcement is stale or replayed (sender clock " +
                  std::to_string(static_cast<long long>(skew)) +
                  " s from ours; beyond --max-clock-skew: synchronise the clocks, or set it to 0)";
      break;
    }
    case AnnounceFilter::Verdict::kFresh:
      h.kind = HeardAnnouncement::Kind::kFresh;
      break;
  }
  return h;
}

Result<std::unique_ptr<AnnounceListener>> AnnounceListener::open(const std::string& group_port,
                                                                 const std::string& iface,
                                                                 AnnounceChecks checks) {
  auto group = parse_announce_group(group_port);
  if (!group) return make_error("--announce: " + group.error());
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(std::string("cannot create a UDP socket: ") + strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Bound to the group address: only datagrams sent to the group arrive here.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*group), sizeof *group) != 0)
    return make_error("cannot listen on " + group_port + ": " + strerror(errno));
  ip_mreqn mreq{};
  mreq.imr_multiaddr = group->sin_addr;
  if (!iface.empty()) {
    auto ifc = engine::resolve_iface(iface);
    if (!ifc) return make_error("--iface: " + ifc.error());
    mreq.imr_ifindex = static_cast<int>(ifc->index);
  }
  if (::setsockopt(fd.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
    return make_error("cannot join the announce group " + group_port + ": " + strerror(errno) +
                      " (no multicast route? pass --iface)");
  return std::unique_ptr<AnnounceListener>(new AnnounceListener(std::move(fd), std::move(checks)));
}

void AnnounceListener::drain(const std::function<void(const HeardAnnouncement&)>& on_heard,
                             int max) {
  uint8_t buf[kAnnounceMaxSize + 1];  // one byte more: an over-long datagram is seen as such
  for (int i = 0; i < max; ++i) {
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) return;
    on_heard(check_announcement({buf, size_t(n)}, from, checks_, filter_, wall_clock_ms()));
  }
}

}  // namespace shoal::announce
