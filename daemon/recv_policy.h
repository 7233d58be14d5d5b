// The policy half of `shoal recvd` (daemon/recv_daemon.h), without I/O: where an announced object
// may go (--map rules, safe names) and which sessions may start (SessionTable). Unit-tested in
// tests/daemon.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::daemon {

// One destination rule: objects whose name matches `pattern` (a shell glob, fnmatch) go to `dest`:
// a path, a block device, or, when it ends in '/', a directory the object's name is appended to.
struct MapRule {
  std::string pattern;
  std::string dest;
};

// "PATTERN=DEST" (the first '=' splits). Errors name the text.
Result<MapRule> parse_map_rule(std::string_view text);

// A name that is safe as a file name: 1..255 bytes, no '/', no control characters, not starting
// with '.' (which also excludes "." and "..", and the receiver's hidden temporary files).
bool safe_object_name(std::string_view name);

// The destination of the first rule matching `name`, or nullopt when no rule matches.
std::optional<std::string> destination_for(const std::vector<MapRule>& rules,
                                           const std::string& name);

// The daemon's bookkeeping of sessions, without I/O: what to do with a fresh, verified
// announcement, and which destinations and slots are in use. Not thread-safe.
class SessionTable {
 public:
  enum class Kind { kStart, kIgnore, kRefuse, kBusy };
  struct Decision {
    Kind kind = Kind::kIgnore;
    std::string dest;    // kStart: where the object goes
    std::string reason;  // kRefuse, kBusy: why
    bool first = false;  // the first time this session got this kind of answer (log it)
  };

  SessionTable(std::vector<MapRule> rules, unsigned max_sessions, size_t capacity = 4096)
      : rules_(std::move(rules)), max_sessions_(max_sessions), capacity_(capacity) {}

  // kStart marks the session running. A session already started, finished or refused gives
  // kIgnore.
  Decision consider(uint64_t session_id, const std::string& name);
  // The session's child ended (whatever the outcome): frees its slot and destination.
  void finished(uint64_t session_id);
  unsigned running() const { return running_; }

 private:
  enum class State { kBusy, kRunning, kFinished, kRefused };
  struct Entry {
    State state;
    std::string dest;
    std::string busy_reason;
    uint64_t order;
  };
  void prune();

  std::vector<MapRule> rules_;
  unsigned max_sessions_;
  size_t capacity_;
  std::map<uint64_t, Entry> sessions_;
  unsigned running_ = 0;
  uint64_t counter_ = 0;
};

}  // namespace shoal::daemon
