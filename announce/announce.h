// Session announcements: how `shoal send --announce` tells waiting `shoal recvd` daemons that a
// session is open and where its control port is, so receivers need no --sender.
//
// One UDP datagram to the announce group (default 239.255.0.2:9001), sent about twice a second
// during the sender's join phase, each time with a fresh nonce and timestamp:
//
//   off  size  field (integers big-endian)
//   0    4     magic "SHAN"
//   4    1     version = 1
//   5    1     flags: bit0 SIGNED (the tag is an HMAC under the pre-shared key; without it the
//              tag is 32 zero bytes: a sender without a key, --insecure or TLS alone); other
//              bits must be 0
//   6    2     name length N (1..256)
//   8    8     session id (the one the Session message will carry)
//   16   8     timestamp: the sender's wall clock, milliseconds since the Unix epoch
//   24   16    nonce: random per datagram
//   40   4     control IPv4 address (0 = the datagram's source address)
//   44   2     control TCP port (1..65535)
//   46   2     target policy length T (0..256; 0 = none)
//   48   8     object size in bytes
//   56   N     object name (UTF-8, no NUL)
//   56+N T     target policy (`send --target`, object/target_disk.h: which disk a receiver that
//              takes its target from the announcement writes to; no NUL)
//   56+N+T 32  tag = HMAC-SHA256(PSK, "shoal-v1 announce" || bytes 0 .. 56+N+T)
//
// The datagram's length must be exactly 56 + N + T + 32. (Offset 46 was reserved, 0, before the
// target policy: older receivers refuse announcements that carry one.) The label keeps an
// announcement tag from being usable as a handshake proof (which use "shoal-v1 server"/"client")
// and vice versa. An announcement only says where to connect: the receiver still runs the mutual
// handshake (PSK and/or TLS certificates), so a forged or replayed announcement can at worst make a
// daemon try to join a session it cannot complete. Which announcements a daemon accepts, signed or
// unsigned, is its policy (daemon/recv_daemon.h, accept_unsigned_announcements). Receivers drop
// replays with AnnounceFilter (timestamps and per-session ordering).
//
// encode/decode and AnnounceFilter are pure (no I/O); Announcer owns a socket.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "control/auth.h"

namespace shoal::announce {

inline constexpr size_t kAnnounceHeaderSize = 56;
inline constexpr size_t kAnnounceTagSize = 32;
inline constexpr size_t kAnnounceMaxName = 256;
inline constexpr size_t kAnnounceMaxTarget = 256;
inline constexpr size_t kAnnounceMaxSize =
    kAnnounceHeaderSize + kAnnounceMaxName + kAnnounceMaxTarget + kAnnounceTagSize;
inline constexpr uint8_t kAnnounceVersion = 1;
inline constexpr uint8_t kAnnounceSigned = 0x01;
inline constexpr const char* kDefaultAnnounceGroup = "239.255.0.2:9001";
inline constexpr uint64_t kAnnounceIntervalNs = 500'000'000;

struct Announcement {
  uint64_t session_id = 0;
  uint64_t timestamp_ms = 0;  // sender's wall clock, ms since the Unix epoch
  std::array<uint8_t, 16> nonce{};
  uint32_t control_ipv4 = 0;  // host order; 0 = use the datagram's source address
  uint16_t control_port = 0;
  uint64_t object_size = 0;
  std::string object_name;
  std::string target_policy;  // "" = none
};

// Writes the datagram into `out`, signed with `key` (nullopt: unsigned, for a sender without a
// key). Returns its length, or 0 when the name is empty or longer than 256 bytes, the target
// policy is longer than 256 bytes, the port is 0, or `out` is shorter than the datagram. Throws
// std::runtime_error only if OpenSSL's HMAC fails.
size_t encode_announcement(const Announcement& a, const std::optional<control::Key>& key,
                           std::span<uint8_t> out);

struct VerifiedAnnouncement {
  Announcement announcement;
  int key_index = -1;  // which of the keys signed it; -1 = unsigned (accepted only when allowed)
};

// Parses with bounds checks and verifies the tag against each key in turn (constant-time
// comparison). Errors say why: truncated or over-long, bad magic/version/flags/lengths, a name with
// a NUL, "unsigned" when unsigned ones are not accepted, or "not signed with any of our keys".
Result<VerifiedAnnouncement> decode_announcement(std::span<const uint8_t> datagram,
                                                 std::span<const control::Key> keys,
                                                 bool accept_unsigned);

// Drops announcements that are stale or replayed. A sender sends each session's announcements
// with increasing timestamps, so one whose timestamp is not newer than the last seen for its
// session is a duplicate (a replayed datagram, or one the network delivered twice). With
// max_skew_ms > 0, one whose timestamp is further than that from the receiver's clock is stale (a
// replay of an old session, or clocks out of step); 0 turns that check off for machines without
// a synchronised clock. Remembers at most `capacity` sessions, forgetting the oldest-seen first.
class AnnounceFilter {
 public:
  enum class Verdict { kFresh, kDuplicate, kStale };
  explicit AnnounceFilter(uint64_t max_skew_ms, size_t capacity = 4096)
      : max_skew_ms_(max_skew_ms), capacity_(capacity) {}
  Verdict check(uint64_t session_id, uint64_t timestamp_ms, uint64_t now_ms);

