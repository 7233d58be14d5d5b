#include "engine/dpdk_rx.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/eth_frame.h"
#include "engine/net_iface.h"

namespace shoal::engine {
namespace {
constexpr int kMaxBurstLimit = 1024;
}  // namespace

Result<std::unique_ptr<DpdkRx>> DpdkRx::open(std::shared_ptr<DpdkPort> port,
                                             const DpdkRxOptions& o) {
  if (!port) return make_error("DpdkRx::open needs an open DpdkPort");
  auto group = parse_ipv4(o.group);
  if (!group) return make_error("multicast group: " + group.error());
  if (!is_multicast(*group))
    return make_error("'" + o.group + "' is not an IPv4 multicast address (224.0.0.0/4)");
  if (o.port == 0)
    return make_error("port 0 is not usable for a multicast receiver; pick 1..65535");
  if (o.max_burst < 1 || o.max_burst > kMaxBurstLimit)
    return make_error("max_burst " + std::to_string(o.max_burst) + " is outside 1.." +
                      std::to_string(kMaxBurstLimit));
  if (Status st = port->claim_rx_queue(o.queue); !st) return make_error(st.error());
  if (o.allmulticast) {
    const int r = rte_eth_allmulticast_enable(port->id());
    if (r != 0 && r != -ENOTSUP)
      spdlog::warn("dpdk rx: cannot switch on all-multicast on port '{}': {}", port->name(),
                   rte_strerror(-r));
  }

  std::unique_ptr<DpdkRx> rx(new DpdkRx(port));
  rx->queue_ = o.queue;
  rx->max_burst_ = o.max_burst;
  rx->group_ = *group;
  rx->udp_port_ = o.port;
  const auto burst = static_cast<size_t>(o.max_burst);
  rx->polled_.assign(burst, nullptr);
  rx->held_.assign(burst, nullptr);
  rx->linear_.assign(burst * port->frame_capacity(), 0);
  return rx;
}

DpdkRx::~DpdkRx() {
  release_held();
  port_->release_rx_queue(queue_);
}

void DpdkRx::release_held() {
  if (nheld_ == 0) return;
  rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(nheld_));
  nheld_ = 0;
}

int DpdkRx::rx_burst(RxFrame* out, int n) {
  release_held();  // the views of the previous call end here
  if (n <= 0) return 0;
  const auto want = static_cast<uint16_t>(std::min(n, max_burst_));
  ++stats_.polls;
  const uint16_t got = rte_eth_rx_burst(port_->id(), queue_, polled_.data(), want);
  stats_.packets += got;

  const uint32_t capacity = port_->frame_capacity();
  int k = 0;
  for (uint16_t i = 0; i < got; ++i) {
    rte_mbuf* m = polled_[i];
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t len = m->data_len;
    const bool chained = m->nb_segs > 1;
    if (chained) {
      if (m->pkt_len > capacity) {
        ++stats_.oversized;
        rte_pktmbuf_free(m);
        continue;
      }
      uint8_t* slot = linear_.data() + size_t{i} * capacity;
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, m->pkt_len, slot));
      len = m->pkt_len;
      ++stats_.linearized;
    }

    EthUdpView v;
    const EthUdpError e = parse_eth_udp({data, len}, &v);
    uint64_t* drop = nullptr;
    switch (e) {
      case EthUdpError::Ok:
        if (v.dst_ip.s_addr != group_.s_addr)
          drop = &stats_.other_group;
        else if (v.dst_port != udp_port_)
          drop = &stats_.other_port;
        break;
      case EthUdpError::NotIpv4:
        drop = &stats_.not_ipv4;
        break;
      case EthUdpError::Fragment:
        drop = &stats_.fragments;
        break;
      case EthUdpError::NotUdp:
        drop = &stats_.not_udp;
        break;
      case EthUdpError::BadUdpLength:
        drop = &stats_.bad_udp;
        break;
      case EthUdpError::Truncated:
      case EthUdpError::BadIpHeader:
      case EthUdpError::BadIpChecksum:
        drop = &stats_.bad_ip;
        break;
    }
    if (drop) {
      ++*drop;
      rte_pktmbuf_free(m);
      continue;
    }
    out[k++] = RxFrame{v.payload.data(), static_cast<uint16_t>(v.payload.size())};
    // A copied frame's mbufs can go now, which also releases a zero-copy sender's payload.
    if (chained)
      rte_pktmbuf_free(m);
    else
      held_[nheld_++] = m;
    stats_.bytes += v.payload.size();
  }
  stats_.datagrams += static_cast<uint64_t>(k);
  return k;
}

}  // namespace shoal::engine
