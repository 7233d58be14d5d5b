// --allow / --handshake-timeout / --max-receivers, shared by send and probe (control/admission.h).
#pragma once

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <string>

#include "common/units.h"
#include "control/admission.h"

namespace shoal::cli {

struct AdmissionArgs {
  std::string handshake_timeout = "5s";
};

inline void add_admission_options(CLI::App* sub, control::AdmissionOptions& o, AdmissionArgs& a) {
  sub->add_option("--allow", o.allow,
                  "only these receivers may join: IPv4 addresses or CIDR blocks, and/or "
                  "cn:PATTERN for the TLS certificate's subject CN (glob); repeat or "
                  "comma-separate; default: any")
      ->delimiter(',');
  sub->add_option("--handshake-timeout", a.handshake_timeout,
                  "drop a connection that has not completed its join after this long")
      ->capture_default_str();
  sub->add_option("--max-receivers", o.max_receivers,
                  "control connections accepted at once (joined or joining); more are closed")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
}

// The parts CLI11 cannot check itself; false (after logging why) on bad input.
inline bool resolve_admission(const AdmissionArgs& a, control::AdmissionOptions& o) {
  auto hs = parse_duration_ns(a.handshake_timeout);
  if (!hs) {
    spdlog::error("--handshake-timeout: {}", hs.error());
    return false;
  }
  o.handshake_timeout_ns = *hs;
  return true;
}

}  // namespace shoal::cli