 private:
  uint64_t max_skew_ms_;
  size_t capacity_;
  std::map<uint64_t, uint64_t> last_ts_;  // session -> newest timestamp seen
  std::map<uint64_t, uint64_t> order_;    // first-arrival counter -> session (oldest first)
  uint64_t arrivals_ = 0;
};

// The sender's side: a UDP socket towards the announce group and the announcement to repeat.
class Announcer {
 public:
  // group_port: "GROUP:PORT" (port defaults to 9001). iface "" = routing decides. ttl and loopback
  // as for the data (an announcement must reach the receivers the data reaches). Errors name the
  // bad option or the failing socket call.
  static Result<std::unique_ptr<Announcer>> open(const std::string& group_port,
                                                 const std::string& iface, int ttl, bool loopback,
                                                 Announcement what,
                                                 std::optional<control::Key> key);
  // Sends a fresh copy (new nonce and timestamp) when kAnnounceIntervalNs passed since the last.
  // A send error is logged once and otherwise ignored (announcements are repeated anyway).
  void tick(uint64_t now_ns);
  uint64_t sent() const { return sent_; }  // datagrams the kernel took

 private:
  Announcer() = default;
  Fd fd_;
  Announcement what_;
  std::optional<control::Key> key_;
  uint64_t last_ns_ = 0;
  bool started_ = false;
  uint64_t sent_ = 0;
  bool warned_ = false;
};

// For the sender (a small call in its join phase): the announcer of one session, or nullptr when
// `group_port` is empty (no --announce). `listen` is the --listen text (address 0.0.0.0 is
// announced as 0: "connect to where this came from"), `bound_port` the listener's actual port.
// key nullopt = unsigned announcements (a sender without a key: --insecure, or TLS alone).
Result<std::unique_ptr<Announcer>> announce_session(
    const std::string& group_port, const std::string& iface, int ttl, bool loopback,
    const std::string& listen, uint16_t bound_port, uint64_t session_id, uint64_t object_size,
    const std::string& object_name, const std::string& target_policy,
    const std::optional<control::Key>& key);

inline constexpr uint16_t kDefaultAnnouncePort = 9001;

// "GROUP:PORT" or "GROUP" (port 9001) -> address and port. Errors name the text.
Result<sockaddr_in> parse_announce_group(const std::string& text);

// Milliseconds since the Unix epoch (CLOCK_REALTIME).
uint64_t wall_clock_ms();

}  // namespace shoal::announce
