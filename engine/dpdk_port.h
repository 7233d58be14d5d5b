// DpdkPort: one DPDK ethdev port, configured and started, with its mbuf pools. DpdkTx and DpdkRx
// each use one queue of a port (shared_ptr: a net_ring port that loops TX into RX is used by both).
//
// Pools: `pool()` holds frame buffers for RX and for copied TX frames; one mbuf holds a whole
// Ethernet frame at the port's MTU (no chained RX). `extbuf_pool()` holds data-less mbufs that
// carry caller-owned payloads by rte_pktmbuf_attach_extbuf for zero-copy TX; each has its
// rte_mbuf_ext_shared_info in its private area, whose free callback counts the payload as
// released (payloads_released()).
//
// Lifetime: the destructor drains the RX queues, stops the port and frees the pools; it does not
// close the port, so the same device can be opened again in this process. A device can be open
// in only one DpdkPort at a time.
//
// Setup-time only: open() allocates and may take milliseconds. Not thread-safe except where noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/dpdk_eal.h"
#include "engine/eth_frame.h"

struct rte_mempool;

namespace shoal::engine {

struct DpdkPortOptions {
  // The ethdev name the EAL gave the device: a vdev name ("net_null0", "net_ring0",
  // "net_af_packet0") or a PCI address ("0000:03:00.0"). Empty: the only port there is.
  std::string device{};
  uint16_t rx_queues = 1;  // 0 for a send-only port (some drivers, e.g. af_packet, need >= 1)
  uint16_t tx_queues = 1;  // 0 for a receive-only port
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint32_t mbufs = 8191;      // frame buffers in pool(); a power of two minus one suits the ring
  uint32_t mbuf_cache = 256;  // per-lcore cache of pool() and extbuf_pool()
  // IPv4 MTU to configure (68..9600). 0: the kernel interface's MTU for af_packet / af_xdp, else
  // the MTU the port had before this process first configured it (1500 on vdevs).
  uint16_t mtu = 0;
};

class DpdkPort {
 public:
  // Errors name the cause: unknown device (listing the ports the EAL has), a queue or
  // descriptor count the driver refuses, an MTU out of range, no memory for the pool.
  static Result<std::shared_ptr<DpdkPort>> open(std::shared_ptr<DpdkEal> eal,
                                                const DpdkPortOptions& options);
  ~DpdkPort();
  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;

  uint16_t id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& driver() const { return driver_; }  // "net_null", "net_ring", ...
  // For drivers on top of a kernel interface (af_packet, af_xdp): the `iface=` device argument.
  const std::string& kernel_iface() const { return kernel_iface_; }
  const MacAddress& mac() const { return mac_; }
  uint16_t mtu() const { return mtu_; }
  uint16_t rx_queues() const { return rx_queues_; }
  uint16_t tx_queues() const { return tx_queues_; }
  // True when TX takes chained mbufs (zero-copy needs that): the driver announces
  // RTE_ETH_TX_OFFLOAD_MULTI_SEGS, or it is net_null, which frees frames unread.
  bool tx_chains() const { return tx_chains_; }
  // Largest Ethernet frame (without FCS) one pool() mbuf holds: 14 + mtu().
  uint32_t frame_capacity() const { return frame_capacity_; }

  rte_mempool* pool() const { return pool_; }
  // Created on first use (thread-unsafe). Error if there is no memory for it.
  Result<rte_mempool*> extbuf_pool();
  // Count of zero-copy payloads released (their mbufs freed by the driver or the receiver) for
  // one TX queue. Written from whichever thread frees the mbuf, hence atomic.
  std::atomic<uint64_t>& payloads_released(uint16_t tx_queue) { return released_[tx_queue]; }

  // Queue ownership: a queue serves one DpdkTx / DpdkRx at a time. Error if taken or out of range.
  Status claim_tx_queue(uint16_t queue);
  Status claim_rx_queue(uint16_t queue);
  void release_tx_queue(uint16_t queue);
  void release_rx_queue(uint16_t queue);

 private:
  DpdkPort() = default;

  std::shared_ptr<DpdkEal> eal_;
  uint16_t id_ = 0;
  std::string name_;
  std::string driver_;
  std::string kernel_iface_;
  MacAddress mac_;
  uint16_t mtu_ = 0;
  uint16_t rx_queues_ = 0;
  uint16_t tx_queues_ = 0;
  bool tx_chains_ = false;
  bool started_ = false;
  bool registered_ = false;  // counted in the process-wide set of open ports
  uint32_t frame_capacity_ = 0;
  uint32_t mbufs_ = 0;
  uint32_t mbuf_cache_ = 0;
  int socket_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_mempool* extbuf_pool_ = nullptr;
  std::unique_ptr<std::atomic<uint64_t>[]> released_;
  std::vector<bool> tx_claimed_;
  std::vector<bool> rx_claimed_;
};

}  // namespace shoal::engine
