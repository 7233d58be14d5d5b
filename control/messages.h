// Control-plane messages exchanged over the TCP connection between the sender (S) and each
// receiver (R), their wire encoding, and a splitter that cuts a TCP byte stream into messages.
//
// Framing: u32 length (big-endian; the number of bytes that follow, 2..kMaxMessageSize), then
// u8 version (= kProtocolVersion), u8 type, then the body. All integers are big-endian. A string
// is u16 length + bytes; an array is u32 count + elements. Struct field order is wire order.
//
// The decoder is a pure function over a byte span: it never reads outside the span and returns
// either a message or an error naming the message, the field and the problem. It checks
// structure (lengths, counts, enumerations, trailing bytes), not session semantics (e.g. that a
// group address is multicast): the session layer checks those.
//
// Thread-safety: all functions are reentrant; FrameSplitter is a plain value (one per stream).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace shoal::control {

inline constexpr uint8_t kProtocolVersion = 1;
// Bytes after the length prefix (version + type + body), at most.
inline constexpr size_t kMaxMessageSize = size_t{1} << 20;
inline constexpr size_t kLengthPrefixSize = 4;
inline constexpr size_t kMinMessageSize = 2;  // version + type
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kProofSize = 32;
inline constexpr size_t kDigestSize = 32;
inline constexpr size_t kMaxNameLength = 256;     // receiver and object names
inline constexpr size_t kMaxReasonLength = 1024;  // human-readable reasons
// A symbol (<= 9000 bytes), or in sessions with authenticated frames a whole data frame
// (32-byte header + symbol + tag <= 32 bytes), as on the multicast wire.
inline constexpr size_t kMaxRepairPayload = 9064;

using Nonce = std::array<uint8_t, kNonceSize>;
using Proof = std::array<uint8_t, kProofSize>;
using Digest = std::array<uint8_t, kDigestSize>;  // SHA-256

enum class MessageType : uint8_t {
  kHello = 1,
  kChallenge = 2,
  kAuth = 3,
  kAccept = 4,
  kReject = 5,
  kSession = 6,
  kManifest = 7,
  kReady = 8,
  kPassEnd = 9,
  kNak = 10,
  kRepair = 11,
  kDone = 12,
  kBye = 13,
  kKeyGrant = 14,
  kProbe = 15,
  kFeedback = 16,
  kProgress = 17,
  kManifestEnd = 18,
  kHorizon = 19,
  kFetch = 20,
  kRelaying = 21,
  kDownstream = 22,
  kPeerOffer = 23,
  kPeerAssign = 24,
  kPeerFailed = 25,
};

// Hello.flags / Challenge.flags: the side has no key and runs unauthenticated (--insecure).
inline constexpr uint8_t kFlagInsecure = 0x01;

// R->S, first message. Wire: nonce[32], u8 flags, string name, u8 extension count (must be 0 in
// version 1; reserved so resume information can be added as TLVs without a new version).
struct Hello {
  static constexpr MessageType kType = MessageType::kHello;
  Nonce client_nonce{};
  uint8_t flags = 0;  // only kFlagInsecure is defined; other bits are rejected
  std::string receiver_name;
  bool operator==(const Hello&) const = default;
};

// S->R. server_proof is all zero when the sender is insecure.
struct Challenge {
  static constexpr MessageType kType = MessageType::kChallenge;
  Nonce server_nonce{};
  uint8_t flags = 0;
  Proof server_proof{};
  bool operator==(const Challenge&) const = default;
};

// R->S.
struct Auth {
  static constexpr MessageType kType = MessageType::kAuth;
  Proof client_proof{};
  bool operator==(const Auth&) const = default;
};

// S->R: the receiver joined.
struct Accept {
  static constexpr MessageType kType = MessageType::kAccept;
  uint32_t receiver_id = 0;
  bool operator==(const Accept&) const = default;
};

// S->R: the receiver is refused; the sender closes the connection after it.
struct Reject {
  static constexpr MessageType kType = MessageType::kReject;
  std::string reason;
  bool operator==(const Reject&) const = default;
};

