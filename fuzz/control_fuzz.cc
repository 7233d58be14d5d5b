// libFuzzer target for the control-plane decoder and the TCP frame splitter.
//
// The input is treated two ways:
//  1. as a TCP byte stream: cut by FrameSplitter (fed in uneven chunks chosen from the input
//     itself), every complete body decoded;
//  2. after its 4-byte length prefix, as one message body given straight to decode_body.
// Whatever decodes must re-encode to exactly the bytes it came from (the encoding is canonical),
// so a decoder that accepts something it cannot represent is caught, not just crashes.
// Seeds: fuzz/corpus/control/ (encoded valid messages, one or several per file).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "control/messages.h"

namespace {

using shoal::control::decode_body;
using shoal::control::encode;
using shoal::control::FrameSplitter;

void check_body(std::span<const uint8_t> body) {
  auto message = decode_body(body);
  if (!message.ok()) {
    if (message.error().empty()) std::abort();  // every rejection must say why
    return;
  }
  std::vector<uint8_t> again;
  encode(*message, again);
  if (again.size() != body.size() + 4 ||
      std::memcmp(again.data() + 4, body.data(), body.size()) != 0) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);

  FrameSplitter splitter;
  size_t pos = 0;
  size_t step = 0;
  bool failed = false;
  while (pos < size && !failed) {
    // Chunk sizes 1..64 taken from the input, so splits land everywhere.
    const size_t n = std::min<size_t>(size - pos, 1 + (input[step++ % size] & 63));
    splitter.feed(input.subspan(pos, n));
    pos += n;
    for (;;) {
      auto frame = splitter.next();
      if (!frame.ok()) {
        failed = true;
        break;
      }
      if (!*frame) break;
      check_body(**frame);
    }
  }

  if (size >= 4) check_body(input.subspan(4));
  return 0;
}
