// UdpUnicastTx: unicast datagrams to one host:port through a kernel UDP socket (the probe compares
// unicast with multicast to each receiver, also when the multicast path is DPDK). Runs of
// equal-sized frames go as UDP GSO super-datagrams (UDP_SEGMENT, gathered with iovecs, nothing
// copied), so unicast keeps up with the multicast path; without GSO, one datagram per message of
// one sendmmsg call. The bytes on the wire are the same either way.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <memory>

#include "common/fd.h"
#include "common/result.h"
#include "engine/transport.h"

namespace shoal::engine {

class UdpUnicastTx final : public TxBackend {
 public:
  static constexpr int kMaxBurst = 64;  // frames one tx_burst call takes at most

  // A non-blocking socket connected to `to`, with a 4 MiB send buffer when the kernel allows.
  // Errors: no socket, or `to` unreachable (both name the cause).
  static Result<std::unique_ptr<UdpUnicastTx>> open(const sockaddr_in& to);

  // See TxBackend::tx_burst; takes at most kMaxBurst frames. If the device turns out unable to
  // segment (-EIO / -EINVAL with GSO), GSO is switched off and 0 is returned: offer them again.
  int tx_burst(const TxFrame* frames, int n) override;
  const char* name() const override { return "udp-unicast"; }
  bool gso_enabled() const { return gso_; }

 private:
  static constexpr int kMaxSegments = 64;
  static constexpr uint64_t kMaxUdpPayload = 65535 - 20 - 8;
  UdpUnicastTx() = default;

  Fd fd_;
  bool gso_ = false;
  mmsghdr msgs_[kMaxBurst];
  iovec iov_[kMaxBurst * 3];
  struct alignas(cmsghdr) Cmsg {
    unsigned char b[CMSG_SPACE(sizeof(uint16_t))];
  } cmsg_[kMaxBurst];
  int frames_in_[kMaxBurst];
};

}  // namespace shoal::engine