// S->R: parameters of the multicast session and of the object.
struct Session {
  static constexpr MessageType kType = MessageType::kSession;
  uint64_t session_id = 0;
  uint32_t group_ipv4 = 0;  // host byte order (e.g. 0xEF010203 = 239.1.2.3)
  uint16_t port = 0;
  uint8_t ttl = 0;
  uint64_t rate_bps = 0;
  uint16_t symbol_size = 0;
  uint8_t k = 0;
  uint8_t proactive_repair = 0;
  uint64_t object_size = 0;
  uint32_t block_count = 0;
  std::string object_name;
  // How the object's bytes are to be read (kObjectFormat* bits; 0 = the bytes are the object).
  // Wire: u8 after object_name. The decoder accepts any bits; a receiver refuses bits it does
  // not implement with a reason (object/object_format.h), so a newer format fails clearly.
  uint8_t object_format = 0;
  // Receivers send a Progress report at most this often while data flows (0: none). The sender
  // lengthens it as receivers grow in number, to bound the reports it takes per second.
  uint16_t progress_interval_ms = 0;
  bool operator==(const Session&) const = default;
};
// Session.object_format bits (formats in docs/protocol.md section 8, object/object_format.h).
inline constexpr uint8_t kObjectFormatTree = 0x01;  // a packed directory tree (tree_pack.h)
inline constexpr uint8_t kObjectFormatZstd = 0x02;  // chunked zstd with holes (chunk_codec.h)

// A manifest message's authenticator (session/manifest_seal.h; zero without a channel key).
inline constexpr size_t kManifestTagSize = 16;
using ManifestTag = std::array<uint8_t, kManifestTagSize>;

// S->R: SHA-256 of blocks first_block .. first_block + block_hashes.size() - 1. Sent after the
// KeyGrant, in block order, ahead of the data they cover (the sender hashes while it sends).
struct Manifest {
  static constexpr MessageType kType = MessageType::kManifest;
  uint32_t first_block = 0;
  std::vector<Digest> block_hashes;
  ManifestTag tag{};
  bool operator==(const Manifest&) const = default;
};

// S->R: every block hash was sent. object_sha256 is the plain SHA-256 of the whole object (as
// sent), computed in the same read as the block hashes: what users and hooks compare against.
// Receivers verify blocks, never re-read the object for it. Precedes any PassEnd.
struct ManifestEnd {
  static constexpr MessageType kType = MessageType::kManifestEnd;
  Digest object_sha256{};
  ManifestTag tag{};
  bool operator==(const ManifestEnd&) const = default;
};

// R->S: joined the group, ready for data. beacon_echo repeats the nonce of the sender's beacon
// the receiver heard on the group (0 = it heard none: multicast does not reach it).
struct Ready {
  static constexpr MessageType kType = MessageType::kReady;
  uint64_t beacon_echo = 0;
  bool operator==(const Ready&) const = default;
};

// S->R: multicast pass `pass` is over; receivers answer with a Nak.
struct PassEnd {
  static constexpr MessageType kType = MessageType::kPassEnd;
  uint32_t pass = 0;
  uint64_t frames_sent = 0;
  bool operator==(const PassEnd&) const = default;
};

// Blocks first_block .. first_block + count - 1 each lack `missing` symbols (255 = whole block or
// more than 254).
struct NakRun {
  uint32_t first_block = 0;
  uint32_t count = 0;
  uint8_t missing = 0;
  bool operator==(const NakRun&) const = default;
};
inline constexpr uint8_t kMissingWholeBlock = 255;
// A Nak for this pass number is sent once, before Ready: what the receiver lacks at the start
// (everything, or less when it resumes), so the first pass skips blocks no receiver needs.
inline constexpr uint32_t kInitialPass = 0xFFFFFFFF;

// R->S after a PassEnd. Runs are non-empty (count >= 1, missing >= 1), in ascending block order
// and do not overlap; the decoder enforces this so the repair planner can rely on it. A Nak with
// no runs says "nothing missing". Stats count since the previous Nak.
struct Nak {
  static constexpr MessageType kType = MessageType::kNak;
  uint32_t pass = 0;
  std::vector<NakRun> runs;
  uint64_t frames_received = 0;
  uint64_t frames_rejected = 0;  // bad CRC / foreign session
  bool operator==(const Nak&) const = default;
};

// S->R: one repair symbol sent over TCP (unicast residual repair). `payload` is a view: after
// decode_body it points into the decoded buffer and is valid only as long as that buffer is.
struct Repair {
  static constexpr MessageType kType = MessageType::kRepair;
  uint32_t block = 0;
  uint8_t esi = 0;                         // encoding symbol index
  std::span<const uint8_t> payload;        // <= kMaxRepairPayload bytes
  bool operator==(const Repair& o) const;  // compares payload bytes, not addresses
};

// R->S: the receiver's outcome.
struct Done {
  static constexpr MessageType kType = MessageType::kDone;
  bool ok = false;  // wire u8, 0 or 1
  std::string reason;
  uint64_t bytes_written = 0;
  uint64_t frames_received = 0;
  uint64_t frames_rejected = 0;
  uint64_t symbols_lost = 0;  // estimate
  uint64_t repair_symbols_multicast = 0;
  uint64_t repair_symbols_unicast = 0;
  uint64_t elapsed_ns = 0;
  bool operator==(const Done&) const = default;
};

