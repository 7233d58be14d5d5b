// --group GROUP[:PORT], shared by send and probe: the text into an address and a port.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

#include "engine/net_iface.h"

namespace shoal::cli {

// Sets `group` and `port` (the port keeps its default when the text has none). False, with the
// reason logged, when the text is not GROUP[:PORT].
inline bool take_group(const std::string& text, std::string& group, uint16_t& port) {
  auto gp = engine::parse_group_port(text, port);
  if (!gp) {
    spdlog::error("--group: {}", gp.error());
    return false;
  }
  group = engine::ipv4_to_string(gp->group);
  port = gp->port;
  return true;
}

}  // namespace shoal::cli
