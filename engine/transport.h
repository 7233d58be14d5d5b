// The burst interface every data-plane transport implements (DPDK poll mode, kernel UDP sockets),
// in the style of rte_eth_tx_burst / rte_eth_rx_burst: the caller hands over an array, the backend
// says how many it took. Both put the same bytes on the wire: one frame = one UDP payload (header +
// payload + tail).
#pragma once

#include <cstdint>

namespace shoal::engine {

// One outgoing datagram, gathered from up to three caller-owned pieces (any may be empty: len 0,
// ptr ignored). The backend copies or transmits the bytes before tx_burst returns, so the caller
// may reuse the buffers as soon as the call returns, for the frames taken and the frames not taken
// alike -- except a payload marked stable, which a zero-copy backend (DpdkTx with zero_copy) may
// send by reference after the call returns.
struct TxFrame {
  const uint8_t* header = nullptr;
  uint16_t header_len = 0;
  const uint8_t* payload = nullptr;
  uint16_t payload_len = 0;
  const uint8_t* tail = nullptr;
  uint16_t tail_len = 0;
  // The payload's bytes stay valid and unchanged for as long as the backend lives (a source
  // symbol in the mapped object): it may go by reference instead of being copied.
  bool payload_stable = false;

  uint32_t size() const { return uint32_t{header_len} + payload_len + tail_len; }
};

class TxBackend {
 public:
  virtual ~TxBackend() = default;
  // Sends up to n frames, in order. Returns how many were taken (a prefix of `frames`, 0..n);
  // frames not taken stay the caller's and may be offered again (the usual reason is a full queue:
  // poll the backend for writability or just retry). Returns -errno when nothing was taken because
  // of an error. Never blocks, never allocates. Not thread-safe: one thread per backend.
  virtual int tx_burst(const TxFrame* frames, int n) = 0;
  virtual const char* name() const = 0;
};

// One received datagram (a UDP payload). `data` points into the backend's buffers and is valid
// until the next rx_burst call on the same backend.
struct RxFrame {
  const uint8_t* data = nullptr;
  uint16_t len = 0;
};

class RxBackend {
 public:
  virtual ~RxBackend() = default;
  // Receives up to n datagrams without blocking. Returns how many were written to `out` (0 if none
  // is waiting) or -errno. Calling it invalidates the frames returned by the previous call. Not
  // thread-safe: one thread per backend.
  virtual int rx_burst(RxFrame* out, int n) = 0;
  // A descriptor to poll() for POLLIN before calling rx_burst, or -1 for poll-mode backends.
  virtual int fd() const = 0;
  virtual const char* name() const = 0;
  // Datagrams lost before rx_burst could take them (a full socket queue), as far as the backend
  // can tell; 0 where it cannot.
  virtual uint64_t drops() const { return 0; }
};

}  // namespace shoal::engine
