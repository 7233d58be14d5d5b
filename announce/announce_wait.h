// `shoal recv --announce`: a receiver that does not know its sender's address waits for the first
// announced session that passes the checks every receiver applies (announce/announce_listener.h:
// authentic, fresh) and whose object name matches --object, then joins it as --sender would.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "announce/announce_listener.h"
#include "common/result.h"

namespace shoal::announce {

// The session an announcement offered: where to connect and which session to accept there.
struct AnnouncedSession {
  uint64_t session_id = 0;
  std::string sender;  // control ADDR:PORT
  std::string object_name;
  uint64_t object_size = 0;
  int key_index = -1;         // which key signed the announcement; -1 = unsigned
  std::string target_policy;  // send --target ("" = none): object/target_disk.h
};

// Which announcement to take, without I/O: the first fresh one whose object name matches
// `object_glob` (a shell glob, fnmatch; "" = any). Remembers what it passed over, for the
// message when nothing was taken. Not thread-safe.
class AnnouncementChoice {
 public:
  struct Decision {
    std::optional<AnnouncedSession> join;  // take this one
    std::string note;                      // "" = nothing new to log; else log it once
    bool warning = false;                  // note is a warning (a rejected or stale announcement)
  };

  explicit AnnouncementChoice(std::string object_glob) : glob_(std::move(object_glob)) {}
  Decision consider(const HeardAnnouncement& h);
  // Why nothing was taken, from what was heard: sessions of other objects, rejected or stale
  // announcements, or none at all (then the likely causes).
  std::string nothing_taken() const;

 private:
  std::string glob_;
  std::set<uint64_t> other_sessions_;  // fresh, but not matching the glob
  std::set<std::string> other_names_;  // their object names (printable)
  std::set<std::string> problems_;     // rejected and stale ones, as logged
  uint64_t rejected_ = 0, stale_ = 0;
};

// Listens on `listener` until AnnouncementChoice(object_glob) takes an announcement, logging what
// it passes over (once each), for at most timeout_ns. Errors: the timeout ran out (the message
// says what was heard instead), or poll failed. `group` is the --announce text, for messages.
Result<AnnouncedSession> wait_for_announced_session(AnnounceListener& listener,
                                                    const std::string& group,
                                                    const std::string& object_glob,
                                                    uint64_t timeout_ns);

}  // namespace shoal::announce
