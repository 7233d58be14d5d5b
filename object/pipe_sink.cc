#include "object/pipe_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace shoal::object {

namespace {
constexpr size_t kChunk = size_t{1} << 20;  // streamed and punched at a time
}

Result<std::unique_ptr<PipeSink>> PipeSink::create(int out_fd, uint64_t size,
                                                   const std::string& spool_dir,
                                                   std::function<void()> streamed) {
  std::string dir = spool_dir;
  if (dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir = t && *t ? t : "/tmp";
  }
  // Unlinked from the start: nothing is left behind, whatever ends the process.
  Fd spool(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!spool) {
    return make_error("--out -: cannot create a spool file in '" + dir + "': " +
                      std::strerror(errno) + " (give a writable directory with --spool DIR)");
  }
  if (::ftruncate(spool.get(), static_cast<off_t>(size)) != 0) {
    return make_error("--out -: cannot size the spool file in '" + dir +
                      "': " + std::strerror(errno));
  }
  return std::unique_ptr<PipeSink>(
      new PipeSink(out_fd, size, std::move(spool), std::move(streamed)));
}

PipeSink::PipeSink(int out_fd, uint64_t size, Fd spool, std::function<void()> streamed)
    : out_fd_(out_fd),
      streamed_callback_(std::move(streamed)),
      size_(size),
      spool_(std::move(spool)) {
  writer_ = std::thread([this] { run(); });
}

PipeSink::~PipeSink() {
  stop();
}

void PipeSink::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void PipeSink::verified(uint64_t offset, uint64_t length) {
  {
    std::lock_guard lock(mu_);
    pending_[offset] = offset + length;
    for (auto it = pending_.begin(); it != pending_.end() && it->first <= ready_;) {
      ready_ = std::max(ready_, it->second);
      it = pending_.erase(it);
    }
  }
  cv_.notify_all();
}

void PipeSink::run() {
  stream();
  if (streamed_callback_) streamed_callback_();
}

void PipeSink::stream() {
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    uint64_t from = 0, to = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || streamed_ < ready_ || streamed_ == size_; });
      if (streamed_ == size_) return;   // the whole object went
      if (streamed_ >= ready_) return;  // stopping, nothing more to stream
      from = streamed_;
      to = std::min(ready_, from + kChunk);
    }
    const size_t n = static_cast<size_t>(to - from);
    std::string failure;
    const ssize_t got = ::pread(spool_.get(), buf.data(), n, static_cast<off_t>(from));
    if (got != static_cast<ssize_t>(n)) {
      failure = std::string("reading the spool: ") + (got < 0 ? std::strerror(errno) : "short");
    }
    for (size_t done = 0; failure.empty() && done < n;) {
      const ssize_t w = ::write(out_fd_, buf.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        failure = errno == EPIPE ? std::string("the reader of the pipe went away (EPIPE)")
                                 : std::string("writing to the pipe: ") + std::strerror(errno);
        break;
      }
      done += static_cast<size_t>(w);
    }
    if (failure.empty()) {
      // What the pipe took needs no spool space any more (best effort: not every fs can).
      (void)::fallocate(spool_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(from), static_cast<off_t>(n));
    }
    {
      std::lock_guard lock(mu_);
      if (!failure.empty()) {
        error_ = "--out -: " + failure;
        cv_.notify_all();
        return;
      }
      streamed_ = to;
    }
    cv_.notify_all();
  }
}

uint64_t PipeSink::streamed() const {
  std::lock_guard lock(mu_);
  return streamed_;
}

Status PipeSink::write(uint64_t offset, std::span<const uint8_t> data) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t w = ::pwrite(spool_.get(), data.data() + done, data.size() - done,
                               static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      return make_error(
          std::string("--out -: writing the spool file: ") + std::strerror(errno) +
          " (a spool needs room for what the pipe's reader lags behind: --spool DIR)");
    }
    done += static_cast<size_t>(w);
  }
  return {};
}

Status PipeSink::read(uint64_t offset, std::span<uint8_t> out) {
  const ssize_t got = ::pread(spool_.get(), out.data(), out.size(), static_cast<off_t>(offset));
  if (got != static_cast<ssize_t>(out.size())) {
    return make_error(std::string("--out -: reading the spool file: ") +
                      (got < 0 ? std::strerror(errno) : "short read"));
  }
  return {};
}

Status PipeSink::poll() {
  std::lock_guard lock(mu_);
  if (!error_.empty()) return make_error(error_);
  return {};
}

Status PipeSink::commit(bool /*sync*/) {
  std::lock_guard lock(mu_);
  if (!error_.empty()) return make_error(error_);
  if (ready_ != size_) return make_error("internal: --out - committed before every block was in");
  return {};
}

Status PipeSink::drain() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !error_.empty() || streamed_ == size_ || stopping_; });
  if (!error_.empty()) return make_error(error_);
  if (streamed_ != size_) return make_error("--out -: stopped before the whole object was written");
  return {};
}

}  // namespace shoal::object
