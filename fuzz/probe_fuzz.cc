// libFuzzer target for the `shoal probe` decoders (probe/probe_protocol.h) and the per-step
// statistics (probe/probe_stats.h).
//
// The input is used three ways:
//  1. byte 0 = Probe message kind, the rest = its body, given to probe::decode_probe. Whatever
//  decodes
//     must re-encode to exactly the bytes it came from (the encoding is canonical), and every
//     rejection must say why;
//  2. the whole input as a PROBE frame payload: a payload that decodes must re-encode to its
//     first 16 bytes;
//  3. as (u32 sequence, u32 send time) pairs fed to probe::StepStats with a small sequence limit,
//  whose
//     counters must add up: every arrival is distinct, duplicate or out of range; no more frames
//     reordered than received; the spread is max - min.
// Seeds: fuzz/corpus/probe/ (one valid body per message kind, a payload, a sequence list); their
// bytes follow the layouts in probe_protocol.h.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "probe/probe_protocol.h"
#include "probe/probe_stats.h"

namespace {

using namespace shoal;

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  if (size >= 1) {
    auto m = probe::decode_probe(input[0], input.subspan(1));
    if (!m.ok()) {
      if (m.error().empty()) std::abort();
    } else {
      shoal::control::Probe again = probe::encode_probe(*m);
      if (again.kind != input[0] || again.body.size() != size - 1 ||
          std::memcmp(again.body.data(), data + 1, size - 1) != 0) {
        std::abort();
      }
    }
  }

  probe::ProbePayload payload;
  if (probe::decode_probe_payload(input, payload)) {
    uint8_t out[probe::kProbePayloadMin];
    if (!probe::encode_probe_payload(payload, out) ||
        std::memcmp(out, data, probe::kProbePayloadMin) != 0)
      std::abort();
  }

  constexpr uint32_t kLimit = 4096;
  probe::StepStats stats(kLimit);
  std::vector<bool> seen(kLimit);
  uint64_t adds = 0;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t at = 0; at + 8 <= size; at += 8) {
    const uint32_t seq = be32(data + at);
    const uint32_t send = be32(data + at + 4);
    stats.add(seq, send, 1'000'000);
    ++adds;
    if (seq < kLimit && !seen[seq]) {  // only first arrivals carry a delay
      seen[seq] = true;
      lo = std::min<uint64_t>(lo, send);
      hi = std::max<uint64_t>(hi, send);
    }
  }
  if (stats.received() + stats.duplicated() + stats.out_of_range() != adds) std::abort();
  if (stats.reordered() > stats.received()) std::abort();
  // Delay = 1e6 - send, so the spread is the spread of the accepted send times.
  if (stats.received() > 0 && stats.delay_spread_ns() != hi - lo) std::abort();
  return 0;
}
