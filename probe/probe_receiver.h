// ProbeReceiver: the receiver's side of `shoal probe`, run by an ordinary `shoal recv` when the
// sender answers its join with Probe messages instead of a Session (probe/probe_protocol.h).
//
// It joins the group (same transport selection as a session: kernel socket, or DPDK polled from
// a 200 us timer), opens a unicast UDP socket for the unicast comparison, counts PROBE frames per
// step (probe/probe_stats.h) and answers each StepEnd with a Report once its sockets are
// drained. It writes nothing to disk. All I/O runs on the receiver's EventLoop: the sockets and
// a timerfd are registered there, so the receiver's main loop needs no change.
//
// Lifetime: the loop and the connection must outlive it; the destructor takes its descriptors
// out of the loop. Not thread-safe (the loop's thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "control/connection.h"
#include "control/event_loop.h"
#include "engine/net_iface.h"
#include "engine/transport.h"
#include "engine/transport_select.h"
#include "probe/probe_protocol.h"
#include "probe/probe_stats.h"

namespace shoal::probe {

class ProbeReceiver {
 public:
  // options: the data plane as chosen on the receiver's command line (group and port unset).
  ProbeReceiver(const engine::RxTransportOptions& options, control::EventLoop& loop,
                control::Connection& conn);
  ~ProbeReceiver();
  ProbeReceiver(const ProbeReceiver&) = delete;
  ProbeReceiver& operator=(const ProbeReceiver&) = delete;

  // A Probe message from the sender. An error (malformed body, a message out of order, the group
  // cannot be joined) ends the probe for this receiver.
  Status on_message(const control::Probe& probe);

  // The sender said End.
  bool finished() const { return finished_; }

  // After the receiver's loop ended: logs the outcome and returns the exit status (0 when the
  // probe ended normally; 1 with `failure`, the reason the loop stopped, otherwise).
  int finish(const std::string& failure) const;

 private:
  struct Pending {
    uint32_t step;
    uint64_t frames_sent;
    uint64_t since_ns;
  };
  Status start(const ProbeStart& s);
  void on_readable_multicast();
  void on_readable_unicast();
  void on_timer();
  void take(const uint8_t* data, size_t len, uint64_t now_ns);
  void send_joined(bool heard);
  void report(const Pending& p);
  bool sockets_empty() const;
  uint64_t kernel_drops() const;
  void arm(uint64_t delay_ns);

  engine::RxTransportOptions opt_;
  control::EventLoop& loop_;
  control::Connection& conn_;
  uint64_t probe_id_ = 0;
  bool started_ = false, joined_sent_ = false, heard_ = false, finished_ = false;
  std::string summary_;
  uint64_t beacon_deadline_ns_ = 0;
  engine::NetIface iface_;  // the interface the group was joined on (empty name: unknown)

  std::unique_ptr<engine::RxBackend> rx_;
  std::shared_ptr<void> rx_keep_;
  Fd unicast_;
  uint16_t unicast_port_ = 0;
  uint32_t unicast_drops_ = 0;  // SO_RXQ_OVFL of the unicast socket (cumulative)
  Fd timer_;
  bool poll_mode_ = false;

  std::map<uint32_t, StepStats> open_;  // steps being received
  uint32_t closed_up_to_ = 0;           // steps <= this were reported; their stragglers ignored
  std::vector<Pending> pending_;        // StepEnds waiting for the sockets to drain
  uint64_t last_frame_ns_ = 0;
  uint64_t rejected_ = 0;        // since the last report
  uint64_t drops_reported_ = 0;  // kernel drops accounted in earlier reports

  std::vector<uint8_t> ubuf_;  // unicast receive buffers
};

}  // namespace shoal::probe
