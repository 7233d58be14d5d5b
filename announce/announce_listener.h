// Hearing session announcements (announce/announce.h): the socket that joins the announce group,
// and the checks every receiver applies to what arrives there. Shared by `shoal recvd`
// (daemon/recv_daemon.h), which runs every session its policy accepts, and `shoal recv
// --announce` (announce/announce_wait.h), which joins the first one that matches.
//
// The checks, in order: the datagram decodes and is authentic as accept_unsigned_announcements()
// says (signed with one of the keys, or unsigned where that is allowed); it is fresh
// (AnnounceFilter: not a replay of an earlier announcement of its session, within the clock skew).
// What to do with an announcement that passes them (whether to join, where to write) is the
// caller's policy.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "announce/announce.h"
#include "common/fd.h"
#include "common/result.h"
#include "control/auth.h"

namespace shoal::announce {

// Which announcements a receiver with these options accepts:
//   keys, with or without TLS   only announcements signed with one of the keys;
//   TLS and no key              unsigned ones (signed ones cannot be verified: refused);
//   --insecure alone            unsigned ones.
// A forged unsigned announcement cannot get anything written: the session's control connection
// still has to pass the mutual TLS handshake (recv_daemon.h, "Authentication", says what it can
// do). Returns whether unsigned announcements are accepted, or an error naming the fix for a
// combination that cannot work: no key, no TLS and no --insecure; --insecure with a key or TLS.
Result<bool> accept_unsigned_announcements(size_t key_count, bool insecure, bool tls);

// What a receiver accepts: the keys announcements may be signed with, whether unsigned ones are
// accepted (accept_unsigned_announcements) and the AnnounceFilter's clock skew (0 = no check).
struct AnnounceChecks {
  std::vector<control::Key> keys;
  bool accept_unsigned = false;
  uint64_t max_skew_ms = 300'000;
};

// One datagram from the announce group, after the checks.
struct HeardAnnouncement {
  enum class Kind {
    kFresh,      // authentic and fresh: the caller's policy decides
    kRejected,   // does not decode, or is not authentic as this receiver requires
    kDuplicate,  // an announcement of its session was seen with this timestamp or a newer one
    kStale,      // its timestamp is beyond max_skew_ms from our clock
  };
  Kind kind = Kind::kRejected;
  Announcement announcement;  // all but kRejected
  int key_index = -1;         // kFresh: which key signed it; -1 = unsigned
  std::string source;         // the datagram's source address
  std::string sender;   // all but kRejected: the control ADDR:PORT (the source when it announced 0)
  std::string problem;  // kRejected, kStale: a log line saying why it was ignored and the fix
};

// Checks one datagram that came from `from`, `now_ms` being our wall clock (wall_clock_ms()).
// Pure apart from `filter`, which remembers the sessions seen.
HeardAnnouncement check_announcement(std::span<const uint8_t> datagram, const sockaddr_in& from,
                                     const AnnounceChecks& checks, AnnounceFilter& filter,
                                     uint64_t now_ms);

// A UDP socket in the announce group, and the checks of what arrives on it. Not thread-safe.
class AnnounceListener {
 public:
  // group_port: "GROUP:PORT" or "GROUP" (port 9001). iface "" = the group is joined where routing
  // says. Errors name the bad option (--announce, --iface) or the failing call, with the fix.
  static Result<std::unique_ptr<AnnounceListener>> open(const std::string& group_port,
                                                        const std::string& iface,
                                                        AnnounceChecks checks);
  // Readable (POLLIN) when datagrams wait.
  int fd() const { return fd_.get(); }
  // Reads up to `max` waiting datagrams without blocking, checks each and hands it to on_heard.
  void drain(const std::function<void(const HeardAnnouncement&)>& on_heard, int max = 64);

 private:
  AnnounceListener(Fd fd, AnnounceChecks checks)
      : fd_(std::move(fd)), checks_(std::move(checks)), filter_(checks_.max_skew_ms) {}
  Fd fd_;
  AnnounceChecks checks_;
  AnnounceFilter filter_;
};

}  // namespace shoal::announce
