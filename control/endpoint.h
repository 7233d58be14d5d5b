// IPv4 endpoints for the control plane: parsing, printing, and the receiver's connect.
#pragma once

#include <netinet/in.h>

#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace shoal::control {

// "198.18.0.1:9100" -> sockaddr_in. Port 0 is accepted (listen on an ephemeral port).
Result<sockaddr_in> parse_endpoint(std::string_view text);

// Like parse_endpoint, but the host part may also be a name, resolved to its first IPv4 address
// (blocking getaddrinfo; for the receiver's --sender option).
Result<sockaddr_in> resolve_endpoint(std::string_view text);

// "a.b.c.d:port".
std::string format_endpoint(const sockaddr_in& addr);

// Connects with a timeout and returns the socket non-blocking, with TCP_NODELAY. Errors name the
// endpoint and suggest what to check.
Result<Fd> connect_to(const sockaddr_in& addr, int timeout_ms);
Result<Fd> connect_to(std::string_view host_port, int timeout_ms);

}  // namespace shoal::control
