// libFuzzer target for the receiver's frame check: parse (CRC skipped, as in authenticated
// sessions), then the AES-GCM tag check in both protections, then the replay window.
//
// A random datagram must never open under the fixed key (that would be a forged tag, 2^-128).
// Every parseable one is also re-sealed with the key and must then open and give back its
// payload; one bit flipped (position chosen from the input) must make it fail again. So the
// target checks the seal/open contract on arbitrary headers, not only that nothing crashes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "engine/frame_crypto.h"
#include "engine/replay_window.h"
#include "engine/wire.h"

using namespace shoal::engine;

namespace {

FrameKey fixed_key() {
  FrameKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x5a ^ i);
  return k;
}

void check(FrameCrypto& fc, std::span<const uint8_t> datagram, ReplayWindow& window) {
  auto parsed = parse_frame(datagram, CrcCheck::Skip);
  if (!parsed) return;
  std::vector<uint8_t> plain(parsed->payload.size());
  if (parsed->tag.size() == kFrameTagSize &&
      fc.open(datagram.data(), parsed->payload, parsed->tag, plain.data())) {
    std::abort();  // a tag nobody computed with the key verified
  }
  (void)window.check(parsed->header.sequence);

  // Re-seal under the key: header with AUTH (and ENCRYPTED), tag_len 16.
  FrameHeader h = parsed->header;
  h.flags = static_cast<uint8_t>((h.flags & kFlagRepair) | protection_flags(fc.protection()));
  h.tag_len = kFrameTagSize;
  if (check_header(h) != ParseError::Ok) return;
  std::vector<uint8_t> frame(kHeaderSize + parsed->payload.size() + kFrameTagSize);
  uint8_t* body = frame.data() + kHeaderSize;
  uint8_t* tag = body + parsed->payload.size();
  encode_header_fields(h, frame.data());
  if (!fc.seal(frame.data(), parsed->payload, body, tag)) std::abort();
  if (fc.protection() == FrameProtection::kAuth) {
    std::memcpy(body, parsed->payload.data(), parsed->payload.size());
  }
  store_crc(frame.data(), {body, parsed->payload.size()}, {tag, kFrameTagSize});
  auto again = parse_frame(frame);  // CRC verified this time: it must be right too
  if (!again || again->header != h) std::abort();
  if (!fc.open(frame.data(), again->payload, again->tag, plain.data())) std::abort();
  if (fc.protection() == FrameProtection::kEncrypt &&
      std::memcmp(plain.data(), parsed->payload.data(), plain.size()) != 0) {
    std::abort();
  }
  const size_t bit = (datagram[0] * 131u + datagram.size()) % (frame.size() * 8);
  if (bit / 8 >= 28 && bit / 8 < 32) return;  // the CRC field is outside the tag
  frame[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  if (fc.open(frame.data(), {body, parsed->payload.size()}, {tag, kFrameTagSize}, plain.data())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FrameCrypto auth = *FrameCrypto::create(fixed_key(), FrameProtection::kAuth);
  static FrameCrypto enc = *FrameCrypto::create(fixed_key(), FrameProtection::kEncrypt);
  if (size == 0) return 0;
  ReplayWindow window;
  check(auth, {data, size}, window);
  check(enc, {data, size}, window);
  return 0;
}
