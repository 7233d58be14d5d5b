// What `shoal recvd` says about itself, for monitoring: sessions and hooks by outcome, bytes
// received, the sessions running, the last success and the last failure. Pure: the daemon tells
// it what happened and when (Unix time in ns); it renders the Prometheus text (--metrics), the
// status document (--status, rewritten on every change; --json, written at exit) and the fields
// of each --events record. Not thread-safe: the daemon's loop owns it.
//
// Status document (JSON): pid, started, updated (ISO 8601 UTC), announce, state ("listening",
// "stopping"), running [{session_id, object, dest, sender, bytes, started}], totals {sessions
// {started, verified, failed, abandoned, refused}, hooks {ok, failed}, announcements {rejected,
// stale}, bytes_received}, last_success {time, session_id, object, dest, sha256, bytes,
// seconds} or null, last_failure {time, session_id, object, dest, reason} or null.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace shoal::daemon {

struct RecvdSession {
  uint64_t session_id = 0;
  std::string object, dest, sender;
  uint64_t bytes = 0;  // the announced size
};

// How a session ended, from the child's exit and its JSON result.
struct RecvdSessionEnd {
  enum class Outcome { kVerified, kFailed, kAbandoned };
  Outcome outcome = Outcome::kFailed;
  std::string reason;          // failed: the receiver's words (or the exit status)
  std::string sha256;          // verified: the object's
  uint64_t bytes_written = 0;  // what the session wrote (resumed data not counted)
};

class RecvdStatus {
 public:
  RecvdStatus(int pid, std::string announce, uint64_t started_ns);

  // Announcements not taken: "rejected" (not authentic) or "stale" (a replay).
  void on_announcement(const char* outcome);
  void on_refused();  // an announced session the policy refused
  // Fields of the --events record ("session_start", "session_end", "hook").
  nlohmann::json on_session_started(int child, const RecvdSession& s, uint64_t now_ns);
  nlohmann::json on_session_ended(int child, const RecvdSessionEnd& end, uint64_t now_ns);
  nlohmann::json on_hook_ended(const std::string& dest, bool ok);
  void on_stopping() { stopping_ = true; }

  std::string metrics() const;
  nlohmann::json status(uint64_t now_ns) const;
  size_t running() const { return running_.size(); }

 private:
  struct Running {
    RecvdSession session;
    uint64_t started_ns;
  };
  int pid_;
  std::string announce_;
  uint64_t started_ns_;
  bool stopping_ = false;
  std::map<int, Running> running_;          // by child pid
  std::map<std::string, uint64_t> counts_;  // "event/outcome" -> count
  uint64_t bytes_received_ = 0;
  uint64_t last_success_ns_ = 0, last_failure_ns_ = 0;
  nlohmann::json last_success_, last_failure_;  // null until one
};

}  // namespace shoal::daemon