enum class ByeCode : uint8_t { kFinished = 0, kAborted = 1, kFailedReceiver = 2 };

// S->R: the sender ends the session for this receiver.
struct Bye {
  static constexpr MessageType kType = MessageType::kBye;
  ByeCode code = ByeCode::kFinished;
  std::string reason;
  bool operator==(const Bye&) const = default;
};

// How data frames are protected (KeyGrant.suite).
enum class FrameSuite : uint8_t {
  kNone = 0,     // no tag (sender ran with --no-frame-auth)
  kGmac = 1,     // AES-256-GCM tag over header and payload, payload in the clear
  kAeadGcm = 2,  // AES-256-GCM: payload encrypted, tag over header and ciphertext
};
// How KeyGrant.key is protected on the control channel (KeyGrant.wrap).
enum class KeyWrap : uint8_t {
  kClear = 0,    // no channel secret (--insecure without TLS): the key is sent as is
  kChannel = 1,  // AES-256-GCM under the channel key (from the PSK handshake and/or TLS)
};
inline constexpr size_t kDataKeySize = 32;
inline constexpr size_t kWrapIvSize = 12;
inline constexpr size_t kWrapTagSize = 16;

// S->R after the manifest: the session's data key. With kChannel, `key` is ciphertext and `tag`
// authenticates it together with the session description and the manifest (see
// session/session_keys.h), so an on-path attacker can neither read the key nor alter the object
// the receiver will accept.
struct KeyGrant {
  static constexpr MessageType kType = MessageType::kKeyGrant;
  FrameSuite suite = FrameSuite::kGmac;
  KeyWrap wrap = KeyWrap::kChannel;
  std::array<uint8_t, kWrapIvSize> iv{};
  std::array<uint8_t, kDataKeySize> key{};
  std::array<uint8_t, kWrapTagSize> tag{};
  bool operator==(const KeyGrant&) const = default;
};

inline constexpr size_t kMaxProbeBody = 65536;
// Either direction: a `shoal probe` message. The body's layout belongs to the probe protocol
// (probe/probe_protocol.h); the control plane only frames it.
struct Probe {
  static constexpr MessageType kType = MessageType::kProbe;
  uint8_t kind = 0;
  std::vector<uint8_t> body;  // <= kMaxProbeBody bytes
  bool operator==(const Probe&) const = default;
};

// R->S, periodically while data flows (rate control): counters since the session started.
// Loss over an interval = 1 - delta(data_frames) / delta(highest_sequence).
struct Feedback {
  static constexpr MessageType kType = MessageType::kFeedback;
  uint64_t data_frames = 0;       // authenticated data frames of this session received
  uint32_t highest_sequence = 0;  // highest data-frame sequence number seen
  uint64_t frames_rejected = 0;   // datagrams dropped as malformed, unauthenticated or replayed
  bool operator==(const Feedback&) const = default;
};

// R->S while a multicast pass runs (NORM's shape, RFC 5740): the blocks this receiver still lacks
// below the block of the newest data frame it has seen, so the sender can interleave fresh repair
// rows with new data instead of waiting for the pass to end. `highest_sequence` lets the sender
// tell a loss from a frame still in flight: it repairs block b only if every frame it has sent
// for b is older than that sequence. Runs as in Nak (ascending, non-empty, non-overlapping);
// `data_frames` (authentic data frames received so far) gives the sender this receiver's
// delivery ratio. `complete_below`: every block below it is complete here (all its symbols in
// hand); a sender reading a pipe lets its spool go of blocks every receiver has
// (object/pipe_source.h).
struct Progress {
  static constexpr MessageType kType = MessageType::kProgress;
  uint32_t highest_sequence = 0;
  uint64_t data_frames = 0;
  std::vector<NakRun> runs;
  uint32_t complete_below = 0;
  bool operator==(const Progress&) const = default;
};

// S->R over the receiver's own connection (never the group): every frame sequence number the
// sender has used is below next_sequence. Group members hold the data key and can tag frames, so
// only this bounds how far a tagged frame may move a receiver's replay window
// (engine/replay_window.h). Sent in answer to each Progress and before each PassEnd.
struct Horizon {
  static constexpr MessageType kType = MessageType::kHorizon;
  uint32_t next_sequence = 0;
  bool operator==(const Horizon&) const = default;
};

