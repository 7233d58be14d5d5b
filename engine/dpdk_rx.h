// DpdkRx: the poll-mode receiver. Polls one RX queue of a DpdkPort (rte_eth_rx_burst), keeps
// the IPv4/UDP datagrams for one group and port, and hands out views of their UDP payloads --
// the same bytes UdpRx returns for the same traffic.
//
// Dropped (and counted, see DpdkRxStats): non-IPv4 frames, bad IPv4 headers or checksums, IPv4
// fragments (never reassembled: shoal senders set DF and never send datagrams above the MTU),
// non-UDP, bad UDP lengths, other groups, other ports. The UDP checksum is not verified (the
// shoal header's CRC32C covers the payload; see engine/eth_frame.h).
//
// Views point into mbufs held until the next rx_burst call (or the destructor). A frame that
// arrives in a chain of mbufs (a zero-copy DpdkTx looped back through net_ring) is copied into a
// preallocated per-slot buffer. Nothing is allocated after open(). Poll mode: fd() is -1.
// Not thread-safe: one DpdkRx per RX queue and thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/dpdk_port.h"
#include "engine/transport.h"

struct rte_mbuf;

namespace shoal::engine {

struct DpdkRxOptions {
  std::string group{};  // IPv4 multicast group, e.g. "239.255.0.1"
  uint16_t port = 0;    // UDP port (non-zero)
  uint16_t queue = 0;   // RX queue of the port
  int max_burst = 64;   // most frames one rx_burst call polls (1..1024)
  // Ask the port to accept all multicast (rte_eth_allmulticast_enable). NICs filter multicast
  // MACs in hardware; vdevs ignore it.
  bool allmulticast = true;
};

struct DpdkRxStats {
  uint64_t polls = 0;        // rte_eth_rx_burst calls
  uint64_t packets = 0;      // frames the port returned
  uint64_t datagrams = 0;    // UDP payloads handed out
  uint64_t bytes = 0;        // their bytes
  uint64_t not_ipv4 = 0;     // EtherType not IPv4
  uint64_t bad_ip = 0;       // bad IPv4 header, checksum, or truncated frame
  uint64_t fragments = 0;    // IPv4 fragments
  uint64_t not_udp = 0;      // other IP protocols
  uint64_t bad_udp = 0;      // bad UDP length
  uint64_t other_group = 0;  // UDP to another destination address
  uint64_t other_port = 0;   // UDP to our group but another port
  uint64_t linearized = 0;   // chained frames copied into one buffer
  uint64_t oversized = 0;    // chained frames larger than the port's frame capacity
};

class DpdkRx final : public RxBackend {
 public:
  // Claims the RX queue. Errors: bad group (not multicast), port 0, no RX queue, queue taken.
  static Result<std::unique_ptr<DpdkRx>> open(std::shared_ptr<DpdkPort> port,
                                              const DpdkRxOptions& options);
  ~DpdkRx() override;  // frees the held mbufs, releases the queue
  DpdkRx(const DpdkRx&) = delete;
  DpdkRx& operator=(const DpdkRx&) = delete;

  // See RxBackend::rx_burst. Polls the queue once for up to min(n, max_burst) frames and returns
  // the matching datagrams among them, in arrival order; 0 if none matched (more may be waiting:
  // poll again). Never blocks; never fails (poll-mode queues have no error state).
  int rx_burst(RxFrame* out, int n) override;
  int fd() const override { return -1; }
  const char* name() const override { return "dpdk"; }

  const DpdkRxStats& stats() const { return stats_; }
  const DpdkPort& port() const { return *port_; }

 private:
  explicit DpdkRx(std::shared_ptr<DpdkPort> port) : port_(std::move(port)) {}
  void release_held();

  std::shared_ptr<DpdkPort> port_;
  uint16_t queue_ = 0;
  int max_burst_ = 0;
  in_addr group_{};
  uint16_t udp_port_ = 0;
  DpdkRxStats stats_;
  std::vector<rte_mbuf*> polled_;
  std::vector<rte_mbuf*> held_;  // mbufs behind the views of the last call
  size_t nheld_ = 0;
  std::vector<uint8_t> linear_;  // max_burst x frame_capacity, for chained frames
};

}  // namespace shoal::engine
