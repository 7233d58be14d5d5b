// DpdkTx: the poll-mode sender. Puts each TxFrame on one TX queue of a DpdkPort as a complete
// Ethernet/IPv4/UDP multicast frame (engine/eth_frame.h) whose UDP payload is exactly the bytes
// the kernel socket path sends: header + payload + tail, nothing added.
//
// Two ways to fill the mbufs (DpdkTxOptions::zero_copy):
// - copy (default): all bytes are copied into one pool mbuf per frame. TxBackend's contract holds
//   as written: the caller may reuse every buffer as soon as tx_burst returns.
// - zero copy: the Ethernet/IP/UDP headers, the frame header and the tail are copied into a pool
//   mbuf as before, but a payload marked stable (TxFrame::payload_stable) of at least
//   zero_copy_min bytes is attached by reference (rte_pktmbuf_attach_extbuf) as a second segment;
//   other payloads (scratch buffers: repair rows, ciphertext) are copied. This CHANGES THE
//   CONTRACT for a stable payload: its bytes must stay unchanged until the driver is done with the
//   frame, which is when the
//   mbuf is freed -- on a NIC after the DMA completes and the driver cleans its TX ring, on
//   net_null inside tx_burst, on net_ring when the receiver frees it. Completion is counted:
//   payloads_in_flight() says how many attached payloads are not yet released, and reclaim()
//   asks the driver to free what it has finished with. A caller reuses a payload buffer only
//   after payloads_in_flight() drops to 0 (or to the count it read before attaching it). The
//   header and tail buffers may be reused at once, as with the copy mode.
//   Zero copy needs a port that takes chained mbufs (DpdkPort::tx_chains()). The payload memory
//   is not registered for DMA (rte_extmem_register / rte_dev_dma_map): fine for vdevs, needed
//   before a PCI NIC may use it (not done yet).
//
// Hot path: no allocation (mbufs come from the port's pools), no system calls, no locks.
// Not thread-safe: one DpdkTx per TX queue and thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/dpdk_port.h"
#include "engine/eth_frame.h"
#include "engine/transport.h"

struct rte_mbuf;

namespace shoal::engine {

struct DpdkTxOptions {
  std::string group{};    // IPv4 multicast group, e.g. "239.255.0.1"
  uint16_t port = 0;      // destination UDP port (non-zero)
  uint16_t src_port = 0;  // source UDP port; 0 = the destination port
  int ttl = 1;            // IPv4 TTL, 0..255 (1 = stay on the local segment)
  int tos = 0;            // IPv4 TOS byte (DSCP << 2), 0..255
  // Source IPv4 address. Empty: the address of `iface`, or of the port's kernel interface for
  // af_packet / af_xdp ports (looked up in the calling thread's network namespace).
  std::string src_ip{};
  std::string iface{};    // kernel interface to take the source address from (optional)
  std::string src_mac{};  // empty = the port's MAC address
  uint16_t queue = 0;     // TX queue of the port
  int max_burst = 64;     // largest n one tx_burst call takes (1..1024)
  bool zero_copy = false;
  uint16_t zero_copy_min = 512;  // shorter payloads are copied even in zero-copy mode
};

struct DpdkTxStats {
  uint64_t frames = 0;      // frames the driver took
  uint64_t bytes = 0;       // their UDP payload bytes
  uint64_t calls = 0;       // rte_eth_tx_burst calls
  uint64_t queue_full = 0;  // calls where the driver took fewer frames than offered
  uint64_t no_mbufs = 0;    // calls cut short because a pool was empty
  uint64_t zero_copy = 0;   // frames whose payload went by reference
};

class DpdkTx final : public TxBackend {
 public:
  // Claims the TX queue and prebuilds the headers. Errors name the cause (bad group or address,
  // no source address, queue taken, zero copy on a port that cannot chain mbufs...).
  static Result<std::unique_ptr<DpdkTx>> open(std::shared_ptr<DpdkPort> port,
                                              const DpdkTxOptions& options);
  ~DpdkTx() override;
  DpdkTx(const DpdkTx&) = delete;
  DpdkTx& operator=(const DpdkTx&) = delete;

  // See TxBackend::tx_burst, and the zero-copy contract above. Takes at most max_burst frames.
  // A frame whose IPv4 datagram (28 + size()) exceeds the port MTU is not taken (-EMSGSIZE if it
  // is the first). Returns 0 (nothing taken, retry later) when the TX ring or a pool is full.
  // Never returns another error: a poll-mode queue has no failure mode but "full".
  int tx_burst(const TxFrame* frames, int n) override;
  const char* name() const override { return "dpdk"; }

  // Zero copy: payloads attached and not yet released by the driver or receiver.
  uint64_t payloads_in_flight() const;
  // Asks the driver to free TX descriptors it has completed (rte_eth_tx_done_cleanup), then
  // returns payloads_in_flight(). Drivers without that hook free lazily on later sends.
  uint64_t reclaim();

  // Largest size() a frame may have on this port: MTU - 28.
  uint32_t max_frame() const { return max_frame_; }
  const EthUdpHeader& header() const { return header_; }
  const DpdkTxStats& stats() const { return stats_; }
  const DpdkPort& port() const { return *port_; }

 private:
  bool by_reference_ok(const TxFrame& f) const {
    return f.payload_stable && f.payload_len >= zero_copy_min_;
  }
  DpdkTx(std::shared_ptr<DpdkPort> port, EthUdpHeader header)
      : port_(std::move(port)), header_(std::move(header)) {}
  // Fills heads_[0..n) (and carriers / tails for zero copy); returns how many are ready.
  int build(const TxFrame* frames, int n);

  std::shared_ptr<DpdkPort> port_;
  EthUdpHeader header_;
  uint16_t queue_ = 0;
  int max_burst_ = 0;
  uint32_t max_frame_ = 0;
  bool zero_copy_ = false;
  uint16_t zero_copy_min_ = 0;
  bool iova_is_va_ = false;
  uint16_t ident_ = 0;         // IPv4 identification of the next frame
  bool by_reference_ = false;  // the last build() attached long payloads
  uint64_t attached_ = 0;  // zero-copy payloads attached, ever (compared with the released count)
  rte_mempool* pool_ = nullptr;
  rte_mempool* carriers_ = nullptr;
  DpdkTxStats stats_;
  std::vector<rte_mbuf*> heads_;
  std::vector<rte_mbuf*> extra_;  // zero copy: payload carriers and tail segments
};

}  // namespace shoal::engine
