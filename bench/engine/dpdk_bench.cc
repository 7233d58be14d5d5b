// Sender ceiling and pacing on one core: the DPDK transport on net_null against the kernel UDP
// path on loopback, in the same run. See docs/benchmarks-dpdk.md for figures and how to read them.
//
//   dpdk_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// BM_Pipeline/<backend>/sym:<symbol bytes>/mapped:<0|1>: one iteration = one FEC block through
// the whole sender:
//   read   mapped:0 copies 64 source symbols out of a 512 MiB "file" buffer (cycled; larger
//          than the caches), as a pread-based reader would; mapped:1 uses them in place, as
//          session::SymbolSource does with the mapped object (then this stage is ~0 and the
//          first touch of the source bytes moves into fec)
//   fec    fec::Codec encode of 8 repair symbols (64+8)
//   frame  engine::encode_header per frame (CRC32C over header + payload)
//   pace   engine::Pacer::try_send per batch, at 1 Tbit/s: always says yes, costs what it costs
//   tx     TxBackend::tx_burst of up to 64 frames until all 72 are taken
// Counters: goodput = source (object) bits per CPU second of the sending thread; wire = UDP
// payload bits per CPU second; cyc/B = that CPU time in TSC cycles per source byte, in total and
// split over the stages. (Per CPU second, because the machine is shared; the Time column is
// real time.)
// Backends: dpdk_copy / dpdk_zerocopy = DpdkTx on net_null (which frees what it is given: the
// ceiling of everything up to the NIC). kernel_* = UdpTx with UDP GSO on lo in a private network
// namespace, no receiver: kernel_lo, TTL 1 with lo's UDP segmentation offload on (GSO batches
// cross lo whole, as to a NIC that segments in hardware, and are dropped on input);
// kernel_lo_nouso, the same with the offload off (the kernel segments in software and every
// datagram crosses lo, as with veth or a NIC without USO); kernel_lo_ttl0, TTL 0 (the kernel
// drops the datagrams before any device: its cheapest possible send).
//
// BM_TxOnly/<backend>/<symbol bytes>: the transport alone, frames prebuilt (64 per call).
//
// BM_Session/<backend>/sym/repair/gmac: the pipeline as a session runs it (issue #16 item 4):
// mapped source, `repair` rows per block (0 = parity on demand, as with --fec 64+0; 8 = 64+8),
// frames built by engine::FrameBuilder with the GMAC tag (gmac:1, the default) or without, source
// frames marked stable: dpdk_zerocopy sends them by reference, repair rows are copied.
//
// BM_Pacing/<Mbit/s>/<0 spin | 1 sleep>: the pipeline (1408-byte symbols, mapped) at a rate on
// net_null for 1 s, paced like session::DataPass (burst max(rate * 1 ms, 128 KiB), batches of half
// the burst up to 64 frames, bytes charged = UDP payload + 28). It waits by spinning on the clock
// (a poll-mode sender owns its core) or by clock_nanosleep (what DataPass does). The sender
// records (time after tx_burst, bytes) per call; from those: achieved rate after the first 100 ms
// (the bucket starts full) and the largest byte count in any 100 us window (max100us_B), next to
// the pacer's bound rate * 100 us + burst. pacer_max/bound is the same window measure on the times
// the pacer said yes: the guarantee itself, which must stay <= 1; max/bound on the times after
// tx_burst adds whatever delayed the sender between decision and send (preemption).
#include <benchmark/benchmark.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "engine/dpdk_eal.h"
#include "engine/dpdk_port.h"
#include "engine/dpdk_tx.h"
#include "engine/frame_builder.h"
#include "engine/frame_crypto.h"
#include "engine/paced_sender.h"
#include "engine/pacer.h"
#include "engine/udp_tx.h"
#include "engine/wire.h"
#include "fec/codec.h"

