#include "engine/wire.h"

#include <cassert>
#include <cstring>

#include "engine/crc32c.h"

namespace shoal::engine {
namespace {

constexpr uint8_t kMagic0 = 0x53;  // 'S'
constexpr uint8_t kMagic1 = 0x48;  // 'H'
constexpr size_t kCrcOffset = 28;
constexpr uint8_t kZeroCrc[4] = {0, 0, 0, 0};

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t load64(const uint8_t* p) {
  return (uint64_t{load32(p)} << 32) | load32(p + 4);
}

void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  store16(p, static_cast<uint16_t>(v >> 16));
  store16(p + 2, static_cast<uint16_t>(v));
}
void store64(uint8_t* p, uint64_t v) {
  store32(p, static_cast<uint32_t>(v >> 32));
  store32(p + 4, static_cast<uint32_t>(v));
}

// The CRC covers the header with its CRC field zero; feeding four zero bytes in place of the
// field avoids copying the header.
uint32_t frame_crc(const uint8_t* header, std::span<const uint8_t> payload,
                   std::span<const uint8_t> tag) {
  Crc32c crc;
  crc.update({header, kCrcOffset});
  crc.update(kZeroCrc);
  crc.update(payload);
  crc.update(tag);
  return crc.value();
}

void write_header_fields(const FrameHeader& h, uint8_t* out) {
  out[0] = kMagic0;
  out[1] = kMagic1;
  out[2] = kWireVersion;
  out[3] = h.type;
  out[4] = h.flags;
  out[5] = h.k;
  out[6] = h.esi;
  out[7] = h.tag_len;
  store64(out + 8, h.session);
  store32(out + 16, h.block);
  store16(out + 20, h.object);
  store16(out + 22, h.payload_len);
  store32(out + 24, h.sequence);
}

}  // namespace

const char* to_string(ParseError error) noexcept {
  switch (error) {
    case ParseError::Ok:
      return "ok";
    case ParseError::Truncated:
      return "truncated: shorter than the frame header";
    case ParseError::BadMagic:
      return "bad magic";
    case ParseError::BadVersion:
      return "unsupported wire version";
    case ParseError::BadType:
      return "unknown frame type";
    case ParseError::BadFlags:
      return "invalid flags";
    case ParseError::BadK:
      return "invalid k";
    case ParseError::BadSymbol:
      return "invalid symbol index";
    case ParseError::BadLength:
      return "invalid payload length";
    case ParseError::BadTag:
      return "invalid tag length";
    case ParseError::LengthMismatch:
      return "datagram length does not match the header";
    case ParseError::BadChecksum:
      return "CRC32C mismatch";
  }
  return "unknown parse error";
}

ParseError check_header(const FrameHeader& h) noexcept {
  const bool data = h.type == kFrameData;
  if (!data && h.type != kFrameBeacon && h.type != kFrameProbe) return ParseError::BadType;
  if ((h.flags & ~kKnownFlags) != 0) return ParseError::BadFlags;
  if ((h.flags & kFlagEncrypted) != 0 && (h.flags & kFlagAuth) == 0) return ParseError::BadFlags;
  if (h.k == 0 || (!data && h.k != 1)) return ParseError::BadK;
  if (h.esi > kMaxEsi || (!data && h.esi != 0)) return ParseError::BadSymbol;
  // BEACON/PROBE have k == 1 and ESI == 0 here, so this also keeps REPAIR off them.
  const bool repair = (h.flags & kFlagRepair) != 0;
  if (repair != (h.esi >= h.k)) return ParseError::BadFlags;
  if (h.payload_len == 0 || h.payload_len > kMaxPayload) return ParseError::BadLength;
  if ((h.flags & kFlagAuth) != 0 ? (h.tag_len == 0 || h.tag_len > kMaxTag) : h.tag_len != 0) {
    return ParseError::BadTag;
  }
  return ParseError::Ok;
}

ParseResult parse_frame(std::span<const uint8_t> datagram, CrcCheck crc) noexcept {
  if (datagram.size() < kHeaderSize) return ParseError::Truncated;
  const uint8_t* p = datagram.data();
  if (p[0] != kMagic0 || p[1] != kMagic1) return ParseError::BadMagic;
  if (p[2] != kWireVersion) return ParseError::BadVersion;

  FrameView view;
  FrameHeader& h = view.header;
  h.type = p[3];
  h.flags = p[4];
  h.k = p[5];
  h.esi = p[6];
  h.tag_len = p[7];
  h.session = load64(p + 8);
  h.block = load32(p + 16);
  h.object = load16(p + 20);
  h.payload_len = load16(p + 22);
  h.sequence = load32(p + 24);
  if (const ParseError e = check_header(h); e != ParseError::Ok) return e;

  // Both lengths are already bounded (<= 9000, <= 32), so this sum cannot overflow.
  if (datagram.size() != kHeaderSize + h.payload_len + h.tag_len) {
    return ParseError::LengthMismatch;
  }
  view.payload = datagram.subspan(kHeaderSize, h.payload_len);
  view.tag = datagram.subspan(kHeaderSize + h.payload_len, h.tag_len);
  if (crc == CrcCheck::Verify && load32(p + kCrcOffset) != frame_crc(p, view.payload, view.tag)) {
    return ParseError::BadChecksum;
  }
  return view;
}

size_t encode_frame(const FrameHeader& header, std::span<const uint8_t> payload,
                    std::span<const uint8_t> tag, std::span<uint8_t> out) noexcept {
  if (check_header(header) != ParseError::Ok) return 0;
  if (payload.size() != header.payload_len || tag.size() != header.tag_len) return 0;
  const size_t total = kHeaderSize + payload.size() + tag.size();
  if (out.size() < total) return 0;
  uint8_t* dst = out.data();
  // memmove: the payload and tag may already sit in place (built at out + 32).
  std::memmove(dst + kHeaderSize, payload.data(), payload.size());
  if (!tag.empty()) std::memmove(dst + kHeaderSize + payload.size(), tag.data(), tag.size());
  write_header_fields(header, dst);
  const size_t body = payload.size() + tag.size();
  Crc32c crc;
  crc.update({dst, kCrcOffset});
  crc.update(kZeroCrc);
  crc.update({dst + kHeaderSize, body});
  store32(dst + kCrcOffset, crc.value());
  return total;
}

void encode_header_fields(const FrameHeader& header, uint8_t out[kHeaderSize]) noexcept {
  write_header_fields(header, out);
  store32(out + kCrcOffset, 0);
}

void store_crc(uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
               std::span<const uint8_t> tag) noexcept {
  store32(header + kCrcOffset, frame_crc(header, payload, tag));
}

void encode_header(const FrameHeader& header, std::span<const uint8_t> payload,
                   std::span<const uint8_t> tag, uint8_t out[kHeaderSize]) noexcept {
  assert(check_header(header) == ParseError::Ok);
  assert(payload.size() == header.payload_len && tag.size() == header.tag_len);
  write_header_fields(header, out);
  store32(out + kCrcOffset, frame_crc(out, payload, tag));
}

}  // namespace shoal::engine
