// Per-packet cost of the wire codec (CRC32C included) and of the pacer's decision.
//   engine_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "engine/pacer.h"
#include "engine/wire.h"

namespace shoal::engine {
namespace {

FrameHeader bench_header(int64_t payload_len) {
  FrameHeader h;
  h.type = kFrameData;
  h.k = 64;
  h.esi = 3;
  h.session = 0xC0FFEE;
  h.block = 42;
  h.payload_len = static_cast<uint16_t>(payload_len);
  return h;
}

std::vector<uint8_t> bench_payload(int64_t n) {
  std::vector<uint8_t> p(static_cast<size_t>(n));
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 131);
  return p;
}

// Sender and receiver side of one frame: encode (copying the payload) then parse with CRC.
void BM_EncodeParse(benchmark::State& state) {
  FrameHeader h = bench_header(state.range(0));
  const std::vector<uint8_t> payload = bench_payload(state.range(0));
  std::vector<uint8_t> frame(kMaxFrame);
  for (auto _ : state) {
    ++h.sequence;
    const size_t n = encode_frame(h, payload, {}, frame);
    const ParseResult r = parse_frame({frame.data(), n});
    benchmark::DoNotOptimize(r.frame().payload.data());
    if (!r.ok()) state.SkipWithError("parse failed");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeParse)->Arg(1408)->Arg(8192);

// Zero-copy send path: only the 32 header bytes are written; the CRC still reads the payload.
void BM_EncodeHeader(benchmark::State& state) {
  FrameHeader h = bench_header(state.range(0));
  const std::vector<uint8_t> payload = bench_payload(state.range(0));
  uint8_t header[kHeaderSize];
  for (auto _ : state) {
    ++h.sequence;
    encode_header(h, payload, {}, header);
    benchmark::DoNotOptimize(header);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeHeader)->Arg(1408)->Arg(8192);

void parse_only(benchmark::State& state, CrcCheck crc) {
  const FrameHeader h = bench_header(state.range(0));
  const std::vector<uint8_t> payload = bench_payload(state.range(0));
  std::vector<uint8_t> frame(kMaxFrame);
  frame.resize(encode_frame(h, payload, {}, frame));
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());
    const ParseResult r = parse_frame(frame, crc);
    benchmark::DoNotOptimize(r.frame().payload.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
void BM_Parse(benchmark::State& state) {
  parse_only(state, CrcCheck::Verify);
}
void BM_ParseSkipCrc(benchmark::State& state) {
  parse_only(state, CrcCheck::Skip);
}
BENCHMARK(BM_Parse)->Arg(1408)->Arg(8192);
BENCHMARK(BM_ParseSkipCrc)->Arg(1408)->Arg(8192);

// try_send at 10 Gbit/s with 1408-byte frames; the clock steps by state.range(0) ns per call:
// 200 ns gives a mix of sends and refusals (a frame needs 1126.4 ns), 2000 ns sends every time.
void BM_PacerTrySend(benchmark::State& state) {
  Pacer pacer(10'000'000'000, 64 * 1024);
  const auto step = static_cast<uint64_t>(state.range(0));
  uint64_t now = 0;
  int64_t sent = 0;
  for (auto _ : state) {
    now += step;
    const Pacer::Decision d = pacer.try_send(now, 1408);
    sent += d.send ? 1 : 0;
    benchmark::DoNotOptimize(d);
  }
  state.counters["send_ratio"] =
      static_cast<double>(sent) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}
BENCHMARK(BM_PacerTrySend)->Arg(200)->Arg(2000);

}  // namespace
}  // namespace shoal::engine