namespace shoal::engine {
namespace {

constexpr const char* kEalArgs =
    "--no-huge -m 512 --no-pci --no-shconf --log-level=error --no-telemetry "
    "--vdev=net_null0 --vdev=net_null1";
constexpr unsigned kK = 64, kRepair = 8, kSymbols = kK + kRepair;
// Larger than this machine's 260 MiB L3: the source comes from memory, as from the page cache.
constexpr size_t kFileBytes = size_t{512} << 20;
constexpr int kBatch = 64;
constexpr uint32_t kIpUdp = 28;  // what DataPass charges the pacer on top of the UDP payload

enum class Backend { DpdkCopy, DpdkZeroCopy, KernelLo, KernelLoNoUso, KernelLoTtl0 };

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t[], FreeDeleter>;
Buffer aligned(size_t bytes) {
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (!p) std::abort();
  return Buffer(p);
}

// The "file": random bytes, so nothing downstream can shortcut.
const uint8_t* file_bytes() {
  static Buffer file = [] {
    Buffer b = aligned(kFileBytes);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < kFileBytes; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64: fast, and nothing compresses it
      const uint64_t v = x;
      std::memcpy(b.get() + i, &v, 8);
    }
    return b;
  }();
  return file.get();
}

// net_null0 at MTU 1500 for 1408-byte symbols, net_null1 at MTU 9000 for 8192-byte ones.
std::shared_ptr<DpdkPort> null_port(size_t symbol, std::string* error) {
  static std::string eal_error;
  static std::shared_ptr<DpdkEal> eal = [] {
    auto r = DpdkEal::init(kEalArgs);
    if (!r) eal_error = r.error();
    return r ? *r : nullptr;
  }();
  static std::shared_ptr<DpdkPort> ports[2];
  if (!eal) {
    *error = eal_error;
    return nullptr;
  }
  const int i = symbol + kHeaderSize + kIpUdp > 1500 ? 1 : 0;
  if (!ports[i]) {
    DpdkPortOptions o;
    o.device = i ? "net_null1" : "net_null0";
    o.mtu = i ? 9000 : 1500;
    auto p = DpdkPort::open(eal, o);
    if (!p) {
      *error = p.error();
      return nullptr;
    }
    ports[i] = *p;
  }
  return ports[i];
}

// Moves the benchmark thread into a private network namespace with lo up and multicast-capable
// (as tests/engine/udp_test.cc does); returns "" or why not.
std::string private_loopback() {
  static std::string why = [] {
    if (::unshare(CLONE_NEWNET) != 0) return std::string("needs root for a private namespace");
    Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    if (!sock || ::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) return std::string("no lo");
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_MULTICAST);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) return std::string("cannot bring lo up");
    return std::string();
  }();
  return why;
}