// R->S: these blocks failed verification repeatedly from the group (forged or corrupted symbols):
// send their source symbols over this connection. The receiver then takes symbols for them only
// from here, and keeps at most kMaxFetchBlocks asked for and not yet verified.
inline constexpr size_t kMaxFetchBlocks = 16;
struct Fetch {
  static constexpr MessageType kType = MessageType::kFetch;
  std::vector<uint32_t> blocks;
  bool operator==(const Fetch&) const = default;
};

// R->S, from a relay (`shoal relay`) instead of its Done: its copy is verified, and it sends the
// object on into a segment of its own. Downstream reports follow, one per receiver there, then
// its Done, once that session ended (ok: every receiver there verified the object).
struct Relaying {
  static constexpr MessageType kType = MessageType::kRelaying;
  std::string segment;  // where it relays, for the sender's log ("239.1.1.2:9000 via eth1")
  bool operator==(const Relaying&) const = default;
};

// R->S, from a relay after Relaying: the outcome of one receiver of its segment.
struct Downstream {
  static constexpr MessageType kType = MessageType::kDownstream;
  std::string name;     // the receiver's name, as the relay's session knew it
  std::string address;  // its address there
  bool ok = false;      // wire u8, 0 or 1: it verified the object
  std::string reason;   // why it failed ("" when ok)
  bool operator==(const Downstream&) const = default;
};

// Peer repair (docs/protocol.md): receivers that verified the object serve its symbols to
// stragglers the sender assigns them, so the unicast lane does not all leave the sender's link.
//
// R->S, just before a verified Done: this receiver serves the object's symbols at `address`
// (host:port) until the sender's Bye. The sender then holds its Done's acknowledgement until the
// session ends.
struct PeerOffer {
  static constexpr MessageType kType = MessageType::kPeerOffer;
  std::string address;
  bool operator==(const PeerOffer&) const = default;
};

// Stragglers one serving receiver takes at once (the sender assigns no more; the server refuses
// more connections).
inline constexpr uint32_t kPeerMaxClients = 4;
// A peer that sends a straggler nothing for this long has failed it (PeerFailed).
inline constexpr uint64_t kPeerStallNs = 10'000'000'000;

// A range of one block's rows, as the sender's unicast feed has them: rows below the block's k
// are source symbols, rows at or above k repair rows (the server encodes them).
struct PeerRange {
  uint32_t block = 0;
  uint8_t first_esi = 0;
  uint8_t count = 0;
  bool operator==(const PeerRange&) const = default;
};
inline constexpr size_t kPeerRangeWireSize = 6;
// Ranges in one assignment at most (~1.4 GiB of the default layout): what is left goes in the
// next one.
inline constexpr size_t kMaxPeerRanges = 16384;

// S->R: take pass `pass` of the unicast lane from the peer at `address` instead of the sender.
// The receiver connects there (the same PSK handshake as a join), sends this very message on
// (the server checks session_id), takes Repair messages (plain symbols: every block is checked
// against its manifest hash as always) and then the server's PassEnd{pass}; it answers the pass
// to the sender as if the sender had sent it. A peer that fails it reports (PeerFailed) before
// that answer.
struct PeerAssign {
  static constexpr MessageType kType = MessageType::kPeerAssign;
  uint64_t session_id = 0;
  uint32_t pass = 0;
  std::string address;
  std::vector<PeerRange> ranges;  // 1..kMaxPeerRanges
  bool operator==(const PeerAssign&) const = default;
};

// R->S: the peer of an assignment did not serve it (unreachable, refused, went away, stalled):
// the sender assigns that peer nothing more.
struct PeerFailed {
  static constexpr MessageType kType = MessageType::kPeerFailed;
  std::string address;
  std::string reason;
  bool operator==(const PeerFailed&) const = default;
};

using Message =
    std::variant<Hello, Challenge, Auth, Accept, Reject, Session, Manifest, Ready, PassEnd, Nak,
                 Repair, Done, Bye, KeyGrant, Probe, Feedback, Progress, ManifestEnd, Horizon,
                 Fetch, Relaying, Downstream, PeerOffer, PeerAssign, PeerFailed>;

// Largest arrays that fit one message.
inline constexpr size_t kMaxManifestHashes =
    (kMaxMessageSize - 2 - 4 - 4 - kManifestTagSize) / kDigestSize;
inline constexpr size_t kNakRunWireSize = 9;
inline constexpr size_t kMaxNakRuns = (kMaxMessageSize - 2 - 4 - 4 - 16) / kNakRunWireSize;
inline constexpr size_t kMaxProgressRuns = (kMaxMessageSize - 2 - 4 - 8 - 4) / kNakRunWireSize;

