// Who may join a control plane (`shoal send`, `shoal probe`) and what a join may cost: the --allow
// list (IPv4 addresses and CIDR blocks; cn:GLOB certificate names under TLS), the cap on
// connections, the deadline for completing a join and the message size allowed before it. Policy
// only: the caller owns the listener and the connections and asks at each point of a join.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::control {

class Connection;

struct AdmissionOptions {
  // IPv4 addresses / CIDR blocks and "cn:GLOB" TLS identities; empty = anyone with the key.
  std::vector<std::string> allow;
  uint64_t handshake_timeout_ns = 5'000'000'000;  // a peer still joining after this is dropped
  size_t max_receivers = 10000;                   // control connections at once (joining or in)
};

class Admission {
 public:
  // Control messages before a join completes are small (Hello, Auth): a larger one is hostile.
  static constexpr size_t kJoinMessageLimit = 4096;

  // Errors name the bad --allow entry, or a cn: entry without TLS (`tls` = certificates in use).
  static Result<Admission> create(const AdmissionOptions& options, bool tls);

  // Checked on accept, before a byte is read: a host outside --allow learns nothing.
  bool address_allowed(const sockaddr_in& from) const;
  // Checked at the first message (the TLS handshake is complete then): why the peer's certificate
  // name is refused, or nothing when it may go on.
  std::optional<std::string> identity_refused(const Connection& conn) const;
  bool join_expired(uint64_t connected_ns, uint64_t now_ns) const {
    return now_ns - connected_ns > options_.handshake_timeout_ns;
  }
  size_t max_connections() const { return options_.max_receivers; }
  double handshake_timeout_s() const { return double(options_.handshake_timeout_ns) / 1e9; }

 private:
  struct Cidr {
    uint32_t net = 0, mask = 0;  // host order
  };
  static Result<Cidr> parse_cidr(const std::string& text);

  AdmissionOptions options_;
  std::vector<Cidr> cidrs_;
  std::vector<std::string> names_;  // cn: globs
};

}  // namespace shoal::control
