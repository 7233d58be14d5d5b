// Sustained write of a preallocated file on the real disk: io_uring (UringWriter) against plain
// pwrite, buffered and O_DIRECT, 1 MiB writes. One iteration = write the whole file in order and
// make it durable (fdatasync or the ring's datasync), as the receiver does with one object.
// Between iterations (untimed) the file is emptied, preallocated again (unwritten extents, as a
// fresh receiver temp file) and dropped from the page cache.
//
//   WRITER_BENCH_DIR=/var/tmp WRITER_BENCH_MIB=1024 ./bench/engine/writer_bench
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
//
// Rates are bytes / real time. CPU counters, in CPU seconds per GB (10^9 bytes) written:
//   thread_cpu  the calling thread (the receive loop's share; getrusage RUSAGE_THREAD)
//   proc_cpu    the whole process: adds io_uring's io-wq workers and the flusher thread
// Not counted anywhere: kernel writeback workers (kworker) and interrupts. The machine is shared,
// so a machine-wide count would mostly measure the neighbours.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/fd.h"
#include "engine/aligned_buffer.h"
#include "engine/uring_writer.h"

namespace shoal::engine {
namespace {

constexpr size_t kChunk = 1 << 20;

std::string bench_dir() {
  const char* d = std::getenv("WRITER_BENCH_DIR");
  return d != nullptr && *d != '\0' ? d : "/var/tmp";
}

uint64_t bench_bytes() {
  const char* m = std::getenv("WRITER_BENCH_MIB");
  const uint64_t mib = m != nullptr ? std::strtoull(m, nullptr, 10) : 1024;
  return (mib > 0 ? mib : 1024) << 20;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

double rusage_cpu(int who) {
  rusage ru{};
  ::getrusage(who, &ru);
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

struct CpuSample {
  double thread, proc;
  static CpuSample now() { return {rusage_cpu(RUSAGE_THREAD), rusage_cpu(RUSAGE_SELF)}; }
};

// The preallocated target file, removed at the end.
class Target {
 public:
  Target() : path_(bench_dir() + "/shoal-writer-bench-" + std::to_string(::getpid())) {
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  }
  ~Target() { ::unlink(path_.c_str()); }
  bool ok() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // Fresh unwritten extents and a cold page cache, like a new receiver temp file.
  bool reset(uint64_t size) {
    return ::ftruncate(fd_.get(), 0) == 0 &&
           ::fallocate(fd_.get(), 0, 0, static_cast<off_t>(size)) == 0 &&
           ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_DONTNEED) == 0;
  }

 private:
  std::string path_;
  Fd fd_;
};

AlignedBuffer source_chunk() {
  AlignedBuffer b = AlignedBuffer::map(kChunk);
  std::mt19937_64 rng(42);  // incompressible, in case the virtual disk compresses
  for (size_t i = 0; i + 8 <= kChunk; i += 8) {
    const uint64_t x = rng();
    std::memcpy(b.data() + i, &x, 8);
  }
  return b;
}

// Runs `write_all` (which writes and syncs `size` bytes, returns false on error) once per
// iteration and reports rate and CPU per GB.
template <class WriteAll>
void run(benchmark::State& state, Target& target, uint64_t size, WriteAll write_all) {
  CpuSample used{0, 0};
  for (auto _ : state) {
    state.PauseTiming();
    if (!target.reset(size)) {
      state.SkipWithError(("cannot preallocate " + target.path()).c_str());
      break;
    }
    state.ResumeTiming();
    const CpuSample a = CpuSample::now();
    if (!write_all()) {
      state.SkipWithError("write failed (see stderr)");
      break;
    }
    const CpuSample b = CpuSample::now();
    used = {used.thread + b.thread - a.thread, used.proc + b.proc - a.proc};
  }
  const double gb = static_cast<double>(size) * static_cast<double>(state.iterations()) / 1e9;
  state.SetBytesProcessed(static_cast<int64_t>(size) * state.iterations());
  if (gb > 0) {
    state.counters["thread_cpu_s/GB"] = used.thread / gb;
    state.counters["proc_cpu_s/GB"] = used.proc / gb;
  }
}

// Plain pwrite of the caller's buffer, as the receiver's ObjectSink did before the writer:
// buffered, with a flusher thread kicking writeback (sync_file_range) every 16 MiB, or O_DIRECT
// (one synchronous write at a time, from an aligned buffer: no copy at all).
void BM_Pwrite(benchmark::State& state, bool direct, bool flusher) {
  Target target;
  const uint64_t size = bench_bytes();
  const AlignedBuffer src = source_chunk();
  Fd dfd;
  if (target.ok() && direct) {
    dfd.reset(::open(target.path().c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  }
  if (!target.ok() || (direct && !dfd)) {
    state.SkipWithError(("cannot open " + target.path() + ": " + std::strerror(errno)).c_str());
    return;
  }
  const int fd = direct ? dfd.get() : target.fd();
  run(state, target, size, [&] {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t pending = 0;
    bool stop = false;
    std::thread t;
    if (flusher) {
      t = std::thread([&] {
        std::unique_lock lock(mu);
        for (;;) {
          cv.wait(lock, [&] { return stop || pending >= (16u << 20); });
          if (stop) return;
          pending = 0;
          lock.unlock();
          ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
          lock.lock();
        }
      });
    }
    bool ok = true;
    for (uint64_t off = 0; off < size && ok; off += kChunk) {
      ok =
          ::pwrite(fd, src.data(), kChunk, static_cast<off_t>(off)) == static_cast<ssize_t>(kChunk);
      if (flusher) {
        bool kick = false;
        {
          std::lock_guard lock(mu);
          pending += kChunk;
          kick = pending >= (16u << 20);
        }
        if (kick) cv.notify_one();
      }
    }
    if (flusher) {
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      cv.notify_one();
      t.join();
    }
    return ok && ::fdatasync(fd) == 0;
  });
}

// UringWriter (io_uring, or its pwrite fallback when force_pwrite), polled after every write as
// the receive loop would. Args: queue depth, submit batch, writeback kick interval in MiB.
void BM_Writer(benchmark::State& state, bool direct, bool force_pwrite) {
  Target target;
  const uint64_t size = bench_bytes();
  const AlignedBuffer src = source_chunk();
  if (!target.ok()) {
    state.SkipWithError(("cannot open " + target.path()).c_str());
    return;
  }
  UringWriterOptions o;
  o.queue_depth = static_cast<unsigned>(state.range(0));
  o.submit_batch = static_cast<unsigned>(state.range(1));
  o.writeback_bytes = static_cast<uint64_t>(state.range(2)) << 20;
  o.buffer_size = kChunk;
  o.direct = direct;
  o.force_pwrite = force_pwrite;
  o.label = target.path();
  auto w = UringWriter::open(target.fd(), o);
  if (!w) {
    state.SkipWithError(w.error().c_str());
    return;
  }
  if (direct && !(*w)->direct()) {
    state.SkipWithError("O_DIRECT refused");
    return;
  }
  state.SetLabel((*w)->backend());
  run(state, target, size, [&] {
    for (uint64_t off = 0; off < size; off += kChunk) {
      Status s = (*w)->write(off, {src.data(), kChunk});
      if (s.ok()) s = (*w)->poll();
      if (!s) {
        std::fprintf(stderr, "%s\n", s.error().c_str());
        return false;
      }
    }
    Status s = (*w)->sync();
    if (!s) std::fprintf(stderr, "%s\n", s.error().c_str());
    return s.ok();
  });
}

void configure(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
}

int register_all() {
  configure(benchmark::RegisterBenchmark("pwrite/buffered", BM_Pwrite, false, false));
  configure(benchmark::RegisterBenchmark("pwrite+flusher/buffered", BM_Pwrite, false, true));
  configure(benchmark::RegisterBenchmark("pwrite/direct", BM_Pwrite, true, false));
  for (bool direct : {false, true}) {
    configure(
        benchmark::RegisterBenchmark(direct ? "writer_pwrite/direct" : "writer_pwrite/buffered",
                                     BM_Writer, direct, true)
            ->ArgNames({"qd", "batch", "wb_mib"})
            ->Args({1, 1, 16}));
  }
  configure(benchmark::RegisterBenchmark("uring/buffered", BM_Writer, false, false)
                ->ArgNames({"qd", "batch", "wb_mib"})
                ->Args({32, 4, 16})
                ->Args({32, 4, 0}));
  configure(benchmark::RegisterBenchmark("uring/direct", BM_Writer, true, false)
                ->ArgNames({"qd", "batch", "wb_mib"})
                ->Args({1, 1, 16})
                ->Args({8, 4, 16})
                ->Args({32, 4, 16})
                ->Args({32, 1, 16}));
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace shoal::engine
