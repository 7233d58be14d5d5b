// --transport / --dpdk / --dpdk-port, shared by send and recv.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "engine/transport_select.h"

namespace shoal::cli {

inline void add_transport_options(CLI::App* sub, engine::TransportChoice& choice) {
  sub->add_option("--transport", choice.mode,
                  "data plane: auto (DPDK when built with it and --dpdk names a usable port, else "
                  "kernel sockets), dpdk, socket")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "dpdk", "socket"}));
  sub->add_option("--dpdk", choice.dpdk_args,
                  "DPDK EAL arguments, e.g. \"-l 0 --no-huge -m 512 --no-pci "
                  "--vdev=net_af_packet0,iface=eth0\"");
  sub->add_option("--dpdk-port", choice.dpdk_device,
                  "DPDK port (ethdev name) when the EAL has several");
}

}  // namespace shoal::cli
