// `--events FILE`: what happens in a session as a stream of JSON objects, one per line (JSON
// Lines), each written and flushed when it happens, so a provisioning script can follow a session
// live (`shoal send ... --events - | jq ...`). The end-of-run summary stays with --json.
//
// Every line has "event", "t" (seconds since the stream was opened, monotonic clock) and "time"
// (UTC wall clock, ISO 8601 with milliseconds), then the event's own fields:
//   sender:   join {receiver, address}, start {object, bytes, blocks, session_id, receivers},
//             pass {pass, frames, repair_frames, seconds}, repair {pass, receivers,
//             multicast_symbols, unicast_symbols}, done {receiver}, fail {receiver, reason}, end
//             {ok, failed, passes}
//   receiver: join {sender, receiver_id}, start {object, bytes, blocks, session_id},
//             pass {pass, blocks_done, blocks}, done {out, sha256}, fail {reason}
// (session_id as 16 hex digits.) Not thread-safe: one writer thread.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "common/result.h"

namespace shoal {

class EventLog {
 public:
  EventLog() = default;  // closed: emit() does nothing

  // path "-" = stdout, "" = a closed log. Errors name the file.
  static Result<EventLog> open(const std::string& path);

  bool is_open() const { return out_ != nullptr; }
  void emit(const char* event, nlohmann::json fields = nlohmann::json::object());

 private:
  std::shared_ptr<std::FILE> out_;
  uint64_t t0_ns_ = 0;
};

// Wall-clock time: nanoseconds since the Unix epoch, and as UTC ISO 8601 with milliseconds
// ("2026-12-06T06:30:00.123Z"), as events carry it.
uint64_t unix_now_ns();
std::string utc_iso8601(uint64_t unix_ns);

// 16 lowercase hex digits, as session ids appear in logs and events.
std::string session_hex(uint64_t id);

// Lowercase hex of bytes (a SHA-256 digest: 64 digits).
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace shoal
