// Shared handling of --key-file / --insecure for send and recv.
#pragma once

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "control/auth.h"
#include "control/tls.h"

namespace shoal::cli {

// Loads the key if a path was given. Returns false (after logging why) when the key is unusable.
// With TLS (certificates authenticate both ends) the pre-shared key is optional.
inline bool load_key(const std::string& path, bool insecure, std::optional<control::Key>& key,
                     bool tls = false) {
  if (path.empty()) {
    Status a = control::require_authentication(false, insecure, tls);
    if (!a) spdlog::error("{}", a.error());
    return a.ok();
  }
  if (insecure) {
    spdlog::error("--key-file and --insecure contradict each other: choose one");
    return false;
  }
  std::string warning;
  auto k = control::load_key_file(path, &warning);
  if (!k) {
    spdlog::error("{}", k.error());
    return false;
  }
  if (!warning.empty()) spdlog::warn("{}", warning);
  key = *k;
  return true;
}

}  // namespace shoal::cli
