#include "engine/transport_select.h"

#include <utility>

#include "engine/frame_fit.h"
#include "engine/udp_rx.h"
#include "engine/udp_tx.h"
#ifdef SHOAL_HAVE_DPDK
#include "engine/dpdk_eal.h"
#include "engine/dpdk_port.h"
#include "engine/dpdk_rx.h"
#include "engine/dpdk_tx.h"
#endif

namespace shoal::engine {

namespace {

Result<OpenTransport> open_socket(const TransportOptions& o, std::string why) {
  engine::UdpTxOptions to;
  to.group = o.group;
  to.port = o.port;
  to.iface = o.iface;
  to.ttl = o.ttl;
  to.loopback = o.loopback;
  auto tx = engine::UdpTx::open(to);
  if (!tx) return make_error(tx.error());
  OpenTransport t;
  why += (*tx)->gso_enabled() ? " (UDP GSO)" : " (no UDP GSO: one datagram per message)";
  t.why = std::move(why);
  t.mtu = (*tx)->path_mtu();
  t.mtu_of = "interface " + (*tx)->iface().name + " (the route to " + o.group + ")";
  t.tx = std::move(*tx);
  return t;
}

#ifdef SHOAL_HAVE_DPDK
using EalAndPort = std::pair<std::shared_ptr<engine::DpdkEal>, std::shared_ptr<engine::DpdkPort>>;

Result<EalAndPort> open_port(const std::string& args, const std::string& device) {
  auto eal = engine::DpdkEal::init(args);
  if (!eal) return make_error("DPDK EAL set-up failed: " + eal.error());
  engine::DpdkPortOptions po;
  po.device = device;
  auto port = engine::DpdkPort::open(*eal, po);
  if (!port) return make_error("DPDK port: " + port.error());
  return EalAndPort{*eal, *port};
}

std::string describe(const engine::DpdkPort& port) {
  return "DPDK poll mode on port " + port.name() + " (" + port.driver() + ")";
}

// Source symbols go by reference from the mapped object where the port chains mbufs and reads
// them in software (virtual devices: af_packet and af_xdp copy into the kernel's ring, null and
// ring hand the mbuf over). A PCI NIC would DMA from memory that is not registered with it
// (rte_extmem_register), so it gets copies.
bool zero_copy_safe(const engine::DpdkPort& port) {
  const std::string& d = port.driver();
  return port.tx_chains() &&
         (d == "net_af_packet" || d == "net_af_xdp" || d == "net_null" || d == "net_ring");
}

Result<OpenTransport> open_dpdk(const TransportOptions& o) {
  auto ep = open_port(o.choice.dpdk_args, o.choice.dpdk_device);
  if (!ep) return make_error(ep.error());
  auto& port = ep->second;
  engine::DpdkTxOptions to;
  to.group = o.group;
  to.port = o.port;
  to.ttl = o.ttl;
  to.iface = o.iface;
  to.zero_copy = zero_copy_safe(*port);
  auto tx = engine::DpdkTx::open(port, to);
  if (!tx) return make_error("DPDK transmit queue: " + tx.error());
  OpenTransport t;
  t.why = describe(*port) + (to.zero_copy ? ", source symbols by reference (zero copy)" : "");
  t.mtu = (*tx)->max_frame() + kIpv4UdpHeaderBytes;
  t.mtu_of = "DPDK port " + port->name();
  t.keep = std::make_shared<EalAndPort>(*ep);
  t.tx = std::move(*tx);
  return t;
}
#endif

}  // namespace

namespace {

Result<OpenRxTransport> open_rx_socket(const RxTransportOptions& o, std::string why) {
  engine::UdpRxOptions ro;
  ro.group = o.group;
  ro.port = o.port;
  ro.iface = o.iface;
  ro.rcvbuf = o.rcvbuf;
  auto rx = engine::UdpRx::open(ro);
  if (!rx) return make_error(rx.error());
  OpenRxTransport t;
  t.why = why + ((*rx)->gro_enabled() ? " (UDP GRO)" : " (no UDP GRO)");
  t.rx = std::move(*rx);
  return t;
}

#ifdef SHOAL_HAVE_DPDK
Result<OpenRxTransport> open_rx_dpdk(const RxTransportOptions& o) {
  auto ep = open_port(o.choice.dpdk_args, o.choice.dpdk_device);
  if (!ep) return make_error(ep.error());
  auto& port = ep->second;
  engine::DpdkRxOptions ro;
  ro.group = o.group;
  ro.port = o.port;
  auto rx = engine::DpdkRx::open(port, ro);
  if (!rx) return make_error("DPDK receive queue: " + rx.error());
  // The IGMP join: a kernel socket on another port joins the group and never sees the data.
  engine::UdpRxOptions jo;
  jo.group = o.group;
  jo.port = static_cast<uint16_t>(o.port == 65535 ? 65534 : o.port + 1);
  jo.iface = o.iface.empty() ? port->kernel_iface() : o.iface;
  jo.rcvbuf = 0;
  jo.buffers = 1;
  jo.buffer_size = 2048;
  std::shared_ptr<engine::UdpRx> join;
  if (!jo.iface.empty()) {
    auto j = engine::UdpRx::open(jo);
    if (!j) return make_error("cannot join the group on " + jo.iface + " for IGMP: " + j.error());
    join = std::move(*j);
  }
  OpenRxTransport t;
  t.why = describe(*port);
  t.keep = std::make_shared<std::pair<EalAndPort, std::shared_ptr<engine::UdpRx>>>(*ep, join);
  t.rx = std::move(*rx);
  return t;
}
#endif

}  // namespace

namespace {

// What a choice leads to before DPDK is tried: kernel sockets (and why), DPDK, or an error.
struct Decision {
  bool try_dpdk = false;
  std::string socket_why;
};

Result<Decision> decide(const TransportChoice& c, bool loopback) {
  if (c.mode == "socket") return Decision{false, "kernel sockets (--transport socket)"};
  if (c.mode != "dpdk" && c.mode != "auto") {
    return make_error("bad --transport '" + c.mode + "': use auto, dpdk or socket");
  }
#ifdef SHOAL_HAVE_DPDK
  if (c.mode == "dpdk" && c.dpdk_args.empty()) {
    return make_error(
        "--transport dpdk needs EAL arguments: --dpdk \"-l 0 --vdev=net_af_packet0,iface=eth0 "
        "...\"");
  }
  if (c.dpdk_args.empty()) {
    return Decision{false, "kernel sockets (auto: no --dpdk EAL arguments given)"};
  }
  if (loopback) return Decision{false, "kernel sockets (auto: --loopback needs the kernel path)"};
  return Decision{true, {}};
#else
  (void)loopback;
  if (c.mode == "dpdk") {
    return make_error(
        "this shoal was built without DPDK: install libdpdk-dev and rebuild with -DSHOAL_DPDK=ON, "
        "or use --transport socket");
  }
  return Decision{false, "kernel sockets (auto: built without DPDK)"};
#endif
}

}  // namespace

Result<OpenRxTransport> open_rx_transport(const RxTransportOptions& o) {
  auto d = decide(o.choice, false);
  if (!d) return make_error(d.error());
  if (!d->try_dpdk) return open_rx_socket(o, d->socket_why);
#ifdef SHOAL_HAVE_DPDK
  auto r = open_rx_dpdk(o);
  if (r || o.choice.mode == "dpdk") return r;
  return open_rx_socket(o, "kernel sockets (auto: DPDK not usable: " + r.error() + ")");
#else
  return make_error("unreachable: DPDK chosen in a build without it");
#endif
}

Result<OpenTransport> open_transport(const TransportOptions& o) {
  auto d = decide(o.choice, o.loopback);
  if (!d) return make_error(d.error());
  if (!d->try_dpdk) return open_socket(o, d->socket_why);
#ifdef SHOAL_HAVE_DPDK
  auto r = open_dpdk(o);
  if (r || o.choice.mode == "dpdk") return r;
  return open_socket(o, "kernel sockets (auto: DPDK not usable: " + r.error() + ")");
#else
  return make_error("unreachable: DPDK chosen in a build without it");
#endif
}

}  // namespace shoal::engine
