// shoal data-frame wire format, version 1: a fixed 32-byte header, the payload, an optional tag.
//
//   off size field
//   0   2  magic 0x53 0x48 ("SH")
//   2   1  version = 1
//   3   1  type: 1 DATA (an FEC symbol), 2 BEACON, 3 PROBE
//   4   1  flags: bit0 REPAIR, bit1 AUTH, bit2 ENCRYPTED; other bits must be 0
//   5   1  k: source symbols in the block (1..255; BEACON/PROBE: 1)
//   6   1  symbol index ESI (0..254; BEACON/PROBE: 0)
//   7   1  tag_len (0 without AUTH, 1..32 with AUTH)
//   8   8  session id
//   16  4  block index
//   20  2  object index
//   22  2  payload length (1..9000)
//   24  4  sequence
//   28  4  CRC32C over the 32 header bytes with this field zero, then the payload, then the tag
//   32  payload[payload_len], tag[tag_len]; datagram length == 32 + payload_len + tag_len exactly
//
// All multi-byte fields are big-endian (network order), the CRC field included. The CRC is the
// standard CRC32C (engine/crc32c.h). Flag rules: REPAIR is set iff ESI >= k on DATA frames and is
// never set on BEACON/PROBE; ENCRYPTED is only valid together with AUTH.
//
// Everything here is allocation-free, exception-free and thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shoal::engine {

inline constexpr size_t kHeaderSize = 32;
// Bytes a frame costs on the wire besides its UDP payload: Ethernet (14), IPv4 (20) and UDP (8)
// headers -- what a switch's multicast policer counts (FCS, preamble and gap excluded). The pacer
// and every rate figure charge this per frame.
inline constexpr uint32_t kWireOverhead = 42;
inline constexpr size_t kMaxPayload = 9000;
inline constexpr size_t kMaxTag = 32;
inline constexpr size_t kMaxFrame = kHeaderSize + kMaxPayload + kMaxTag;
inline constexpr uint8_t kWireVersion = 1;
inline constexpr uint8_t kMaxEsi = 254;

enum FrameType : uint8_t { kFrameData = 1, kFrameBeacon = 2, kFrameProbe = 3 };

inline constexpr uint8_t kFlagRepair = 0x01;     // DATA: the symbol is a repair symbol (ESI >= k)
inline constexpr uint8_t kFlagAuth = 0x02;       // a tag of tag_len bytes follows the payload
inline constexpr uint8_t kFlagEncrypted = 0x04;  // the payload is ciphertext (needs kFlagAuth)
inline constexpr uint8_t kKnownFlags = kFlagRepair | kFlagAuth | kFlagEncrypted;

struct FrameHeader {
  uint8_t type = kFrameData;
  uint8_t flags = 0;
  uint8_t k = 1;
  uint8_t esi = 0;
  uint8_t tag_len = 0;
  uint64_t session = 0;
  uint32_t block = 0;
  uint16_t object = 0;
  uint16_t payload_len = 0;
  uint32_t sequence = 0;

  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

// Why a datagram was rejected. parse_frame checks in this order, except that REPAIR's agreement
// with ESI >= k (BadFlags) is checked once k and ESI are known to be valid. Ok means accepted.
enum class ParseError : uint8_t {
  Ok = 0,
  Truncated,       // shorter than the 32-byte header
  BadMagic,        // not "SH"
  BadVersion,      // version != 1
  BadType,         // not DATA/BEACON/PROBE
  BadFlags,        // unknown bits, ENCRYPTED without AUTH, or REPAIR inconsistent with ESI/type
  BadK,            // k == 0, or k != 1 on BEACON/PROBE
  BadSymbol,       // ESI == 255, or ESI != 0 on BEACON/PROBE
  BadLength,       // payload length 0 or > 9000
  BadTag,          // tag_len != 0 without AUTH, or not 1..32 with AUTH
  LengthMismatch,  // datagram length != 32 + payload_len + tag_len
  BadChecksum,     // CRC32C mismatch
};

// Static, never null; "ok" for ParseError::Ok.
const char* to_string(ParseError error) noexcept;

// The field rules alone (no lengths of real buffers): Ok, or the error parse_frame would report
// for a datagram carrying these fields.
ParseError check_header(const FrameHeader& header) noexcept;

// A parsed frame. payload and tag point into the datagram given to parse_frame and live as long
// as it does.
struct FrameView {
  FrameHeader header;
  std::span<const uint8_t> payload;
  std::span<const uint8_t> tag;
};

class ParseResult {
 public:
  ParseResult(const FrameView& frame) noexcept : frame_(frame) {}  // NOLINT: implicit
  ParseResult(ParseError error) noexcept : error_(error) {}        // NOLINT: implicit
  bool ok() const noexcept { return error_ == ParseError::Ok; }
  explicit operator bool() const noexcept { return ok(); }
  ParseError error() const noexcept { return error_; }
  // Only meaningful when ok(); otherwise an empty view.
  const FrameView& frame() const noexcept { return frame_; }
  const FrameView* operator->() const noexcept { return &frame_; }

 private:
  FrameView frame_{};
  ParseError error_ = ParseError::Ok;
};

enum class CrcCheck : uint8_t {
  Verify,  // the default: reject a frame whose CRC32C does not match
  Skip,    // for callers that verify something stronger (an AEAD tag) right after parsing
};

// Checks every field, in the order of ParseError, and never reads outside `datagram`.
ParseResult parse_frame(std::span<const uint8_t> datagram,
                        CrcCheck crc = CrcCheck::Verify) noexcept;

// Writes header, payload and tag into `out` and returns the frame length (32 + payload + tag).
// Returns 0 and leaves `out` unspecified when check_header(header) != Ok, when
// payload.size() != header.payload_len or tag.size() != header.tag_len, or when `out` is too small.
size_t encode_frame(const FrameHeader& header, std::span<const uint8_t> payload,
                    std::span<const uint8_t> tag, std::span<uint8_t> out) noexcept;

// Zero-copy variant for scatter-gather sends (iovec / mbuf chains): writes only the 32 header
// bytes, with the CRC computed over header, payload and tag where they lie. The datagram is then
// out[0..32) + payload + tag. Preconditions as for encode_frame (check_header(header) == Ok and
// matching span sizes; asserted in debug builds); a header written in breach of them is rejected
// by parse_frame.
void encode_header(const FrameHeader& header, std::span<const uint8_t> payload,
                   std::span<const uint8_t> tag, uint8_t out[kHeaderSize]) noexcept;

// The two halves of encode_header, for frames whose tag is computed over the header bytes
// (engine/frame_crypto.h): the fields with a zero CRC field, then the CRC over header, payload
// and tag once the tag is known.
void encode_header_fields(const FrameHeader& header, uint8_t out[kHeaderSize]) noexcept;
void store_crc(uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
               std::span<const uint8_t> tag) noexcept;

}  // namespace shoal::engine
