// libFuzzer target for engine/wire.h: parse_frame on arbitrary bytes, both CRC modes.
// Whatever parses must re-encode to the same bytes (so parser and encoder agree on every field),
// and spans must lie inside the input. Crashes, sanitizer reports and failed checks all abort.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "engine/wire.h"

namespace {

using namespace shoal::engine;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_view(const FrameView& v, std::span<const uint8_t> in) {
  check(v.payload.data() == in.data() + kHeaderSize);
  check(v.payload.size() == v.header.payload_len && v.tag.size() == v.header.tag_len);
  check(v.tag.data() + v.tag.size() == in.data() + in.size());
  check(check_header(v.header) == ParseError::Ok);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  const ParseResult skipped = parse_frame(in, CrcCheck::Skip);
  const ParseResult verified = parse_frame(in, CrcCheck::Verify);
  // Verify differs from Skip only by the CRC check, which runs last.
  if (skipped.ok()) {
    check(verified.ok() || verified.error() == ParseError::BadChecksum);
  } else {
    check(verified.error() == skipped.error());
  }
  if (!skipped.ok()) return 0;
  check_view(skipped.frame(), in);

  // Re-encode: equal to the input except possibly the CRC field (bytes 28..31).
  static uint8_t out[kMaxFrame];
  const FrameView& v = skipped.frame();
  const size_t n = encode_frame(v.header, v.payload, v.tag, out);
  check(n == size);
  check(std::memcmp(out, data, 28) == 0 && std::memcmp(out + 32, data + 32, size - 32) == 0);
  check(verified.ok() == (std::memcmp(out + 28, data + 28, 4) == 0));
  check(parse_frame({out, n}).ok());

  uint8_t header[kHeaderSize];
  encode_header(v.header, v.payload, v.tag, header);
  check(std::memcmp(header, out, kHeaderSize) == 0);
  return 0;
}
