// UdpRx: the kernel-socket receiver. One UDP socket bound to group:port (so traffic for other
// groups on the same port is not delivered), joined on one interface. With UDP_GRO (Linux >= 5.0)
// the kernel hands over several same-sized datagrams of one flow in one buffer; rx_burst cuts them
// apart again, so the caller always sees single datagrams, whichever way they arrived. Reads use
// one recvmmsg into preallocated buffers; nothing is allocated after open().
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "engine/transport.h"

namespace shoal::engine {

struct UdpRxOptions {
  std::string group;      // IPv4 multicast group, e.g. "239.255.0.1"
  uint16_t port = 0;      // UDP port (non-zero)
  std::string iface;      // interface to join on; empty = the one the routing table picks
  int rcvbuf = 32 << 20;  // SO_RCVBUF request in bytes (0 = leave the kernel default)
  bool gro = true;        // ask for UDP_GRO (falls back with a log line when unavailable)
  int buffers = 64;       // receive buffers = most messages one recvmmsg takes
  int buffer_size =
      65536;  // bytes per buffer; must hold a GRO batch (64 KiB) or the largest datagram
};

struct UdpRxStats {
  uint64_t datagrams = 0;  // datagrams returned by rx_burst
  uint64_t bytes = 0;      // their payload bytes
  uint64_t syscalls = 0;   // recvmmsg calls
  uint64_t messages = 0;   // buffers filled by the kernel (a GRO batch counts once)
  uint64_t truncated = 0;  // messages dropped because they did not fit a buffer (MSG_TRUNC)
  uint64_t kernel_drops =
      0;  // datagrams the kernel dropped on this socket (full receive queue),
          // as last reported by SO_RXQ_OVFL; only updated when a datagram arrives
};

// The receive buffer a receiver asks for when the sender may send at up to rate_bps: what
// arrives in kReceiveBufferCover (the longest stall the receive thread should ride out: a page
// cache flush, a slow disk write), at least `floor_bytes`, at most 512 MiB and 1/16 of the
// machine's memory (`ram_bytes`; a small initramfs machine must not pin its RAM in socket
// buffers), never below floor_bytes. The kernel charges only what is queued.
inline constexpr uint64_t kReceiveBufferCoverNs = 200'000'000;
int receive_buffer_for_rate(uint64_t rate_bps, int floor_bytes, uint64_t ram_bytes);

class UdpRx final : public RxBackend {
 public:
  // Opens, binds and joins. Errors name the cause (bad group, unknown interface, join refused...).
  // Logs once per process if the kernel capped the receive buffer (net.core.rmem_max).
  static Result<std::unique_ptr<UdpRx>> open(const UdpRxOptions& options);
  ~UdpRx() override;  // leaves the group

  UdpRx(const UdpRx&) = delete;
  UdpRx& operator=(const UdpRx&) = delete;

  // See RxBackend::rx_burst. Datagrams come out in the order the socket received them. A GRO buffer
  // with more datagrams than n is handed out over several calls; the socket is read only once all
  // of the previous read has been handed out. Returns -errno for socket errors other than
  // EAGAIN/EINTR.
  int rx_burst(RxFrame* out, int n) override;
  int fd() const override { return fd_.get(); }
  const char* name() const override { return "udp"; }
  uint64_t drops() const override { return stats_.kernel_drops; }

  bool gro_enabled() const { return gro_; }
  int rcvbuf_bytes() const {
    return rcvbuf_;
  }  // as reported by the kernel (which doubles requests)
  unsigned ifindex() const { return static_cast<unsigned>(membership_.imr_ifindex); }
  const UdpRxStats& stats() const { return stats_; }

 private:
  UdpRx() = default;
  // Hands out pending datagrams (from the last recvmmsg) into out[0..n); returns how many.
  int drain_pending(RxFrame* out, int n);

  Fd fd_;
  ip_mreqn membership_{};
  bool joined_ = false;
  bool gro_ = false;
  int rcvbuf_ = 0;
  size_t buffer_size_ = 0;
  UdpRxStats stats_;

  struct alignas(cmsghdr) CmsgSpace {
    unsigned char bytes[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t)) + 32];
  };
  std::unique_ptr<uint8_t[]> data_;  // buffers x buffer_size
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<CmsgSpace> cmsgs_;
  std::vector<uint32_t> seg_size_;  // per message: GRO segment size, its length if not coalesced,
                                    // or kSkipMessage for a truncated one

  // Pending: messages [cur_msg_, pending_msgs_) of the last read, the current one from cur_off_ on.
  int pending_msgs_ = 0;
  int cur_msg_ = 0;
  uint32_t cur_off_ = 0;
};

}  // namespace shoal::engine
