// `shoal probe`: measures how fast multicast really gets through to the receivers that join
// (they run the ordinary `shoal recv`), and recommends a --rate.
//
// After the join (same control plane, same key as a session) it sends the receivers Probe
// messages instead of a Session, beacons on the group until each says whether it hears it, then
// runs paced steps of PROBE frames: a geometric search up from --from, then a bisection near the
// knee (probe/probe_search.h), each step --dwell long, each receiver reporting what it got
// (probe/probe_stats.h). Then a unicast burst to each receiver at the same rate as a multicast
// reference step, 10% above the lowest failing rate (omping's comparison), and an MTU check (frames
// as large as the sender's interface allows vs 1400-byte frames). Output: a table, --json, --csv
// and an SVG plot (probe/probe_report.h, probe/probe_svg.h). Rates are counted like --rate: UDP
// payload plus 42 bytes of UDP/IP/Ethernet header per frame.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "control/admission.h"
#include "control/auth.h"
#include "control/tls.h"
#include "engine/transport_select.h"
#include "probe/probe_report.h"

namespace shoal::probe {

struct ProbeOptions {
  std::string group = "239.255.0.1";
  uint16_t port = 9000;
  std::string iface;                    // "" = the interface that routes to the group
  std::string listen = "0.0.0.0:9100";  // control-plane TCP address
  std::optional<control::Key> key;
  bool insecure = false;
  control::TlsFiles tls;  // TLS 1.3 on the control connections, as for `shoal send`
  control::AdmissionOptions
      admission;  // --allow, --handshake-timeout, --max-receivers, as for send
  uint32_t min_receivers = 1;
  uint64_t max_wait_ns = 30'000'000'000;
  uint64_t from_bps = 50'000'000;
  uint64_t to_bps = 10'000'000'000;
  uint64_t dwell_ns = 1'000'000'000;  // per search step
  double loss_threshold = 0.001;      // a step passes when every receiver lost at most this
  double headroom = 0.9;              // recommended rate = highest passing rate x this
  uint32_t symbol_size = 1408;        // search frames carry 32 + symbol_size bytes, like data
  uint64_t burst_bytes = 0;  // pacer burst, 0 = as `shoal send` (engine::default_burst_bytes)
  int ttl = 1;
  bool loopback = false;
  engine::TransportChoice transport;  // --transport, --dpdk, --dpdk-port
  bool realtime = true;
  bool unicast_check = true;
  bool mtu_check = true;
  std::string json_path;  // "-" = stdout
  std::string csv_path;
  std::string plot_path;  // SVG
};

// How a probe ended. `shoal probe` exits 0 when a rate was measured and recommended and every
// output file was written, 2 for bad input, 1 otherwise.
struct ProbeOutcome {
  enum class Kind {
    kMeasured,  // the search ran: `result` holds it (recommended_bps == 0: no rate passed)
    kFailed,    // no receiver joined, or the control plane could not start
    kBadInput,  // options, files or the transport were refused before anything was sent
  };
  Kind kind = Kind::kFailed;
  bool outputs_written = true;  // --json, --csv and --plot (when asked for) were written
  ProbeResult result;
};

// Runs the probe; what went wrong is logged as it happens.
ProbeOutcome run_probe(const ProbeOptions& options);

}  // namespace shoal::probe