const char* type_name(MessageType type);  // "Hello", ...; "unknown" for other values
const char* type_name(const Message& message);

// Appends one framed message (length prefix included) to `out`. Strings longer than their cap
// (kMaxNameLength / kMaxReasonLength) are cut at the cap, since they are human text. Arrays and
// payloads over their caps are programming errors (the helpers below never build them) and throw
// std::length_error.
void encode(const Message& message, std::vector<uint8_t>& out);

// Decodes version + type + body (the bytes after the length prefix). Repair.payload points into
// `bytes`. Errors: too short, wrong version, unknown type, truncated field, over-long
// string/array, invalid enumeration or flags, trailing bytes, over kMaxMessageSize.
Result<Message> decode_body(std::span<const uint8_t> bytes);

// Splits hashes of blocks first_block.. into Manifest messages of at most max_per_message each
// (clamped to 1..kMaxManifestHashes). An empty list yields no message.
std::vector<Manifest> split_manifest(std::span<const Digest> block_hashes, uint32_t first_block = 0,
                                     size_t max_per_message = kMaxManifestHashes);

struct NakBuild {
  Nak nak;
  bool truncated = false;   // more runs existed than fit; they were left out
  uint32_t next_block = 0;  // with truncated: first block not covered by the message
};

// Builds a Nak from missing[b] = symbols block b still lacks (0 = complete; values above 254 are
// sent as kMissingWholeBlock). Consecutive blocks with the same count form one run. At most
// max_runs runs (clamped to 1..kMaxNakRuns), lowest blocks first.
NakBuild build_nak(uint32_t pass, std::span<const uint32_t> missing, uint64_t frames_received,
                   uint64_t frames_rejected, size_t max_runs = kMaxNakRuns);

// The same from missing_of(b) for b < blocks, without an array of every block's count (a
// receiver of millions of blocks asks its assembler block by block).
template <typename MissingOf>
NakBuild build_nak_from(uint32_t pass, size_t blocks, MissingOf&& missing_of,
                        uint64_t frames_received, uint64_t frames_rejected,
                        size_t max_runs = kMaxNakRuns) {
  max_runs = max_runs < 1 ? 1 : max_runs > kMaxNakRuns ? kMaxNakRuns : max_runs;
  NakBuild out;
  out.nak.pass = pass;
  out.nak.frames_received = frames_received;
  out.nak.frames_rejected = frames_rejected;
  auto capped = [](uint32_t v) {
    return static_cast<uint8_t>(v < kMissingWholeBlock ? v : kMissingWholeBlock);
  };
  // Block numbers are u32 on the wire; more blocks than that cannot be described.
  if (blocks > size_t{UINT32_MAX} + 1) blocks = size_t{UINT32_MAX} + 1;
  size_t b = 0;
  while (b < blocks) {
    const uint32_t first = missing_of(static_cast<uint32_t>(b));
    if (first == 0) {
      ++b;
      continue;
    }
    if (out.nak.runs.size() == max_runs) {
      out.truncated = true;
      out.next_block = static_cast<uint32_t>(b);
      return out;
    }
    const uint8_t m = capped(first);
    size_t end = b + 1;
    for (; end < blocks; ++end) {
      const uint32_t v = missing_of(static_cast<uint32_t>(end));
      if (v == 0 || capped(v) != m) break;
    }
    out.nak.runs.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(end - b), m});
    b = end;
  }
  return out;
}

// Cuts a TCP byte stream into message bodies (version + type + body, without the length prefix).
// Usage: feed() bytes (or prepare()+commit() to read straight into the buffer), then call next()
// until it returns no frame. A frame's span stays valid until the next feed/prepare/next call.
// A length below 2 or above the limit is an error; errors are sticky (the stream is out of sync).
class FrameSplitter {
 public:
  explicit FrameSplitter(size_t max_message_size = kMaxMessageSize) : max_(max_message_size) {}

  void feed(std::span<const uint8_t> bytes);
  // Returns writable space of at least `min_bytes`; commit(n) then appends its first n bytes.
  std::span<uint8_t> prepare(size_t min_bytes);
  void commit(size_t n);

  // A complete body, std::nullopt if more bytes are needed, or an error.
  Result<std::optional<std::span<const uint8_t>>> next();

  size_t buffered() const { return end_ - begin_; }
  // Changes the largest message accepted from now on (e.g. raised once a peer has joined).
  void set_max_message_size(size_t max) { max_ = max; }

 private:
  void compact();

  std::vector<uint8_t> buf_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last valid byte (buf_.size() may be larger: prepared space)
  size_t max_;
  std::optional<std::string> error_;
};

}  // namespace shoal::control
