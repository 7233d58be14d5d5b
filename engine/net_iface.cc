#include "engine/net_iface.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "common/fd.h"

namespace shoal::engine {
namespace {

struct IfaddrsDeleter {
  void operator()(ifaddrs* p) const { freeifaddrs(p); }
};
using IfaddrsPtr = std::unique_ptr<ifaddrs, IfaddrsDeleter>;

Result<IfaddrsPtr> list_addresses() {
  ifaddrs* head = nullptr;
  if (getifaddrs(&head) != 0)
    return make_error(std::string("cannot list network interfaces: ") + std::strerror(errno));
  return IfaddrsPtr(head);
}

// Fills mtu and flags with ioctls on a throwaway socket (works for interfaces with no address too).
Status read_link_info(NetIface& iface) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return make_error(std::string("cannot create a UDP socket: ") + std::strerror(errno));
  ifreq req{};
  std::memcpy(req.ifr_name, iface.name.data(), iface.name.size());
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0)
    return make_error("cannot read flags of interface '" + iface.name +
                      "': " + std::strerror(errno));
  const auto flags = static_cast<unsigned>(req.ifr_flags);
  iface.up = (flags & IFF_UP) != 0;
  iface.multicast = (flags & IFF_MULTICAST) != 0;
  iface.loopback = (flags & IFF_LOOPBACK) != 0;
  if (::ioctl(sock.get(), SIOCGIFMTU, &req) != 0)
    return make_error("cannot read the MTU of interface '" + iface.name +
                      "': " + std::strerror(errno));
  iface.mtu = static_cast<uint32_t>(req.ifr_mtu);
  return Status::success();
}

}  // namespace

Result<in_addr> parse_ipv4(std::string_view text) {
  std::string s(text);  // inet_pton needs a terminated string
  in_addr addr{};
  if (s.empty() || ::inet_pton(AF_INET, s.c_str(), &addr) != 1)
    return make_error("'" + s + "' is not an IPv4 address (expected dotted quad like 239.1.2.3)");
  return addr;
}

Result<GroupPort> parse_group_port(std::string_view text, uint16_t default_port) {
  const auto bad = [&](const std::string& why) {
    return make_error("'" + std::string(text) + "' is not GROUP[:PORT] (e.g. 239.1.1.1:" +
                      std::to_string(default_port) + "): " + why);
  };
  const size_t colon = text.rfind(':');
  GroupPort gp;
  gp.port = default_port;
  if (colon != std::string_view::npos) {
    const std::string_view p = text.substr(colon + 1);
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port < 1 || port > 65535)
      return bad("the port must be a number from 1 to 65535");
    gp.port = static_cast<uint16_t>(port);
  }
  auto addr = parse_ipv4(text.substr(0, colon));
  if (!addr) return bad(addr.error());
  gp.group = *addr;
  return gp;
}

bool is_multicast(in_addr addr) {
  return IN_MULTICAST(ntohl(addr.s_addr));
}

std::string ipv4_to_string(in_addr addr) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr, buf, sizeof buf);
  return buf;
}

Result<NetIface> resolve_iface(std::string_view name) {
  const std::string n(name);
  if (n.empty()) return make_error("empty interface name");
  if (n.size() >= IFNAMSIZ)
    return make_error("interface name '" + n + "' is longer than " + std::to_string(IFNAMSIZ - 1) +
                      " characters, so no such interface can exist (see `ip link`)");
  NetIface iface;
  iface.name = n;
  iface.index = ::if_nametoindex(n.c_str());
  if (iface.index == 0) return make_error("no such interface '" + n + "' (see `ip link`)");
  if (Status st = read_link_info(iface); !st) return make_error(st.error());

  auto addrs = list_addresses();
  if (!addrs) return make_error(addrs.error());
  for (const ifaddrs* a = addrs->get(); a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET || n != a->ifa_name) continue;
    sockaddr_in sin{};
    std::memcpy(&sin, a->ifa_addr, sizeof sin);
    iface.ipv4 = sin.sin_addr;
    return iface;
  }
  return make_error("interface '" + n +
                    "' has no IPv4 address (add one with `ip addr add A.B.C.D/N dev " + n +
                    "`, or pick another interface)");
}

Result<NetIface> iface_routing_to(in_addr dst) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return make_error(std::string("cannot create a UDP socket: ") + std::strerror(errno));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);  // discard; connect() on UDP only does the route lookup
  to.sin_addr = dst;
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
    return make_error("no route to " + ipv4_to_string(dst) + ": " + std::strerror(errno) +
                      " (see `ip route get " + ipv4_to_string(dst) +
                      "`; for multicast add e.g. `ip route add 224.0.0.0/4 dev IFACE`)");
  sockaddr_in local{};
  socklen_t len = sizeof local;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0)
    return make_error(std::string("getsockname failed: ") + std::strerror(errno));

  auto addrs = list_addresses();
  if (!addrs) return make_error(addrs.error());
  for (const ifaddrs* a = addrs->get(); a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    sockaddr_in sin{};
    std::memcpy(&sin, a->ifa_addr, sizeof sin);
    if (sin.sin_addr.s_addr == local.sin_addr.s_addr) return resolve_iface(a->ifa_name);
  }
  return make_error("the route to " + ipv4_to_string(dst) + " uses source address " +
                    ipv4_to_string(local.sin_addr) + ", which no interface carries");
}

}  // namespace shoal::engine
