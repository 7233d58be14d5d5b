#include "engine/dpdk_tx.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/net_iface.h"

namespace shoal::engine {
namespace {

constexpr int kMaxBurstLimit = 1024;
constexpr uint32_t kIpUdpHeaders = kIpv4HeaderSize + kUdpHeaderSize;

// Runs in whichever thread frees the carrier mbuf (driver, receiver): count, nothing else. The
// payload belongs to the caller, so there is nothing to free.
void release_payload(void* /*addr*/, void* opaque) {
  static_cast<std::atomic<uint64_t>*>(opaque)->fetch_add(1, std::memory_order_release);
}

Result<in_addr> source_address(const DpdkTxOptions& o, const DpdkPort& port) {
  if (!o.src_ip.empty()) {
    auto ip = parse_ipv4(o.src_ip);
    if (!ip) return make_error("source address: " + ip.error());
    return *ip;
  }
  const std::string& iface = o.iface.empty() ? port.kernel_iface() : o.iface;
  if (iface.empty())
    return make_error("DPDK port '" + port.name() +
                      "' has no kernel interface to take a source IPv4 address from; set the "
                      "source address (src_ip) or name an interface (iface)");
  auto found = resolve_iface(iface);
  if (!found) return make_error("source address: " + found.error());
  return found->ipv4;
}

}  // namespace

Result<std::unique_ptr<DpdkTx>> DpdkTx::open(std::shared_ptr<DpdkPort> port,
                                             const DpdkTxOptions& o) {
  if (!port) return make_error("DpdkTx::open needs an open DpdkPort");
  auto group = parse_ipv4(o.group);
  if (!group) return make_error("multicast group: " + group.error());
  if (o.ttl < 0 || o.ttl > 255)
    return make_error("multicast TTL " + std::to_string(o.ttl) + " is outside 0..255");
  if (o.tos < 0 || o.tos > 255)
    return make_error("IPv4 TOS " + std::to_string(o.tos) + " is outside 0..255");
  if (o.max_burst < 1 || o.max_burst > kMaxBurstLimit)
    return make_error("max_burst " + std::to_string(o.max_burst) + " is outside 1.." +
                      std::to_string(kMaxBurstLimit));
  if (o.zero_copy && !port->tx_chains())
    return make_error("DPDK port '" + port->name() + "' (" + port->driver() +
                      ") does not take chained mbufs, which zero-copy TX needs; use copy mode");
  auto src_ip = source_address(o, *port);
  if (!src_ip) return make_error(src_ip.error());
  MacAddress src_mac = port->mac();
  if (!o.src_mac.empty()) {
    auto mac = parse_mac(o.src_mac);
    if (!mac) return make_error("source MAC: " + mac.error());
    src_mac = *mac;
  }
  UdpFlow flow;
  flow.src_mac = src_mac;
  flow.src_ip = *src_ip;
  flow.group = *group;
  flow.src_port = o.src_port ? o.src_port : o.port;
  flow.dst_port = o.port;
  flow.ttl = static_cast<uint8_t>(o.ttl);
  flow.tos = static_cast<uint8_t>(o.tos);
  auto header = EthUdpHeader::make(flow);
  if (!header) return make_error(header.error());

  rte_mempool* carriers = nullptr;
  if (o.zero_copy) {
    auto pool = port->extbuf_pool();
    if (!pool) return make_error(pool.error());
    carriers = *pool;
  }
  if (Status st = port->claim_tx_queue(o.queue); !st) return make_error(st.error());

  std::unique_ptr<DpdkTx> tx(new DpdkTx(port, std::move(*header)));
  tx->queue_ = o.queue;
  tx->max_burst_ = o.max_burst;
  tx->max_frame_ = port->mtu() > kIpUdpHeaders ? port->mtu() - kIpUdpHeaders : 0;
  tx->zero_copy_ = o.zero_copy;
  tx->zero_copy_min_ = std::max<uint16_t>(o.zero_copy_min, 1);
  tx->pool_ = port->pool();
  tx->carriers_ = carriers;
  // With IOVA as VA a payload's bus address is its virtual address; otherwise it is unknown (the
  // memory is not DPDK's), which vdevs never look at.
  tx->iova_is_va_ = rte_eal_iova_mode() == RTE_IOVA_VA;
  tx->attached_ = port->payloads_released(o.queue).load(std::memory_order_acquire);
  tx->heads_.assign(static_cast<size_t>(o.max_burst), nullptr);
  tx->extra_.assign(o.zero_copy ? 2 * static_cast<size_t>(o.max_burst) : 0, nullptr);
  return tx;
}

DpdkTx::~DpdkTx() {
  // Stable payloads still referenced (a NIC's DMA not yet cleaned up): give the driver a moment,
  // the caller unmaps them after this.
  for (int i = 0; zero_copy_ && i < 1000 && reclaim() > 0; ++i) rte_delay_us_sleep(100);
  if (zero_copy_ && reclaim() > 0)
    spdlog::warn(
        "dpdk tx: {} zero-copy payloads are still queued on port '{}'; their memory must stay "
        "valid until the port is closed",
        payloads_in_flight(), port_->name());
  port_->release_tx_queue(queue_);
}

uint64_t DpdkTx::payloads_in_flight() const {
  return attached_ - port_->payloads_released(queue_).load(std::memory_order_acquire);
}

uint64_t DpdkTx::reclaim() {
  rte_eth_tx_done_cleanup(port_->id(), queue_, 0);  // -ENOTSUP is fine: nothing to hurry
  return payloads_in_flight();
}

int DpdkTx::build(const TxFrame* frames, int n) {
  if (rte_pktmbuf_alloc_bulk(pool_, heads_.data(), static_cast<unsigned>(n)) != 0) {
    ++stats_.no_mbufs;
    int got = 0;  // the pool is short: take what there is, one by one
    while (got < n && (heads_[static_cast<size_t>(got)] = rte_pktmbuf_alloc(pool_)) != nullptr)
      ++got;
    n = got;
  }

  // Zero copy: carriers for long payloads, plus a segment for each of their tails.
  rte_mbuf** carriers = extra_.data();
  rte_mbuf** tails = nullptr;
  bool by_reference = false;
  if (zero_copy_) {
    unsigned ncarrier = 0, ntail = 0;
    for (int i = 0; i < n; ++i) {
      if (by_reference_ok(frames[i])) {
        ++ncarrier;
        if (frames[i].tail_len) ++ntail;
      }
    }
    tails = carriers + ncarrier;
    by_reference = ncarrier > 0;
    if (by_reference && rte_pktmbuf_alloc_bulk(carriers_, carriers, ncarrier) != 0) {
      by_reference = false;
    } else if (ntail && rte_pktmbuf_alloc_bulk(pool_, tails, ntail) != 0) {
      rte_pktmbuf_free_bulk(carriers, ncarrier);
      by_reference = false;
    }
    if (ncarrier && !by_reference) ++stats_.no_mbufs;  // fall back to copying this burst
  }
  by_reference_ = by_reference;
  std::atomic<uint64_t>* released = &port_->payloads_released(queue_);

  for (int i = 0; i < n; ++i) {
    const TxFrame& f = frames[i];
    rte_mbuf* m = heads_[static_cast<size_t>(i)];
    const uint32_t size = f.size();
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    header_.write(p, static_cast<uint16_t>(size), ident_++);
    p += kEthIpUdpSize;
    if (f.header_len) std::memcpy(p, f.header, f.header_len);
    p += f.header_len;
    if (by_reference && by_reference_ok(f)) {
      m->data_len = static_cast<uint16_t>(kEthIpUdpSize + f.header_len);
      rte_mbuf* c = *carriers++;
      auto* shinfo = static_cast<rte_mbuf_ext_shared_info*>(rte_mbuf_to_priv(c));
      shinfo->free_cb = release_payload;
      shinfo->fcb_opaque = released;
      rte_mbuf_ext_refcnt_set(shinfo, 1);
      void* payload = const_cast<uint8_t*>(f.payload);  // never written: TX only reads it
      const rte_iova_t iova = iova_is_va_
                                  ? static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(payload))
                                  : RTE_BAD_IOVA;
      rte_pktmbuf_attach_extbuf(c, payload, iova, f.payload_len, shinfo);
      c->data_len = f.payload_len;
      m->next = c;
      m->nb_segs = 2;
      if (f.tail_len) {
        rte_mbuf* t = *tails++;
        std::memcpy(rte_pktmbuf_mtod(t, uint8_t*), f.tail, f.tail_len);
        t->data_len = f.tail_len;
        c->next = t;
        m->nb_segs = 3;
      }
      ++attached_;
    } else {
      if (f.payload_len) std::memcpy(p, f.payload, f.payload_len);
      p += f.payload_len;
      if (f.tail_len) std::memcpy(p, f.tail, f.tail_len);
      m->data_len = static_cast<uint16_t>(kEthIpUdpSize + size);
    }
    m->pkt_len = static_cast<uint32_t>(kEthIpUdpSize + size);
  }
  return n;
}

