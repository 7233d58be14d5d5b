#include "control/endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace shoal::control {
namespace {

constexpr const char* kEndpointHint = "expected IPv4 address and port, e.g. 198.18.0.1:9100";

// Splits "host:port"; the port must be a decimal number 0..65535.
Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error("bad endpoint '" + std::string(text) + "': " + kEndpointHint);
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return make_error("bad endpoint '" + std::string(text) + "': port '" + std::string(port_text) +
                      "' is not a number from 0 to 65535");
  }
  return std::pair<std::string, uint16_t>(std::string(text.substr(0, colon)),
                                          static_cast<uint16_t>(port));
}

}  // namespace

Result<sockaddr_in> parse_endpoint(std::string_view text) {
  auto parts = split_host_port(text);
  if (!parts) return make_error(parts.error());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(parts->second);
  if (::inet_pton(AF_INET, parts->first.c_str(), &addr.sin_addr) != 1) {
    return make_error("bad endpoint '" + std::string(text) + "': '" + parts->first +
                      "' is not an IPv4 address; " + kEndpointHint);
  }
  return addr;
}

Result<sockaddr_in> resolve_endpoint(std::string_view text) {
  auto parsed = parse_endpoint(text);
  if (parsed) return parsed;
  auto parts = split_host_port(text);
  if (!parts) return make_error(parts.error());
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(parts->first.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return make_error("cannot resolve '" + parts->first +
                      "' to an IPv4 address: " + (rc != 0 ? ::gai_strerror(rc) : "no address"));
  }
  sockaddr_in addr{};
  std::memcpy(&addr, found->ai_addr, sizeof addr);
  ::freeaddrinfo(found);
  addr.sin_port = htons(parts->second);
  return addr;
}

std::string format_endpoint(const sockaddr_in& addr) {
  char ip[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
}

Result<Fd> connect_to(const sockaddr_in& addr, int timeout_ms) {
  const std::string where = format_endpoint(addr);
  if (addr.sin_port == 0) return make_error("cannot connect to " + where + ": port 0");
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(std::string("cannot create a TCP socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  auto failed = [&](int err) {
    std::string msg = "cannot connect to " + where + ": " + std::strerror(err);
    if (err == ECONNREFUSED) msg += " (is the sender running and listening there?)";
    if (err == ENETUNREACH || err == EHOSTUNREACH) msg += " (check the address and the route)";
    return make_error(msg);
  };
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (errno != EINPROGRESS) return failed(errno);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLOUT, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed(errno);
    if (n == 0) {
      return make_error("timed out after " + std::to_string(timeout_ms) + " ms connecting to " +
                        where + " (check the address, the route and any firewall)");
    }
    break;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return failed(errno);
  if (err != 0) return failed(err);
  return fd;
}

Result<Fd> connect_to(std::string_view host_port, int timeout_ms) {
  auto addr = resolve_endpoint(host_port);
  if (!addr) return make_error(addr.error());
  return connect_to(*addr, timeout_ms);
}

}  // namespace shoal::control
