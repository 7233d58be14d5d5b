// ProbeRun: one `shoal probe` (probe/probe_sender.h), split in two files: probe_sender.cc sets it
// up and runs the control plane (the join through control::JoinServer, the receivers' messages,
// the result files); probe_run.cc sends: beacons, then paced steps (engine::PacedSender) for the
// search, the unicast comparison and the MTU check. Internal to probe/.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "control/connection.h"
#include "control/event_loop.h"
#include "control/join_server.h"
#include "engine/transport.h"
#include "engine/transport_select.h"
#include "probe/probe_protocol.h"
#include "probe/probe_report.h"
#include "probe/probe_sender.h"

namespace shoal::probe {

inline constexpr int kProbeBurst = 64;  // frames per tx_burst call

enum class PeerState { kAdmitted, kReady, kFailed, kGone };

// A receiver that joined (control::JoinServer hands it over).
struct ProbePeer {
  uint32_t id = 0;                      // the join server's
  control::Connection* conn = nullptr;  // the server's; nullptr once released
  std::string name, addr;               // addr: "a.b.c.d:port"
  sockaddr_in from{};
  PeerState state = PeerState::kAdmitted;
  int index = -1;  // into ProbeResult::receivers once the probe started
  uint32_t awaiting = 0;
  std::optional<ProbeReport> report;
};

// Builds PROBE frames into reused buffers: no allocation per frame.
class FrameBatch {
 public:
  FrameBatch(uint64_t probe_id, uint32_t max_frame);
  const engine::TxFrame* build(uint32_t step, uint32_t first_seq, int n, uint32_t frame_bytes,
                               ProbeFrameKind kind, uint64_t now_ns);

 private:
  uint64_t probe_id_;
  size_t max_payload_;
  std::vector<uint8_t> headers_, payloads_;
  std::vector<engine::TxFrame> frames_;
};

struct StepPlan {
  StepKind kind = StepKind::kSearch;
  std::string phase;
  uint64_t rate_bps = 0;
  uint64_t dwell_ns = 0;    // send for this long ...
  uint64_t max_frames = 0;  // ... or this many frames (0 = no limit)
  uint32_t frame_bytes = 0;
  int unicast_to = -1;  // receiver index
};

class ProbeRun {
 public:
  explicit ProbeRun(const ProbeOptions& o) : opt_(o) {}
  ProbeOutcome run();

 private:
  // probe_sender.cc: set-up and the control plane.
  ProbeOutcome::Kind start();
  void on_joined(const control::JoinedPeer& j);
  void on_message(ProbePeer& p, const control::Message& m);
  void fail(ProbePeer& p, const std::string& why);
  void release(ProbePeer& p, const std::string& why);
  void service(int timeout_ms);
  bool wait_until(uint64_t deadline_ns, bool (ProbeRun::*done)() const);
  bool all_ready() const;
  bool all_reported() const;
  size_t admitted() const;
  ProbePeer* peer_at(int index);
  bool finish();  // false: an output file could not be written

  // probe_run.cc: the data plane.
  void beacon();
  Result<StepResult> run_step(const StepPlan& plan);
  Status pace(const StepPlan& plan, engine::TxBackend& tx, uint32_t step, StepResult& out);
  bool disturbed(const StepResult& s) const;
  void search();
  void compare_unicast();
  void check_mtu();

  ProbeOptions opt_;
  std::unique_ptr<control::EventLoop> loop_;
  std::unique_ptr<control::JoinServer> server_;
  uint64_t last_expiry_ns_ = 0;
  std::map<uint32_t, ProbePeer> peers_;
  bool started_ = false;
  uint64_t probe_id_ = 0;
  in_addr group_{};
  engine::OpenTransport tx_;
  std::optional<FrameBatch> batch_;
  uint32_t step_ = 0;
  uint32_t beacon_seq_ = 0;
  ProbeResult result_;
  uint64_t t_start_ = 0;
  uint32_t max_frame_ = 0;
};

}  // namespace shoal::probe
