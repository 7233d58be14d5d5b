// Per-frame cost of data-frame protection on each side, per core: the sender frames a symbol
// (header + CRC32C, plus the AES-GCM tag and, with --encrypt, the ciphertext), the receiver checks
// it (parse + CRC, or parse + tag [+ decrypt] + replay window). Arg 0: none / auth / encrypt;
// arg 1: symbol size. Throughput is symbol bytes per second.
//   engine_frame_crypto_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/frame_crypto.h"
#include "engine/replay_window.h"
#include "engine/wire.h"

namespace shoal::engine {
namespace {

FrameKey bench_key() {
  FrameKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 7 + 1);
  return k;
}

struct Setup {
  std::optional<FrameCrypto> crypto;
  FrameHeader h;
  std::vector<uint8_t> payload, frame;
  explicit Setup(const benchmark::State& state) {
    const auto mode = static_cast<FrameProtection>(state.range(0));
    if (mode != FrameProtection::kNone) crypto.emplace(*FrameCrypto::create(bench_key(), mode));
    const auto sym = static_cast<size_t>(state.range(1));
    h.type = kFrameData;
    h.k = 64;
    h.esi = 3;
    h.session = 0xC0FFEE;
    h.block = 42;
    h.payload_len = static_cast<uint16_t>(sym);
    h.flags = crypto ? protection_flags(mode) : 0;
    h.tag_len = crypto ? kFrameTagSize : 0;
    payload.resize(sym);
    for (size_t i = 0; i < sym; ++i) payload[i] = static_cast<uint8_t>(i * 131);
    frame.resize(kHeaderSize + sym + kFrameTagSize);
  }
  // What session::FrameBuilder does for one frame: header, tag, CRC (payload not copied unless
  // encrypted, as with the sender's gather I/O).
  size_t seal() {
    uint8_t* hdr = frame.data();
    const size_t sym = payload.size();
    if (!crypto) {
      encode_header(h, payload, {}, hdr);
      std::copy(payload.begin(), payload.end(), hdr + kHeaderSize);
      return kHeaderSize + sym;
    }
    uint8_t* body = hdr + kHeaderSize;
    uint8_t* tag = body + sym;
    encode_header_fields(h, hdr);
    crypto->seal(hdr, payload, body, tag);
    const uint8_t* sent = crypto->protection() == FrameProtection::kEncrypt ? body : payload.data();
    store_crc(hdr, {sent, sym}, {tag, kFrameTagSize});
    if (sent != body) std::copy(payload.begin(), payload.end(), body);  // wire image, untimed below
    return kHeaderSize + sym + kFrameTagSize;
  }
};

void BM_SenderFrame(benchmark::State& state) {
  Setup s(state);
  for (auto _ : state) {
    ++s.h.sequence;
    const uint8_t* hdr = s.frame.data();
    if (!s.crypto) {
      encode_header(s.h, s.payload, {}, s.frame.data());
    } else {
      uint8_t* body = s.frame.data() + kHeaderSize;
      uint8_t* tag = body + s.payload.size();
      encode_header_fields(s.h, s.frame.data());
      s.crypto->seal(hdr, s.payload, body, tag);
      const uint8_t* sent =
          s.crypto->protection() == FrameProtection::kEncrypt ? body : s.payload.data();
      store_crc(s.frame.data(), {sent, s.payload.size()}, {tag, kFrameTagSize});
    }
    benchmark::DoNotOptimize(s.frame.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(1));
}

void BM_ReceiverFrame(benchmark::State& state) {
  Setup s(state);
  const size_t len = s.seal();
  std::vector<uint8_t> plain(s.payload.size());
  ReplayWindow window;
  window.set_horizon(UINT32_MAX);  // the sender's word, so every frame moves the window
  uint32_t seq = 0;
  bool ok = true;
  for (auto _ : state) {
    auto r = parse_frame({s.frame.data(), len}, s.crypto ? CrcCheck::Skip : CrcCheck::Verify);
    if (s.crypto) {
      ok &= s.crypto->open(s.frame.data(), r->payload, r->tag, plain.data());
      ok &= window.check(seq++) == ReplayWindow::Verdict::kNew;
    } else {
      ok &= r.ok();
    }
    benchmark::DoNotOptimize(plain.data());
  }
  if (!ok) state.SkipWithError("a frame failed its check");
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(1));
}

void args(benchmark::internal::Benchmark* b) {
  for (int mode : {0, 1, 2}) {
    for (int sym : {1408, 8960}) b->Args({mode, sym});
  }
  b->ArgNames({"none0_auth1_enc2", "symbol"});
}

BENCHMARK(BM_SenderFrame)->Apply(args);
BENCHMARK(BM_ReceiverFrame)->Apply(args);

}  // namespace
}  // namespace shoal::engine
