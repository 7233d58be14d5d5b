// UdpTx: the kernel-socket sender. One connected UDP socket to a multicast group; tx_burst packs
// runs of equal-sized frames into UDP GSO super-datagrams (UDP_SEGMENT, kernel >= 4.18) and sends
// several of them per sendmmsg call, so the per-datagram cost is paid in the kernel's segmentation,
// not in syscalls. Without GSO (old kernel, device without checksum offload, or options.gso =
// false) every frame is one message of the same sendmmsg. The bytes on the wire are identical
// either way.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "engine/net_iface.h"
#include "engine/transport.h"

namespace shoal::engine {

struct UdpTxOptions {
  std::string group;      // IPv4 multicast group, e.g. "239.255.0.1"
  uint16_t port = 0;      // destination UDP port (non-zero)
  std::string iface;      // egress interface; empty = the one the routing table picks for `group`
  int ttl = 1;            // IP_MULTICAST_TTL, 0..255 (1 = stay on the local segment)
  bool loopback = false;  // IP_MULTICAST_LOOP: also deliver to receivers on this host's namespace
  int sndbuf = 4 << 20;   // SO_SNDBUF request in bytes (0 = leave the kernel default)
  bool gso = true;        // false forces one datagram per message (for comparisons)
  int max_burst = 1024;   // largest n one tx_burst call takes; sizes the preallocated arrays
};

struct UdpTxStats {
  uint64_t frames = 0;       // datagrams handed to the kernel
  uint64_t bytes = 0;        // UDP payload bytes handed to the kernel
  uint64_t syscalls = 0;     // sendmmsg calls (including ones that failed)
  uint64_t messages = 0;     // msghdrs sent: a GSO super-datagram counts once
  uint64_t would_block = 0;  // calls that stopped early on EAGAIN / ENOBUFS
};

class UdpTx final : public TxBackend {
 public:
  // Opens and configures the socket. Errors name the cause (bad group, unknown interface, no IPv4
  // address on it, interface down, socket option refused...). Logs one line if UDP GSO is
  // unavailable.
  static Result<std::unique_ptr<UdpTx>> open(const UdpTxOptions& options);

  // See TxBackend::tx_burst. Takes at most options.max_burst frames per call. A frame of more than
  // 65507 bytes cannot be a UDP datagram: it is not taken (-EMSGSIZE if it is the first one).
  // Frames larger than the path MTU are sent unsegmented (the kernel fragments them). Returns
  // -errno for other errors on the first datagram (e.g. -EPERM when a firewall drops it); if GSO
  // turns out to be unusable at send time (-EIO / -EINVAL) it is switched off with a log line and
  // the send is retried.
  int tx_burst(const TxFrame* frames, int n) override;
  const char* name() const override { return "udp"; }

  int fd() const { return fd_.get(); }  // poll for POLLOUT after a short burst
  bool gso_enabled() const { return gso_; }
  const NetIface& iface() const { return iface_; }
  const UdpTxStats& stats() const { return stats_; }
  uint32_t max_gso_segment() const { return max_gso_segment_; }  // largest frame GSO may carry
  uint32_t path_mtu() const { return path_mtu_; }  // IPv4 MTU toward the group (route or device)

 private:
  UdpTx() = default;
  // Fills msgs_/iovs_/cmsgs_ for frames[0..n); returns the number of messages built.
  int build_messages(const TxFrame* frames, int n);

  Fd fd_;
  NetIface iface_;
  bool gso_ = false;
  uint32_t max_gso_segment_ = 0;
  uint32_t path_mtu_ = 0;
  int max_burst_ = 0;
  UdpTxStats stats_;

  // Preallocated per-call scratch: message i carries msg_frames_[i] frames starting at
  // msg_first_[i].
  struct alignas(cmsghdr) CmsgSpace {
    unsigned char bytes[CMSG_SPACE(sizeof(uint16_t))];
  };
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<CmsgSpace> cmsgs_;
  std::vector<int> msg_frames_;
  std::vector<uint32_t> msg_bytes_;
};

}  // namespace shoal::engine