// UDP segmentation offload of lo in the private namespace: on, GSO batches cross lo whole (as
// to a NIC that segments in hardware); off, the kernel cuts them into datagrams in software
// before the device (as for veth or a NIC without USO). `ethtool` runs in a child process, which
// inherits this thread's namespace.
bool set_lo_uso(bool on) {
  const std::string cmd =
      std::string("ethtool -K lo tx-udp-segmentation ") + (on ? "on" : "off") + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// TSC ticks per second, measured once against CLOCK_MONOTONIC.
double tsc_hz() {
  static const double hz = [] {
    const uint64_t n0 = now_ns(), c0 = __rdtsc();
    while (now_ns() - n0 < 50'000'000) {
    }
    return static_cast<double>(__rdtsc() - c0) * 1e9 / static_cast<double>(now_ns() - n0);
  }();
  return hz;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Sender {
  std::unique_ptr<TxBackend> tx;
  DpdkTx* dpdk = nullptr;  // when tx is a DpdkTx
  std::string error;
};

Sender open_sender(Backend b, size_t symbol) {
  Sender s;
  if (b == Backend::KernelLo || b == Backend::KernelLoNoUso || b == Backend::KernelLoTtl0) {
    if (std::string why = private_loopback(); !why.empty()) {
      s.error = why;
      return s;
    }
    if (!set_lo_uso(b != Backend::KernelLoNoUso)) {
      s.error =
          "cannot switch UDP segmentation offload of lo (ethtool -K) in the private namespace";
      return s;
    }
    UdpTxOptions o;
    o.group = "239.255.10.1";
    o.port = 6000;
    o.iface = "lo";
    o.ttl = b == Backend::KernelLoTtl0 ? 0 : 1;
    auto tx = UdpTx::open(o);
    if (!tx)
      s.error = tx.error();
    else
      s.tx = std::move(*tx);
    return s;
  }
  auto port = null_port(symbol, &s.error);
  if (!port) return s;
  DpdkTxOptions o;
  o.group = "239.255.10.1";
  o.port = 6000;
  o.src_ip = "198.18.0.1";
  o.zero_copy = b == Backend::DpdkZeroCopy;
  auto tx = DpdkTx::open(port, o);
  if (!tx) {
    s.error = tx.error();
    return s;
  }
  s.dpdk = tx->get();
  s.tx = std::move(*tx);
  return s;
}

// Hands frames to the backend until all are taken; false on a hard error.
bool send(TxBackend& tx, const TxFrame* frames, int n) {
  while (n > 0) {
    const int r = tx.tx_burst(frames, n);
    if (r < 0 && r != -EAGAIN && r != -ENOBUFS) return false;
    if (r > 0) {
      frames += r;
      n -= r;
    }
  }
  return true;
}

enum Stage { kRead, kFec, kFrame, kPace, kTx, kStages };
constexpr const char* kStageNames[kStages] = {"read", "fec", "frame", "pace", "tx"};

// One sender: source -> FEC -> framer -> pacer -> backend, reusing its buffers.
struct Pipeline {
  size_t sym;
  std::shared_ptr<const fec::Codec> codec;
  Buffer blocks[2];  // double-buffered: a zero-copy block is not reused until released
  int current = 0;
  size_t file_off = 0;
  std::vector<uint8_t> headers;
  std::vector<TxFrame> frames;
  uint32_t sequence = 0;
  bool mapped = false;                    // source symbols are pointers into the file, not copies
  unsigned repair = kRepair;              // repair symbols encoded per block (0: parity on demand)
  const uint8_t* payload[kSymbols] = {};  // the current block's symbols
  uint64_t stage[kStages] = {};

  explicit Pipeline(size_t symbol, bool map = false)
      : sym(symbol), headers(kSymbols * kHeaderSize), frames(kSymbols), mapped(map) {
    codec = *fec::Codec::for_k(kK);
    file_bytes();  // fill the file before anything is timed
    blocks[0] = aligned(kSymbols * sym);
    blocks[1] = aligned(kSymbols * sym);
  }
  uint32_t frame_bytes() const { return static_cast<uint32_t>(kHeaderSize + sym); }

  // Reads and encodes the next block. `dpdk` (zero copy) is asked to release the older buffer.
  // Mapped: the source symbols stay where they are in the file (as session::SymbolSource serves
  // them from the mapped object); otherwise they are copied into the block buffer first (as a
  // pread-based reader would).
  void produce(DpdkTx* dpdk) {
    uint64_t t0 = __rdtsc();
    current ^= 1;
    if (dpdk) {
      while (dpdk->reclaim() > 0) {  // net_null releases inside tx_burst: never spins here
      }
    }
    uint8_t* blk = blocks[current].get();
    const uint8_t* file = file_bytes();
    const uint8_t* src[kK];
    uint8_t* out[kRepair];
    for (unsigned i = 0; i < kK; ++i) {
      if (file_off + sym > kFileBytes) file_off = 0;
      if (mapped) {
        src[i] = file + file_off;
      } else {
        std::memcpy(blk + i * sym, file + file_off, sym);
        src[i] = blk + i * sym;
      }
      file_off += sym;
      payload[i] = src[i];
    }
    for (unsigned r = 0; r < repair; ++r) {
      out[r] = blk + (kK + r) * sym;
      payload[kK + r] = out[r];
    }
    uint64_t t1 = __rdtsc();
    if (repair > 0 && !codec->encode(src, sym, kK, repair, out)) std::abort();
    uint64_t t2 = __rdtsc();
    stage[kRead] += t1 - t0;
    stage[kFec] += t2 - t1;
  }

  // Frames symbols [first, first + n) of the current block into frames[0..n).
  void frame(unsigned first, int n) {
    for (int f = 0; f < n; ++f) {
      const unsigned esi = first + static_cast<unsigned>(f);
      FrameHeader h;
      h.k = kK;
      h.esi = static_cast<uint8_t>(esi);
      h.flags = esi >= kK ? kFlagRepair : 0;
      h.session = 0xBE7C4;
      h.block = sequence / kSymbols;
      h.payload_len = static_cast<uint16_t>(sym);
      h.sequence = sequence++;
      uint8_t* hdr = headers.data() + static_cast<size_t>(f) * kHeaderSize;
      encode_header(h, {payload[esi], sym}, {}, hdr);
      // Stable: this bench reuses a block buffer only after its payloads were released.
      frames[static_cast<size_t>(f)] =
          TxFrame{hdr, kHeaderSize, payload[esi], static_cast<uint16_t>(sym), nullptr, 0, true};
    }
  }
};

// Rates are per CPU second of the sending thread (Google Benchmark's default), so that other
// work on a shared machine does not count against the sender; cyc/B is that CPU time in TSC
// cycles per source byte, split over the stages in the proportion their rdtsc spans had.
void report_stages(benchmark::State& state, const Pipeline& p, uint64_t source_bytes,
                   uint64_t wire_bytes, double cpu_seconds) {
  uint64_t spans = 0;
  for (int s = 0; s < kStages; ++s) spans += p.stage[s];
  const double bytes = static_cast<double>(source_bytes);
  const double cyc_per_byte = cpu_seconds * tsc_hz() / bytes;
  state.counters["goodput"] = benchmark::Counter(bytes * 8, benchmark::Counter::kIsRate);
  state.counters["wire"] =
      benchmark::Counter(static_cast<double>(wire_bytes) * 8, benchmark::Counter::kIsRate);
  state.counters["cyc/B"] = cyc_per_byte;
  for (int s = 0; s < kStages; ++s)
    state.counters[std::string(kStageNames[s]) + "_cyc/B"] =
        cyc_per_byte * static_cast<double>(p.stage[s]) / static_cast<double>(spans);
  state.SetBytesProcessed(static_cast<int64_t>(source_bytes));
}

// The timed loop of BM_Pipeline and BM_Session: per iteration one block produced, framed up to
// kBatch frames at a time by frame(first, n) (false: it reported an error), paced and sent; the
// stage times go to p.stage. Returns the blocks sent.
template <class FrameFn>
uint64_t send_blocks(benchmark::State& state, Sender& s, Pipeline& p, unsigned per_block,
                     uint32_t frame_bytes, FrameFn frame) {
  Pacer pacer(1'000'000'000'000ull, 64ull << 20);  // 1 Tbit/s: paid for, never waited on
  const uint32_t charge = frame_bytes + kIpUdp;
  uint64_t blocks = 0;
  for (auto _ : state) {
    p.produce(s.dpdk);
    for (unsigned first = 0; first < per_block; first += kBatch) {
      const int n = static_cast<int>(std::min<unsigned>(kBatch, per_block - first));
      uint64_t t0 = __rdtsc();
      if (!frame(first, n)) return blocks;
      uint64_t t1 = __rdtsc();
      while (!pacer.try_send(now_ns(), static_cast<uint32_t>(n) * charge).send) {
      }
      uint64_t t2 = __rdtsc();
      if (!send(*s.tx, p.frames.data(), n)) {
        state.SkipWithError("tx_burst failed");
        return blocks;
      }
      uint64_t t3 = __rdtsc();
      p.stage[kFrame] += t1 - t0;
      p.stage[kPace] += t2 - t1;
      p.stage[kTx] += t3 - t2;
    }
    ++blocks;
  }
  return blocks;
}

void BM_Pipeline(benchmark::State& state, Backend backend) {
  const auto sym = static_cast<size_t>(state.range(0));
  Sender s = open_sender(backend, sym);
  if (!s.tx) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Pipeline p(sym, state.range(1) != 0);
  const double cpu0 = thread_cpu_seconds();
  const uint64_t blocks =
      send_blocks(state, s, p, kSymbols, p.frame_bytes(), [&](unsigned f, int n) {
        p.frame(f, n);
        return true;
      });
  report_stages(state, p, blocks * kK * sym, blocks * kSymbols * p.frame_bytes(),
                thread_cpu_seconds() - cpu0);
}

// As a session sends (session::DataPass): source symbols in place in the mapped "file", `repair`
// rows per block encoded into scratch, every frame built by engine::FrameBuilder -- header, the
// AES-GCM tag (GMAC, the default) and CRC32C -- with the source frames marked stable, so a
// zero-copy port sends them by reference while repair rows are copied; paced and sent.
void BM_Session(benchmark::State& state, Backend backend) {
  const auto sym = static_cast<size_t>(state.range(0));
  Sender s = open_sender(backend, sym);
  if (!s.tx) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Pipeline p(sym, /*map=*/true);
  p.repair = static_cast<unsigned>(state.range(1));
  std::optional<FrameCrypto> crypto;
  if (state.range(2) != 0) {
    FrameKey key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 5);
    crypto.emplace(*FrameCrypto::create(key, FrameProtection::kAuth));
  }
  FrameBuilder builder(0xBE7C4, std::move(crypto));
  std::vector<uint8_t> tags(kSymbols * kFrameTagSize);
  const unsigned per_block = kK + p.repair;
  const auto frame_bytes = static_cast<uint32_t>(kHeaderSize + sym + builder.tag_len());
  uint32_t block = 0;
  const double cpu0 = thread_cpu_seconds();
  const uint64_t blocks =
      send_blocks(state, s, p, per_block, frame_bytes, [&](unsigned first, int n) {
        if (first == 0) ++block;
        for (int f = 0; f < n; ++f) {
          const unsigned esi = first + static_cast<unsigned>(f);
          TxFrame& t = p.frames[static_cast<size_t>(f)];
          if (!builder.data(block, kK, static_cast<uint8_t>(esi), p.payload[esi],
                            static_cast<uint16_t>(sym),
                            p.headers.data() + static_cast<size_t>(f) * kHeaderSize,
                            tags.data() + size_t{esi} * kFrameTagSize, nullptr, t)) {
            state.SkipWithError("frame (or the sequence space used up)");
            return false;
          }
          t.payload_stable = esi < kK;
        }
        return true;
      });
  report_stages(state, p, blocks * kK * sym, blocks * per_block * frame_bytes,
                thread_cpu_seconds() - cpu0);
}

void BM_TxOnly(benchmark::State& state, Backend backend) {
  const auto sym = static_cast<size_t>(state.range(0));
  Sender s = open_sender(backend, sym);
  if (!s.tx) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Pipeline p(sym);
  p.produce(nullptr);
  p.frame(0, kBatch);
  for (auto _ : state) {
    if (!send(*s.tx, p.frames.data(), kBatch)) {
      state.SkipWithError("tx_burst failed");
      return;
    }
  }
  const double frames = static_cast<double>(state.iterations()) * kBatch;
  state.counters["frames"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
  state.counters["wire"] =
      benchmark::Counter(frames * p.frame_bytes() * 8, benchmark::Counter::kIsRate);
}

#define ALL_BACKENDS(BM, ARGS)                                          \
  BENCHMARK_CAPTURE(BM, dpdk_copy, Backend::DpdkCopy)->ARGS;            \
  BENCHMARK_CAPTURE(BM, dpdk_zerocopy, Backend::DpdkZeroCopy)->ARGS;    \
  BENCHMARK_CAPTURE(BM, kernel_lo, Backend::KernelLo)->ARGS;            \
  BENCHMARK_CAPTURE(BM, kernel_lo_nouso, Backend::KernelLoNoUso)->ARGS; \
  BENCHMARK_CAPTURE(BM, kernel_lo_ttl0, Backend::KernelLoTtl0)->ARGS

ALL_BACKENDS(BM_Pipeline, ArgsProduct({{1408, 8192}, {0, 1}})->ArgNames({"sym", "mapped"}));
ALL_BACKENDS(BM_TxOnly, Arg(1408)->Arg(8192)->ArgName("sym"));
ALL_BACKENDS(BM_Session,
             ArgsProduct({{1408, 8192}, {0, 8}, {0, 1}})->ArgNames({"sym", "repair", "gmac"}));

// Largest sum of bytes over events whose times fall in any window [t, t + width].
uint64_t max_window_bytes(const std::vector<std::pair<uint64_t, uint32_t>>& ev, uint64_t width) {
  uint64_t best = 0, sum = 0;
  size_t end = 0;
  for (size_t start = 0; start < ev.size(); ++start) {
    while (end < ev.size() && ev[end].first <= ev[start].first + width) sum += ev[end++].second;
    best = std::max(best, sum);
    sum -= ev[start].second;
  }
  return best;
}

void BM_Pacing(benchmark::State& state) {
  const uint64_t rate = static_cast<uint64_t>(state.range(0)) * 1'000'000;
  const bool sleep = state.range(1) != 0;
  constexpr size_t kSym = 1408;
  constexpr uint64_t kRunNs = 1'000'000'000, kWarmNs = 100'000'000, kWindowNs = 100'000;
  Sender s = open_sender(Backend::DpdkCopy, kSym);
  if (!s.tx) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  Pipeline p(kSym, /*map=*/true);
  const uint64_t burst = engine::default_burst_bytes(rate);  // as the session sends
  const uint32_t charge = p.frame_bytes() + kIpUdp;
  const int batch = static_cast<int>(std::clamp<uint64_t>(burst / 2 / charge, 1, kBatch));
  // Per tx_burst call: (time after it returned, bytes) -- what reaches the device -- and
  // (time the pacer said yes, bytes) -- what the pacer's guarantee is about.
  std::vector<std::pair<uint64_t, uint32_t>> events, decisions;
  events.reserve(rate / 8 / charge + 1024);  // about one event per frame at the most
  decisions.reserve(rate / 8 / charge + 1024);

  for (auto _ : state) {
    Pacer pacer(rate, burst);
    events.clear();
    decisions.clear();
    const uint64_t start = now_ns();
    unsigned next = kSymbols;  // symbol of the current block to send next
    while (now_ns() - start < kRunNs) {
      if (next == kSymbols) {
        p.produce(nullptr);
        next = 0;
      }
      const int n = std::min(batch, static_cast<int>(kSymbols - next));
      const uint32_t bytes = static_cast<uint32_t>(n) * charge;
      for (;;) {
        const uint64_t t = now_ns();
        const auto d = pacer.try_send(t, bytes);
        if (d.send) {
          decisions.emplace_back(t, bytes);
          break;
        }
        if (sleep) {
          timespec ts{static_cast<time_t>(d.not_before_ns / 1'000'000'000u),
                      static_cast<long>(d.not_before_ns % 1'000'000'000u)};
          clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
        } else {
          while (now_ns() < d.not_before_ns) _mm_pause();
        }
      }
      p.frame(next, n);
      if (!send(*s.tx, p.frames.data(), n)) {
        state.SkipWithError("tx_burst failed");
        return;
      }
      events.emplace_back(now_ns(), bytes);
      next += static_cast<unsigned>(n);
    }
  }
  // Steady state: skip the first 100 ms, when the full bucket goes out at once.
  const uint64_t t0 = events.front().first + kWarmNs;
  uint64_t steady_bytes = 0, first_ns = 0, last_ns = 0;
  for (const auto& [t, b] : events) {
    if (t < t0) continue;
    if (first_ns == 0)
      first_ns = t;
    else
      steady_bytes += b;  // bytes sent after the first steady event, over the time since it
    last_ns = t;
  }
  const double achieved = last_ns > first_ns ? static_cast<double>(steady_bytes) * 8e9 /
                                                   static_cast<double>(last_ns - first_ns)
                                             : 0;
  const uint64_t window = max_window_bytes(events, kWindowNs);
  const uint64_t pacer_window = max_window_bytes(decisions, kWindowNs);
  const double bound = static_cast<double>(rate) * kWindowNs / 8e9 + static_cast<double>(burst);
  state.counters["target_Mbps"] = static_cast<double>(rate) / 1e6;
  state.counters["achieved_Mbps"] = achieved / 1e6;
  state.counters["ratio"] = achieved / static_cast<double>(rate);
  state.counters["bound100us_B"] = bound;
  state.counters["max100us_B"] = static_cast<double>(window);
  state.counters["max/bound"] = static_cast<double>(window) / bound;
  state.counters["pacer_max/bound"] = static_cast<double>(pacer_window) / bound;
}
BENCHMARK(BM_Pacing)
    ->ArgsProduct({{100, 500, 1000, 2500, 5000, 10000}, {0, 1}})
    ->ArgNames({"Mbps", "sleep"})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace shoal::engine
