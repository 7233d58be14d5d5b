// The data path stage by stage, in CPU ns per payload byte on one core (issue #16 item 1): a
// session's frames are built in memory once (128 blocks of 64 x 1408 bytes, 11.5 MiB), then run
// through each stage the receiver and the sender do, alone, and through the receiver's whole
// core. The table in docs/benchmarks.md ("Data path per stage") comes from
//
//   pipeline_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Receiver (arg p: 0 = --no-frame-auth, 1 = GMAC (the default), 2 = --encrypt):
//   RxParse/p      parse_frame (CRC32C verified only without a tag, as the core does)
//   RxTag/p        the AES-GCM tag check (and decryption with p = 2)
//   RxReplay       the replay window
//   RxAssemble/l   symbols copied into their blocks' slots; l source symbols lost per block and
//                  as many repair symbols in their place, so l > 0 adds the ISA-L decode
//   RxSha256       the per-block SHA-256 a block is verified with
//   RxWrite/d      blocks handed to the object's writer (io_uring; d = 1: O_DIRECT), page cache,
//                  no fsync; process CPU, so io_uring's workers count
//   RxCore/p/s     all of it: ReceiverCore::on_datagram for every frame; s = 0: a sink that
//                  discards, s = 1: the file (process CPU)
//   RxCoreOffThread/p/s   the same with the SHA-256 on a thread of its own (the receiver's
//                  default with 2+ CPUs): CPU is the receive thread's alone; Time is the wall
//                  clock until the last block was verified and handed to the sink
// Sender:
//   TxRead         the object's pages mapped and faulted in from the page cache
//   TxEncode/m     m repair symbols per block (ISA-L)
//   TxFrame/p      FrameBuilder::data: header, CRC32C, tag (and ciphertext with p = 2)
// Not here: the kernel's send and receive (UDP GSO/GRO; docs/benchmarks.md, end to end).
//
// ns_per_byte is CPU time over payload bytes; Gbit/s per core = 8 / ns_per_byte.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/block_assembler.h"
#include "engine/frame_builder.h"
#include "engine/frame_crypto.h"
#include "engine/replay_window.h"
#include "engine/wire.h"
#include "object/manifest.h"
#include "object/object_sink.h"
#include "session/receiver_core.h"
#include "session/session_keys.h"
#include "session/symbol_source.h"

