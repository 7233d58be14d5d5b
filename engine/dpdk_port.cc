#include "engine/dpdk_port.h"

#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bitset>
#include <cstring>
#include <mutex>
#include <string_view>

#include "engine/net_iface.h"

namespace shoal::engine {
namespace {

constexpr uint16_t kMinMtu = 68;      // IPv4 minimum
constexpr uint16_t kMaxMtu = 9600;    // keeps a frame inside one uint16_t-sized mbuf data room
constexpr uint32_t kL2Overhead = 18;  // what ethdev adds to the MTU for max_rx_pktlen: header+FCS

std::mutex g_open_mu;
std::bitset<RTE_MAX_ETHPORTS> g_open;  // ports owned by a live DpdkPort
// The MTU each port had before this process first configured it (0: not seen yet), so that
// "keep the port's MTU" does not inherit whatever an earlier DpdkPort set.
uint16_t g_initial_mtu[RTE_MAX_ETHPORTS] = {};
std::atomic<unsigned> g_pool_serial{0};

std::string err_text(int err) {
  return rte_strerror(err < 0 ? -err : err);
}

// RTE_ETH_FOREACH_DEV without its implicit narrowing (which -Wconversion rejects).
std::vector<uint16_t> usable_ports() {
  std::vector<uint16_t> ids;
  for (uint64_t p = rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER); p < RTE_MAX_ETHPORTS;
       p = rte_eth_find_next_owned_by(static_cast<uint16_t>(p + 1), RTE_ETH_DEV_NO_OWNER))
    ids.push_back(static_cast<uint16_t>(p));
  return ids;
}

std::string port_list() {
  std::string s;
  for (uint16_t id : usable_ports()) {
    char name[RTE_ETH_NAME_MAX_LEN];
    if (rte_eth_dev_get_name_by_port(id, name) != 0) continue;
    if (!s.empty()) s += ", ";
    s += name;
  }
  return s.empty() ? "none (add --vdev=net_null0 or similar to the EAL arguments, or bind a NIC "
                     "to a DPDK driver)"
                   : s;
}

// The value of key=... in a vdev argument string like "iface=v0,qpairs=1".
std::string devarg_value(const char* args, std::string_view key) {
  if (args == nullptr) return "";
  std::string_view s(args);
  while (!s.empty()) {
    const size_t comma = s.find(',');
    std::string_view kv = s.substr(0, comma);
    if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=')
      return std::string(kv.substr(key.size() + 1));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return "";
}

std::string pool_name(const char* what, uint16_t port) {
  // RTE_MEMPOOL_NAMESIZE is 28 with the default ring name size: keep it short.
  return "shoal" + std::to_string(port) + what + std::to_string(g_pool_serial++);
}

}  // namespace

Result<std::shared_ptr<DpdkPort>> DpdkPort::open(std::shared_ptr<DpdkEal> eal,
                                                 const DpdkPortOptions& o) {
  if (!eal) return make_error("DpdkPort::open needs an initialized DPDK EAL");
  if (o.rx_queues == 0 && o.tx_queues == 0)
    return make_error("a DPDK port needs at least one RX or TX queue");
  if (o.mtu != 0 && (o.mtu < kMinMtu || o.mtu > kMaxMtu))
    return make_error("MTU " + std::to_string(o.mtu) + " is outside " + std::to_string(kMinMtu) +
                      ".." + std::to_string(kMaxMtu));
  if (o.mbufs < 64) return make_error("a pool of fewer than 64 mbufs cannot fill a TX burst");

  uint16_t id = 0;
  if (o.device.empty()) {
    const uint16_t count = rte_eth_dev_count_avail();
    if (count != 1)
      return make_error(count == 0 ? "no DPDK port: " + port_list()
                                   : "several DPDK ports (" + port_list() + "); name one");
    id = usable_ports().front();
  } else if (rte_eth_dev_get_port_by_name(o.device.c_str(), &id) != 0) {
    return make_error("no DPDK port named '" + o.device + "'; the EAL has: " + port_list());
  }

  std::unique_lock open_lock(g_open_mu);
  if (g_open.test(id))
    return make_error("DPDK port '" + o.device + "' is already open in this process");

  rte_eth_dev_info info{};
  if (int r = rte_eth_dev_info_get(id, &info); r != 0)
    return make_error("cannot query DPDK port " + std::to_string(id) + ": " + err_text(r));

  std::shared_ptr<DpdkPort> p(new DpdkPort());
  p->eal_ = std::move(eal);
  p->id_ = id;
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(id, name);
  p->name_ = name;
  p->driver_ = info.driver_name ? info.driver_name : "";
  if (const rte_devargs* da = info.device ? rte_dev_devargs(info.device) : nullptr)
    p->kernel_iface_ = devarg_value(da->args, "iface");
  const std::string what = "DPDK port '" + p->name_ + "' (" + p->driver_ + ")";

  if (o.rx_queues > info.max_rx_queues || o.tx_queues > info.max_tx_queues)
    return make_error(what + " has at most " + std::to_string(info.max_rx_queues) + " RX and " +
                      std::to_string(info.max_tx_queues) + " TX queues");

  // The MTU: asked for, else the kernel interface's (af_packet), else the port's.
  uint16_t mtu = o.mtu;
  if (mtu == 0 && !p->kernel_iface_.empty()) {
    if (auto k = resolve_iface(p->kernel_iface_); k && k->mtu >= kMinMtu)
      mtu = static_cast<uint16_t>(std::min<uint32_t>(k->mtu, kMaxMtu));
  }
  if (g_initial_mtu[id] == 0 && rte_eth_dev_get_mtu(id, &g_initial_mtu[id]) != 0)
    g_initial_mtu[id] = 1500;
  if (mtu == 0) mtu = g_initial_mtu[id];
  mtu = std::clamp<uint16_t>(mtu, kMinMtu, kMaxMtu);
  if (info.max_rx_pktlen > kL2Overhead && mtu > info.max_rx_pktlen - kL2Overhead) {
    if (o.mtu != 0)
      return make_error(what + " takes frames up to " + std::to_string(info.max_rx_pktlen) +
                        " bytes, so at most MTU " +
                        std::to_string(info.max_rx_pktlen - kL2Overhead) + ", not " +
                        std::to_string(o.mtu) + " (af_packet: raise framesz=)");
    mtu = static_cast<uint16_t>(info.max_rx_pktlen - kL2Overhead);
    spdlog::info("dpdk: {} limits the MTU to {}", what, mtu);
  }
  p->mtu_ = mtu;
  p->frame_capacity_ = uint32_t{mtu} + kEthHeaderSize;
  p->tx_chains_ =
      (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0 || p->driver_ == "net_null";

  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu;
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (int r = rte_eth_dev_configure(id, o.rx_queues, o.tx_queues, &conf); r != 0)
    return make_error("cannot configure " + what + " with " + std::to_string(o.rx_queues) +
                      " RX / " + std::to_string(o.tx_queues) + " TX queues, MTU " +
                      std::to_string(mtu) + ": " + err_text(r));
  uint16_t nb_rx = o.rx_descriptors, nb_tx = o.tx_descriptors;
  if (int r = rte_eth_dev_adjust_nb_rx_tx_desc(id, &nb_rx, &nb_tx); r != 0)
    return make_error("cannot fit descriptor counts to " + what + ": " + err_text(r));

  p->socket_ = rte_eth_dev_socket_id(id);
  p->mbufs_ = o.mbufs;
  p->mbuf_cache_ = std::min<uint32_t>(o.mbuf_cache, RTE_MEMPOOL_CACHE_MAX_SIZE);
  // At least DPDK's default 2 KiB buffer: drivers size RX slots for it (af_packet refuses smaller
  // mbufs than its 2 KiB frame slots, NICs program 2 KiB buffers).
  const uint32_t room =
      std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + p->frame_capacity_);
  p->pool_ = rte_pktmbuf_pool_create(pool_name("f", id).c_str(), o.mbufs, p->mbuf_cache_, 0,
                                     static_cast<uint16_t>(room), p->socket_);
  if (p->pool_ == nullptr)
    return make_error("cannot create a pool of " + std::to_string(o.mbufs) + " mbufs of " +
                      std::to_string(room) + " bytes for " + what + ": " + err_text(rte_errno) +
                      " (raise the EAL's -m, or lower the pool size)");

  for (uint16_t q = 0; q < o.rx_queues; ++q) {
    if (int r = rte_eth_rx_queue_setup(id, q, nb_rx, static_cast<unsigned>(p->socket_), nullptr,
                                       p->pool_);
        r != 0)
      return make_error("cannot set up RX queue " + std::to_string(q) + " of " + what + ": " +
                        err_text(r));
  }
  for (uint16_t q = 0; q < o.tx_queues; ++q) {
    if (int r = rte_eth_tx_queue_setup(id, q, nb_tx, static_cast<unsigned>(p->socket_), nullptr);
        r != 0)
      return make_error("cannot set up TX queue " + std::to_string(q) + " of " + what + ": " +
                        err_text(r));
  }
  if (int r = rte_eth_dev_start(id); r != 0)
    return make_error("cannot start " + what + ": " + err_text(r));
  p->started_ = true;

  rte_ether_addr mac{};
  if (rte_eth_macaddr_get(id, &mac) == 0) std::memcpy(p->mac_.bytes.data(), mac.addr_bytes, 6);
  p->rx_queues_ = o.rx_queues;
  p->tx_queues_ = o.tx_queues;
  p->released_ = std::make_unique<std::atomic<uint64_t>[]>(o.tx_queues ? o.tx_queues : 1);
  p->tx_claimed_.assign(o.tx_queues, false);
  p->rx_claimed_.assign(o.rx_queues, false);
  g_open.set(id);
  p->registered_ = true;
  return p;
}

DpdkPort::~DpdkPort() {
  if (started_) {
    // Frames still in the RX rings (net_ring keeps whatever was sent and never read) would point
    // into pools about to be freed.
    rte_mbuf* burst[64];
    for (uint16_t q = 0; q < rx_queues_; ++q) {
      for (int rounds = 0; rounds < 100000; ++rounds) {
        const uint16_t n = rte_eth_rx_burst(id_, q, burst, 64);
        if (n == 0) break;
        rte_pktmbuf_free_bulk(burst, n);
      }
    }
    if (int r = rte_eth_dev_stop(id_); r != 0)
      spdlog::warn("dpdk: stopping port '{}' failed: {}", name_, err_text(r));
  }
  rte_mempool_free(extbuf_pool_);
  rte_mempool_free(pool_);
  if (registered_) {
    std::lock_guard lock(g_open_mu);
    g_open.reset(id_);
  }
}

Result<rte_mempool*> DpdkPort::extbuf_pool() {
  if (extbuf_pool_) return extbuf_pool_;
  // No data room: the payload is the caller's. The private area holds the shared info.
  const auto priv =
      static_cast<uint16_t>(RTE_ALIGN_CEIL(sizeof(rte_mbuf_ext_shared_info), RTE_MBUF_PRIV_ALIGN));
  extbuf_pool_ =
      rte_pktmbuf_pool_create(pool_name("x", id_).c_str(), mbufs_, mbuf_cache_, priv, 0, socket_);
  if (extbuf_pool_ == nullptr)
    return make_error("cannot create a pool of " + std::to_string(mbufs_) +
                      " payload-carrier mbufs for DPDK port '" + name_ +
                      "': " + err_text(rte_errno) + " (raise the EAL's -m)");
  return extbuf_pool_;
}

Status DpdkPort::claim_tx_queue(uint16_t queue) {
  if (queue >= tx_queues_)
    return make_error("DPDK port '" + name_ + "' has " + std::to_string(tx_queues_) +
                      " TX queues; queue " + std::to_string(queue) + " does not exist");
  if (tx_claimed_[queue])
    return make_error("TX queue " + std::to_string(queue) + " of DPDK port '" + name_ +
                      "' is already in use (one sender per queue)");
  tx_claimed_[queue] = true;
  return Status::success();
}

Status DpdkPort::claim_rx_queue(uint16_t queue) {
  if (queue >= rx_queues_)
    return make_error("DPDK port '" + name_ + "' has " + std::to_string(rx_queues_) +
                      " RX queues; queue " + std::to_string(queue) + " does not exist");
  if (rx_claimed_[queue])
    return make_error("RX queue " + std::to_string(queue) + " of DPDK port '" + name_ +
                      "' is already in use (one receiver per queue)");
  rx_claimed_[queue] = true;
  return Status::success();
}

void DpdkPort::release_tx_queue(uint16_t queue) {
  if (queue < tx_queues_) tx_claimed_[queue] = false;
}

void DpdkPort::release_rx_queue(uint16_t queue) {
  if (queue < rx_queues_) rx_claimed_[queue] = false;
}

}  // namespace shoal::engine
