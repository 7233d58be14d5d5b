// What the receiver tells the person running it: the progress line on stderr and the JSON
// result (--json). Reads the core's counters; no protocol logic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "control/messages.h"
#include "session/receiver_core.h"

namespace shoal::session {

// The "  42.0%  21/50 blocks  1.2 Gbit/s  pass 1" line, redrawn at most every 250 ms.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  // `final_line` always draws and ends the line. `core` null: nothing to show yet.
  void update(const ReceiverCore* core, uint32_t passes, uint64_t start_ns, uint64_t now_ns,
              bool final_line);

 private:
  bool enabled_;
  uint64_t last_ns_ = 0;
};

struct ReceiverSummary {
  std::string outcome;                        // "done", "failed"
  std::string reason;                         // why it failed ("" when done)
  std::string out;                            // --out
  const control::Session* session = nullptr;  // null: none was described
  std::optional<control::Digest> sha256;      // the object's, from the sender's ManifestEnd
  const ReceiverCore* core = nullptr;         // null: the session never opened
  uint32_t passes = 0;
  double seconds = 0;         // from the session's start to Done (or to now)
  uint64_t socket_drops = 0;  // datagrams the kernel dropped: the receive thread fell behind
  int socket_buffer = 0;      // the receive buffer asked for, bytes
  // Peer repair: passes and symbols this receiver took from peers, and served to them.
  uint64_t peer_passes_taken = 0, peer_symbols_taken = 0;
  uint64_t peer_passes_served = 0, peer_symbols_served = 0;
};

// One warning, naming the fixes, when the kernel dropped datagrams on the data socket.
void warn_socket_drops(const ReceiverSummary& s);

// Writes the JSON result to `path` ("-" = one line on stdout, else a file, pretty-printed).
void write_receiver_json(const std::string& path, const ReceiverSummary& s);

}  // namespace shoal::session
