// Network interface lookup for the kernel-socket transport: name -> index, IPv4 address, MTU,
// flags, and "which interface would the kernel use to reach this address". Setup-time only
// (allocates, may make a few syscalls); errors are sentences a person can act on. Answers are for
// the calling thread's network namespace.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shoal::engine {

struct NetIface {
  std::string name;
  unsigned index = 0;  // ifindex, as used by ip_mreqn / IP_MULTICAST_IF
  in_addr ipv4{};      // first IPv4 address of the interface (network byte order)
  uint32_t mtu = 0;
  bool up = false;         // IFF_UP
  bool multicast = false;  // IFF_MULTICAST
  bool loopback = false;   // IFF_LOOPBACK
};

// Parses dotted-quad IPv4 text ("239.1.2.3"). Error names the bad text.
Result<in_addr> parse_ipv4(std::string_view text);

// A group and port as the command line and config files write them.
struct GroupPort {
  in_addr group{};
  uint16_t port = 0;
};

// "GROUP:PORT" or "GROUP" (then default_port) -> IPv4 address and port 1..65535. Whether the
// address must be multicast is the caller's rule. Errors name the text and the expected form.
Result<GroupPort> parse_group_port(std::string_view text, uint16_t default_port);

// True for 224.0.0.0/4 (network byte order input).
bool is_multicast(in_addr addr);

// "a.b.c.d" for logs and messages.
std::string ipv4_to_string(in_addr addr);

// Looks up an interface by name. Errors: unknown name ("no such interface 'eth9' (see `ip link`)"),
// a name longer than IFNAMSIZ-1, or an interface without an IPv4 address. Does not require the
// interface to be up or multicast-capable: callers that need that check `up` / `multicast`.
Result<NetIface> resolve_iface(std::string_view name);

// The interface the routing table picks to reach `dst` (for a multicast group: the interface its
// route, e.g. 224.0.0.0/4 or the default route, points at). Uses a connected UDP socket, sends
// nothing.
Result<NetIface> iface_routing_to(in_addr dst);

}  // namespace shoal::engine
