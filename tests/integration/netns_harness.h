// Helpers for tests and tools that run shoal's UDP transport on the namespace test bed
// (scripts/testbed.sh): a RAII bed, threads that live in a namespace, and a multicast session in
// which one sender thread (in PREFIX-tx) sends numbered frames to receiver threads (in PREFIX-rxK).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace shoal::itest {

// Root of the source tree (compile definition SHOAL_SOURCE_DIR) and the bed script in it.
std::string testbed_script();

// Why this process cannot run a bed, or "" if it can (root, `ip netns` works, script present).
std::string bed_unavailable_reason();

// A test bed that exists exactly as long as this object (down in the destructor, whatever
// happened).
class Testbed {
 public:
  // Runs `testbed.sh up PREFIX receivers mode`; check up_status(): 0 = up, 77 = skip, else failed.
  Testbed(std::string prefix, int receivers, const std::string& mode = "wire");
  ~Testbed();
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  int up_status() const { return up_status_; }
  const std::string& prefix() const { return prefix_; }
  int receivers() const { return receivers_; }
  std::string netns(const std::string& node) const { return prefix_ + "-" + node; }
  // Runs `testbed.sh VERB PREFIX args`; returns the script's exit status.
  int run(const std::string& verb, const std::string& args = "") const;

 private:
  std::string prefix_;
  int receivers_;
  int up_status_;
};

// A prefix no other run on this machine uses at the same time (pid + counter).
std::string unique_prefix(const std::string& tag);

// Starts a thread that enters network namespace `ns` (setns on /var/run/netns/NAME) and runs fn
// there; sockets it creates live in that namespace. If entering fails, fn is not run and *error
// says why.
std::thread thread_in_netns(const std::string& ns, std::function<void()> fn, std::string* error);

struct SessionConfig {
  std::string group = "239.255.42.1";
  uint16_t port = 5001;
  uint32_t frames = 20000;     // data frames to send (stopped early when seconds > 0 runs out)
  uint16_t frame_size = 1400;  // UDP payload bytes per frame
  int tx_burst = 64;           // frames per tx_burst call
  uint32_t window = 4096;      // flow control: never more than this ahead of the slowest receiver
  bool gso = true;
  bool gro = true;
  double seconds = 0;  // > 0: stop sending after this long (throughput runs)
};

struct ReceiverReport {
  std::string error;         // open/receive failure, "" if none
  uint64_t data_frames = 0;  // distinct data frames received intact
  uint64_t duplicates = 0;
  uint64_t corrupt = 0;       // wrong size or contents
  uint64_t kernel_drops = 0;  // SO_RXQ_OVFL
  uint64_t rx_buffers = 0;    // recvmmsg buffers (GRO batches count once)
  bool gro = false;
  double active_seconds = 0;  // first data frame to end marker
  std::vector<uint8_t> seen;  // per data seq: 1 if received
};

struct SessionReport {
  std::string error;  // sender failure or protocol timeout, "" if none
  uint64_t frames_sent = 0;
  uint64_t tx_messages = 0;
  uint64_t tx_syscalls = 0;
  bool gso = false;
  double send_seconds = 0;
  std::vector<ReceiverReport> receivers;
};

// Runs one session on `bed`: receivers join, the sender warms up until every receiver hears it and
// the bridge lists every receiver as a member, sends cfg.frames data frames with receiver-paced
// flow control, then end markers until every receiver has stopped. Bounded: gives up with an error
// after 20 s without progress.
SessionReport run_session(const Testbed& bed, const SessionConfig& cfg);

}  // namespace shoal::itest
