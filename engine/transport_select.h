// Chooses the sender's data-plane transport: DPDK poll mode or kernel UDP sockets. Both put the
// same bytes on the wire, so receivers neither know nor care.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "engine/transport.h"

namespace shoal::engine {

// What the user chose for the data plane (--transport, --dpdk, --dpdk-port); every command that
// opens a transport holds one of these.
struct TransportChoice {
  std::string mode = "auto";  // auto | dpdk | socket
  std::string dpdk_args;      // EAL arguments, e.g. "--no-huge -m 512 --no-pci
                              // --vdev=net_af_packet0,iface=eth0"
  std::string dpdk_device;    // ethdev name ("" = the only port)
};

struct TransportOptions {
  TransportChoice choice;
  std::string group;
  uint16_t port = 0;
  std::string iface;
  int ttl = 1;
  bool loopback = false;
};

struct OpenTransport {
  std::unique_ptr<TxBackend> tx;
  std::string why;             // one line: which transport and why
  uint32_t mtu = 0;            // IPv4 MTU frames must fit (engine/frame_fit.h); 0: unknown
  std::string mtu_of;          // where that MTU comes from, for messages ("eth0", "DPDK port 0")
  std::shared_ptr<void> keep;  // EAL and port, kept alive as long as the backend
};

// auto: DPDK when this build has it and EAL arguments name a usable port, otherwise kernel sockets.
// dpdk: DPDK or an error that says why. socket: kernel sockets.
Result<OpenTransport> open_transport(const TransportOptions& options);

struct OpenRxTransport {
  std::unique_ptr<RxBackend> rx;
  std::string why;
  std::shared_ptr<void>
      keep;  // EAL, port and (for DPDK) the kernel socket that holds the IGMP join
};

// The receiver's side: kernel UDP socket (UDP GRO), or DPDK poll mode (auto/dpdk as for the
// sender). A DPDK receiver also joins the group through a kernel socket on `iface`, so IGMP
// snooping switches forward the group to it; that socket never receives data.
struct RxTransportOptions {
  TransportChoice choice;
  std::string group;
  uint16_t port = 0;
  std::string iface;
  int rcvbuf = 64 << 20;
};
Result<OpenRxTransport> open_rx_transport(const RxTransportOptions& options);

}  // namespace shoal::engine
