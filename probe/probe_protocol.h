// The `shoal probe` protocol: the bodies of control::Probe messages (TCP, after the join
// handshake) and the payload of PROBE data frames (engine/wire.h type 3, UDP).
//
// Conversation (S = `shoal probe`, R = an ordinary `shoal recv`):
//   S -> R  Start     probe id, group, port: join the group, open a unicast socket
//   S       beacons   PROBE frames of step kBeaconStep on the group, every 20 ms
//   R -> S  Joined    after the first beacon, or after 3 s without one (heard = 0), with the
//                     unicast port and the interface the receiver joined on
//   S       step      PROBE frames of one step (multicast on the group, or unicast to one
//                     receiver), paced at the step's rate
//   S -> R  StepEnd   the step is over; R drains its sockets, then
//   R -> S  Report    what it received of that step
//   S -> R  End       the verdict as text; R logs it and exits 0
//
// Body encoding: big-endian integers, strings as u16 length + bytes, fixed field order, no
// trailing bytes. Decoders are pure functions over a byte span: they never read outside it, and
// reject unknown kinds, truncated or over-long bodies, out-of-range values and trailing bytes with
// a message naming the field. A decoded body re-encodes to the same bytes.
//
// PROBE frame (wire.h header fields): session = probe id, block = step, sequence = index of the
// frame within its step (from 0), k = 1, esi = 0. Payload (>= kProbePayloadMin bytes):
//   off size field
//   0   4    magic "SHP1"
//   4   8    send time, ns on the sender's CLOCK_MONOTONIC (only differences are meaningful)
//   12  1    kind: ProbeFrameKind
//   13  3    zero
//   16  ...  padding (any bytes; the sender writes zeros) up to the step's frame size
//
// Probe frames are CRC-checked but not authenticated: a host on the segment could forge them and
// skew a measurement (never a data transfer). The random probe id keeps stale and foreign frames
// out.
//
// Thread-safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "control/messages.h"

namespace shoal::probe {

// Step id of the beacons that tell a receiver the group reaches it.
inline constexpr uint32_t kBeaconStep = 0xFFFFFFFF;
inline constexpr size_t kProbePayloadMin = 16;
inline constexpr size_t kMaxProbeText = 1024;  // End.summary, Joined.iface

enum class ProbeKind : uint8_t {
  kStart = 1,
  kJoined = 2,
  kStepEnd = 3,
  kReport = 4,
  kEnd = 5,
};

// S -> R: join group:port and get ready for the steps.
struct ProbeStart {
  uint64_t probe_id = 0;
  uint32_t group_ipv4 = 0;  // host byte order
  uint16_t port = 0;
  bool operator==(const ProbeStart&) const = default;
};

// R -> S: joined; heard says whether a beacon arrived (false: multicast does not reach it).
struct ProbeJoined {
  bool heard = false;         // wire u8, 0 or 1
  uint16_t unicast_port = 0;  // UDP port of the receiver's unicast socket (non-zero)
  uint32_t iface_ipv4 = 0;    // address of the interface it joined on (0 = unknown)
  uint32_t iface_mtu = 0;     // that interface's MTU (0 = unknown)
  std::string iface;          // its name ("" = unknown)
  bool operator==(const ProbeJoined&) const = default;
};

// S -> R: step `step` is over; the sender put frames_sent frames on the wire.
struct ProbeStepEnd {
  uint32_t step = 0;
  uint64_t frames_sent = 0;
  bool operator==(const ProbeStepEnd&) const = default;
};

// R -> S: what the receiver saw of one step (see probe_stats.h for the definitions).
struct ProbeReport {
  uint32_t step = 0;
  uint64_t received = 0;     // distinct frames
  uint64_t duplicated = 0;   // extra copies of frames already received
  uint64_t reordered = 0;    // frames that arrived after a frame sent later
  bool has_delay = false;    // wire u8; false when nothing arrived (delays then 0)
  int64_t delay_min_ns = 0;  // min and max of (receive time - send time), on unaligned clocks
  int64_t delay_max_ns = 0;
  uint64_t socket_drops = 0;  // datagrams the receiver's kernel dropped (receive queue full)
  uint64_t rejected = 0;      // datagrams on the group that were not valid frames of this probe
  bool operator==(const ProbeReport&) const = default;
};

// S -> R: the probe is over; summary is the verdict for the receiver's log.
struct ProbeEnd {
  std::string summary;
  bool operator==(const ProbeEnd&) const = default;
};

using ProbeMessage = std::variant<ProbeStart, ProbeJoined, ProbeStepEnd, ProbeReport, ProbeEnd>;

// The Probe control message carrying `message`. Strings longer than kMaxProbeText are cut.
control::Probe encode_probe(const ProbeMessage& message);

// Decodes a Probe control message. Errors: unknown kind, truncated body, invalid field (a bool
// other than 0/1, unicast port 0, delay min > max, nonzero delays without has_delay), trailing
// bytes.
Result<ProbeMessage> decode_probe(const control::Probe& probe);
Result<ProbeMessage> decode_probe(uint8_t kind, std::span<const uint8_t> body);

const char* probe_kind_name(uint8_t kind);  // "Start", ...; "unknown"

enum class ProbeFrameKind : uint8_t {
  kBeacon = 0,
  kMulticast = 1,
  kUnicast = 2,
  kMtu = 3,
};

struct ProbePayload {
  uint64_t send_ns = 0;
  ProbeFrameKind kind = ProbeFrameKind::kMulticast;
  bool operator==(const ProbePayload&) const = default;
};

// Writes the 16 payload fields into out[0..16); returns false (writing nothing) when out is
// shorter than kProbePayloadMin. The caller owns the padding after them. Hot path: no allocation.
bool encode_probe_payload(const ProbePayload& payload, std::span<uint8_t> out) noexcept;

// Decodes a frame's payload; false when it is shorter than kProbePayloadMin, the magic is wrong,
// the kind unknown or the zero bytes are not zero. Hot path: no allocation.
bool decode_probe_payload(std::span<const uint8_t> payload, ProbePayload& out) noexcept;

}  // namespace shoal::probe
