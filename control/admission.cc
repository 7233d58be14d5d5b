#include "control/admission.h"

#include <arpa/inet.h>
#include <fnmatch.h>

#include "control/connection.h"
#include "control/tls.h"

namespace shoal::control {

Result<Admission::Cidr> Admission::parse_cidr(const std::string& text) {
  const auto slash = text.find('/');
  in_addr ip{};
  const bool ip_ok = inet_pton(AF_INET, text.substr(0, slash).c_str(), &ip) == 1;
  int len = 32;
  if (slash != std::string::npos) {
    try {
      size_t used = 0;
      len = std::stoi(text.substr(slash + 1), &used);
      if (used != text.size() - slash - 1) len = -1;
    } catch (...) {
      len = -1;
    }
  }
  if (!ip_ok || len < 0 || len > 32) {
    return make_error("--allow '" + text +
                      "': expected an IPv4 address or CIDR block, e.g. 198.18.0.10 or "
                      "198.18.0.0/24, or cn:PATTERN for a certificate name");
  }
  Cidr c;
  c.mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  c.net = ntohl(ip.s_addr) & c.mask;
  return c;
}

Result<Admission> Admission::create(const AdmissionOptions& options, bool tls) {
  Admission a;
  a.options_ = options;
  for (const std::string& entry : options.allow) {
    if (entry.rfind("cn:", 0) == 0) {
      if (!tls) {
        return make_error("--allow " + entry +
                          ": certificate names need TLS (--tls-cert/--tls-key/--tls-ca)");
      }
      if (entry.size() == 3) return make_error("--allow cn: needs a name or pattern after cn:");
      a.names_.push_back(entry.substr(3));
      continue;
    }
    auto c = parse_cidr(entry);
    if (!c) return make_error(c.error());
    a.cidrs_.push_back(*c);
  }
  if (options.max_receivers == 0) return make_error("--max-receivers must be at least 1");
  return a;
}

bool Admission::address_allowed(const sockaddr_in& from) const {
  if (cidrs_.empty()) return true;
  const uint32_t a = ntohl(from.sin_addr.s_addr);
  for (const Cidr& c : cidrs_) {
    if ((a & c.mask) == c.net) return true;
  }
  return false;
}

std::optional<std::string> Admission::identity_refused(const Connection& conn) const {
  if (names_.empty()) return std::nullopt;
  const std::string cn = conn.tls() ? conn.tls()->peer_common_name() : "";
  for (const std::string& pattern : names_) {
    if (fnmatch(pattern.c_str(), cn.c_str(), 0) == 0) return std::nullopt;
  }
  return "certificate CN '" + cn + "' is not in --allow";
}

}  // namespace shoal::control
