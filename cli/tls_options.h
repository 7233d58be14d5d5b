// --tls-cert / --tls-key / --tls-ca, shared by send and recv.
#pragma once

#include <CLI/CLI.hpp>

#include "control/tls.h"

namespace shoal::cli {

inline void add_tls_options(CLI::App* sub, control::TlsFiles& tls) {
  sub->add_option("--tls-cert", tls.cert,
                  "TLS 1.3 on the control connection: this node's certificate (PEM; "
                  "scripts/tls-certs.sh makes a CA and certificates)");
  sub->add_option("--tls-key", tls.key, "TLS: this node's private key (PEM)");
  sub->add_option("--tls-ca", tls.ca, "TLS: the CA that signed the other end's certificate (PEM)");
}

}  // namespace shoal::cli