namespace shoal::session {
namespace {

constexpr uint16_t kSym = 1408;
constexpr unsigned kK = 64;
constexpr uint32_t kBlocks = 128;
constexpr uint64_t kObjectBytes = uint64_t{kBlocks} * kK * kSym;
constexpr uint64_t kSessionId = 0xbe7c4;

template <typename T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error(r.error());
  return std::move(*r);
}

control::FrameSuite suite_of(int64_t p) {
  return p == 0 ? control::FrameSuite::kNone
                : (p == 1 ? control::FrameSuite::kGmac : control::FrameSuite::kAeadGcm);
}

std::optional<engine::FrameCrypto> crypto_for(const DataKey& key) {
  if (key.suite == control::FrameSuite::kNone) return std::nullopt;
  return must(engine::FrameCrypto::create(key.key, protection_of(key.suite)));
}

// The object, its manifest and the session that carries it.
struct Object {
  std::vector<uint8_t> bytes;
  fec::BlockLayout layout;
  object::Manifest manifest;
  control::Session session;
  Object() : bytes(kObjectBytes), layout(must(fec::BlockLayout::make(kObjectBytes, kSym, kK))) {
    std::mt19937_64 rng(16);
    for (size_t i = 0; i < bytes.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(bytes.data() + i, &v, 8);
    }
    manifest = object::build_manifest(bytes, layout);
    session.session_id = kSessionId;
    session.symbol_size = kSym;
    session.k = kK;
    session.object_size = kObjectBytes;
    session.block_count = kBlocks;
    session.object_name = "pipeline.bin";
  }
  static const Object& get() {
    static const Object o;
    return o;
  }
};

// Every frame of one pass as the receiver gets it: per block, source symbols `lost` .. k-1 and
// repair symbols k .. k+lost-1 in their place. One per (protection, lost), built once.
struct Frames {
  DataKey key;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint32_t> sequence;
  Frames(int64_t protection, unsigned lost) : key(make_data_key(suite_of(protection))) {
    const Object& o = Object::get();
    SymbolSource src = must(SymbolSource::make(o.bytes, o.layout));
    engine::FrameBuilder fb(kSessionId, crypto_for(key));
    std::vector<uint8_t> repair(size_t{lost} * kSym);
    std::vector<uint8_t*> rows(lost);
    for (unsigned i = 0; i < lost; ++i) rows[i] = repair.data() + size_t{i} * kSym;
    for (uint32_t b = 0; b < kBlocks; ++b) {
      if (lost > 0 && !src.encode(b, kK, lost, rows.data())) throw std::runtime_error("encode");
      for (unsigned e = lost; e < kK + lost; ++e) {
        const uint8_t* payload = e < kK ? src.source(b, e) : rows[e - kK];
        uint8_t header[engine::kHeaderSize], tag[engine::kFrameTagSize], cipher[kSym];
        engine::TxFrame t;
        if (!fb.data(b, kK, static_cast<uint8_t>(e), payload, kSym, header, tag, cipher, t))
          throw std::runtime_error("frame");
        std::vector<uint8_t> f(t.header, t.header + t.header_len);
        f.insert(f.end(), t.payload, t.payload + t.payload_len);
        f.insert(f.end(), t.tail, t.tail + t.tail_len);
        sequence.push_back(static_cast<uint32_t>(fb.frames() - 1));
        frames.push_back(std::move(f));
      }
    }
  }
  static const Frames& get(int64_t protection, unsigned lost) {
    static std::map<std::pair<int64_t, unsigned>, std::unique_ptr<Frames>> cache;
    auto& f = cache[{protection, lost}];
    if (!f) f = std::make_unique<Frames>(protection, lost);
    return *f;
  }
};

void per_byte(benchmark::State& state, uint64_t bytes_per_iteration) {
  const double bytes =
      static_cast<double>(bytes_per_iteration) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["ns_per_byte"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// A file for the sink stages, removed at exit.
struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("shoal-pipeline-bench-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  static const TempDir& get() {
    static const TempDir d;
    return d;
  }
};

// Discards what it is given: the core without the writer's cost.
class NullSink final : public object::BlockSink {
 public:
  Status write(uint64_t, std::span<const uint8_t> d) override {
    benchmark::DoNotOptimize(d.data());
    return {};
  }
  Status read(uint64_t, std::span<uint8_t>) override { return make_error("null sink"); }
  Status poll() override { return {}; }
  Status flush() override { return {}; }
  Status commit(bool) override { return {}; }
  void abandon() override {}
  void keep() override {}
  const char* backend() const override { return "null"; }
};

// ----- receiver -----

void RxParse(benchmark::State& state) {
  const Frames& f = Frames::get(state.range(0), 0);
  const auto crc = state.range(0) == 0 ? engine::CrcCheck::Verify : engine::CrcCheck::Skip;
  for (auto _ : state) {
    for (const auto& fr : f.frames) {
      auto p = engine::parse_frame(fr, crc);
      if (!p) state.SkipWithError("parse");
      benchmark::DoNotOptimize(p);
    }
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxParse)->Arg(0)->Arg(1)->Arg(2);

void RxTag(benchmark::State& state) {
  const Frames& f = Frames::get(state.range(0), 0);
  auto crypto = crypto_for(f.key);
  std::vector<uint8_t> plain(kSym);
  uint8_t* out = state.range(0) == 2 ? plain.data() : nullptr;
  for (auto _ : state) {
    for (const auto& fr : f.frames) {
      const std::span<const uint8_t> payload(fr.data() + engine::kHeaderSize, kSym);
      const std::span<const uint8_t> tag(fr.data() + engine::kHeaderSize + kSym,
                                         engine::kFrameTagSize);
      if (!crypto->open(fr.data(), payload, tag, out)) state.SkipWithError("tag");
    }
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxTag)->Arg(1)->Arg(2);

void RxReplay(benchmark::State& state) {
  const Frames& f = Frames::get(1, 0);
  for (auto _ : state) {
    state.PauseTiming();
    auto window = std::make_unique<engine::ReplayWindow>();
    window->set_horizon(static_cast<uint32_t>(f.sequence.size()));
    state.ResumeTiming();
    for (uint32_t s : f.sequence) benchmark::DoNotOptimize(window->check(s));
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxReplay);

void RxAssemble(benchmark::State& state) {
  const auto lost = static_cast<unsigned>(state.range(0));
  const Frames& f = Frames::get(0, lost);
  const Object& o = Object::get();
  for (auto _ : state) {
    state.PauseTiming();
    auto a = must(engine::BlockAssembler::make(o.layout, 16));
    state.ResumeTiming();
    for (const auto& fr : f.frames) {
      const auto h = engine::parse_frame(fr)->header;
      const auto ev = a->add(h.block, h.esi, {fr.data() + engine::kHeaderSize, kSym});
      if (ev == engine::BlockAssembler::Event::kComplete) a->mark_done(h.block);
    }
    if (a->blocks_done() != kBlocks) state.SkipWithError("blocks left");
    state.PauseTiming();
    a.reset();
    state.ResumeTiming();
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxAssemble)->Arg(0)->Arg(4);

void RxSha256(benchmark::State& state) {
  const Object& o = Object::get();
  const std::span<const uint8_t> all(o.bytes);
  for (auto _ : state) {
    for (uint32_t b = 0; b < kBlocks; ++b) {
      benchmark::DoNotOptimize(
          object::sha256(all.subspan(o.layout.block_offset(b), o.layout.block_bytes(b))));
    }
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxSha256);

object::ObjectSink file_sink(bool direct) {
  const std::string out = (TempDir::get().path / "object.bin").string();
  std::filesystem::remove(out);
  return must(object::ObjectSink::create(out, kObjectBytes, false, false, direct,
                                         Object::get().layout.block_bytes(0)));
}

void RxWrite(benchmark::State& state) {
  const Object& o = Object::get();
  object::ObjectSink sink = file_sink(state.range(0) != 0);
  const std::span<const uint8_t> all(o.bytes);
  for (auto _ : state) {
    for (uint32_t b = 0; b < kBlocks; ++b) {
      const uint64_t off = o.layout.block_offset(b);
      if (!sink.write(off, all.subspan(off, o.layout.block_bytes(b)))) state.SkipWithError("write");
      if (!sink.poll()) state.SkipWithError("poll");
    }
  }
  sink.abandon();
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxWrite)->Arg(0)->Arg(1)->MeasureProcessCPUTime();

// The sink an RxCore benchmark writes into: one that discards, or the file.
struct BenchSink {
  NullSink null;
  std::optional<object::ObjectSink> file;
  explicit BenchSink(bool to_file) {
    if (to_file) file.emplace(file_sink(false));
  }
  ~BenchSink() {
    if (file) file->abandon();
  }
  object::BlockSink& get() { return file ? static_cast<object::BlockSink&>(*file) : null; }
};

// A core with every hash and the key, as after the session's start (set up untimed).
std::unique_ptr<ReceiverCore> ready_core(benchmark::State& state, object::BlockSink& sink,
                                         const Frames& f, size_t slots, bool off_thread) {
  state.PauseTiming();
  const Object& o = Object::get();
  auto core = must(ReceiverCore::make(o.session, sink, slots));
  if (!core->add_hashes(0, o.manifest.block_sha256) || !core->protect(f.key) ||
      (off_thread && !core->verify_off_thread()))
    state.SkipWithError("setup");
  state.ResumeTiming();
  return core;
}

void drop_untimed(benchmark::State& state, std::unique_ptr<ReceiverCore>& core) {
  state.PauseTiming();
  core.reset();
  state.ResumeTiming();
}

void RxCore(benchmark::State& state) {
  const Frames& f = Frames::get(state.range(0), 0);
  BenchSink sink(state.range(1) != 0);
  for (auto _ : state) {
    auto core = ready_core(state, sink.get(), f, 16, false);
    for (const auto& fr : f.frames) {
      if (!core->on_datagram(fr)) state.SkipWithError("datagram");
    }
    if (!sink.get().poll() || !core->complete()) state.SkipWithError("incomplete");
    drop_untimed(state, core);
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxCore)
    ->ArgsProduct({{0, 1, 2}, {0}})
    ->Args({1, 1})
    ->Args({2, 1})
    ->MeasureProcessCPUTime();

void RxCoreOffThread(benchmark::State& state) {
  const Frames& f = Frames::get(state.range(0), 0);
  BenchSink sink(state.range(1) != 0);
  for (auto _ : state) {
    // A slot per block, as the receiver's memory budget gives: none is dropped for room.
    auto core = ready_core(state, sink.get(), f, kBlocks, true);
    size_t i = 0;
    for (const auto& fr : f.frames) {
      if (!core->on_datagram(fr)) state.SkipWithError("datagram");
      // As the receive loop does between bursts: take the verdicts in (they free slots).
      if (++i % 64 == 0 && !core->collect_verified()) state.SkipWithError("collect");
    }
    while (!core->complete()) {
      pollfd p{core->verify_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      if (!core->collect_verified()) {
        state.SkipWithError("collect");
        break;
      }
    }
    if (!sink.get().poll()) state.SkipWithError("sink");
    drop_untimed(state, core);
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(RxCoreOffThread)->Args({1, 0})->Args({2, 0})->Args({1, 1})->Args({2, 1})->UseRealTime();

// ----- sender -----

void TxRead(benchmark::State& state) {
  const Object& o = Object::get();
  const std::string path = (TempDir::get().path / "source.bin").string();
  {
    object::ObjectSink s = must(object::ObjectSink::create(path, kObjectBytes, false, false));
    if (!s.write(0, o.bytes) || !s.commit(false)) throw std::runtime_error("source file");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const long page = ::sysconf(_SC_PAGESIZE);
  for (auto _ : state) {
    void* m = ::mmap(nullptr, kObjectBytes, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      state.SkipWithError("mmap");
      break;
    }
    const auto* p = static_cast<const volatile uint8_t*>(m);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < kObjectBytes; i += static_cast<uint64_t>(page)) sum += p[i];
    benchmark::DoNotOptimize(sum);
    ::munmap(m, kObjectBytes);
  }
  ::close(fd);
  per_byte(state, kObjectBytes);
}
BENCHMARK(TxRead);

void TxEncode(benchmark::State& state) {
  const Object& o = Object::get();
  const auto m = static_cast<unsigned>(state.range(0));
  SymbolSource src = must(SymbolSource::make(o.bytes, o.layout));
  std::vector<uint8_t> repair(size_t{m} * kSym);
  std::vector<uint8_t*> rows(m);
  for (unsigned i = 0; i < m; ++i) rows[i] = repair.data() + size_t{i} * kSym;
  for (auto _ : state) {
    for (uint32_t b = 0; b < kBlocks; ++b) {
      if (!src.encode(b, kK, m, rows.data())) state.SkipWithError("encode");
    }
    benchmark::DoNotOptimize(repair.data());
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(TxEncode)->Arg(1)->Arg(8);

void TxFrame(benchmark::State& state) {
  const Object& o = Object::get();
  const DataKey key = make_data_key(suite_of(state.range(0)));
  SymbolSource src = must(SymbolSource::make(o.bytes, o.layout));
  engine::FrameBuilder fb(kSessionId, crypto_for(key));
  uint8_t header[engine::kHeaderSize], tag[engine::kFrameTagSize];
  std::vector<uint8_t> cipher(kSym);
  engine::TxFrame t;
  for (auto _ : state) {
    if (fb.frames() > UINT32_MAX - uint64_t{kBlocks} * kK) {
      state.SkipWithError("sequence space used up");
      break;
    }
    for (uint32_t b = 0; b < kBlocks; ++b) {
      for (unsigned e = 0; e < kK; ++e) {
        if (!fb.data(b, kK, static_cast<uint8_t>(e), src.source(b, e), kSym, header, tag,
                     cipher.data(), t))
          state.SkipWithError("frame");
        benchmark::DoNotOptimize(t);
      }
    }
  }
  per_byte(state, kObjectBytes);
}
BENCHMARK(TxFrame)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace shoal::session
