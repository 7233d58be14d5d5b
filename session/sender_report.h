// The sender's reports, as pure functions over the core's receiver records and the session's
// totals: the end-of-run table (for people), the --json summary, and the Prometheus text served
// on --metrics. No I/O: the driver prints or serves what these return.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "session/sender_core.h"

namespace shoal::session {

using ReceiverRecords = std::map<uint32_t, ReceiverRecord>;

// What the session did, at its end.
struct SendTotals {
  std::string object_name;
  uint64_t object_bytes = 0;
  uint64_t session_id = 0;
  uint32_t passes = 0;
  uint64_t frames_sent = 0;
  uint64_t repair_frames = 0;        // multicast repair frames
  uint64_t interleaved_symbols = 0;  // of them: sent during passes for receivers' reports
  uint32_t symbol_size = 0;
  uint64_t start_ns = 0;        // when `shoal send` started
  uint64_t first_frame_ns = 0;  // when the first data frame went out (0: none)
  uint64_t data_start_ns = 0;   // when the first pass began
  std::optional<std::array<uint8_t, 32>> object_sha256;  // once hashed (streaming)
  double hash_seconds = 0;                  // the manifest's hashing (0: from the cache)
  uint64_t zero_blocks = 0;                 // all-zero blocks the first pass left out
  int stop_signal = 0;                      // SIGINT/SIGTERM aborted the session (0: none)
  uint64_t end_ns = 0;                      // when the report is made
  std::optional<nlohmann::json> rate_auto;  // --rate auto's summary
  std::vector<std::string> hosts_missing;   // --hosts entries that never joined (failed)
  // send - --size: the most of stdin the spool held at once, and its bound (--spool-max).
  std::optional<uint64_t> spool_peak_bytes, spool_max_bytes;
};

// The --json summary: session totals and "receivers" (admitted, not superseded), "ok", "failed".
nlohmann::json summary_json(const SendTotals& totals, const ReceiverRecords& receivers);

// The table printed at the end: a header line (after a blank line), one line per receiver and
// "N of M receivers verified the object; ..." .
std::string summary_table(const SendTotals& totals, const ReceiverRecords& receivers);

// The session as of now, for Prometheus.
struct MetricsSnapshot {
  uint64_t object_bytes = 0;
  uint64_t rate_bps = 0;
  uint64_t frames_sent = 0;    // including the running pass
  uint64_t repair_frames = 0;  // including the running pass
  uint32_t passes = 0;
  double data_seconds = 0;  // 0 before the data phase
  size_t joining = 0;       // connections still in their handshake
};

// Prometheus text format: the session's counters and every receiver's state.
std::string render_metrics(const MetricsSnapshot& snapshot, const ReceiverRecords& receivers);

}  // namespace shoal::session