int DpdkTx::tx_burst(const TxFrame* frames, int n) {
  if (n <= 0) return 0;
  n = std::min(n, max_burst_);
  int fit = 0;
  while (fit < n && frames[fit].size() <= max_frame_) ++fit;
  if (fit == 0) return -EMSGSIZE;

  const uint16_t first_ident = ident_;
  const int built = build(frames, fit);
  if (built == 0) {
    // The pool is empty, most likely because the TX ring holds its mbufs: drivers usually free
    // completed ones inside tx_burst, which we are not calling, so ask explicitly.
    rte_eth_tx_done_cleanup(port_->id(), queue_, 0);
    return 0;
  }
  ++stats_.calls;
  const uint16_t sent =
      rte_eth_tx_burst(port_->id(), queue_, heads_.data(), static_cast<uint16_t>(built));
  if (sent < built) {
    ++stats_.queue_full;
    // The frames not taken stay the caller's: drop our copies (zero-copy carriers count as
    // released here) and reuse their IPv4 identifications next time.
    rte_pktmbuf_free_bulk(heads_.data() + sent, static_cast<unsigned>(built - sent));
    ident_ = static_cast<uint16_t>(first_ident + sent);
  }
  for (int i = 0; i < sent; ++i) {
    stats_.bytes += frames[i].size();
    if (by_reference_ && by_reference_ok(frames[i])) ++stats_.zero_copy;
  }
  stats_.frames += sent;
  return sent;
}

}  // namespace shoal::engine
