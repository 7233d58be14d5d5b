#include "object/pipe_source.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/units.h"

namespace shoal::object {

namespace {
constexpr uint64_t kPage = 4096;
// Punched in steps of at least this: one fallocate per few blocks, not per block.
constexpr uint64_t kPunchStep = uint64_t{4} << 20;
}  // namespace

Result<std::unique_ptr<PipeSource>> PipeSource::create(int in_fd, uint64_t size,
                                                       const std::string& dir, uint64_t spool_max,
                                                       PipeNaming naming) {
  if (Status tty = check_stdin_is_no_terminal(in_fd); !tty) return make_error(tty.error());
  if (size == 0) return make_error("send -: --size must be above 0");
  auto f = SpoolFile::create(dir);
  if (!f) return make_error(f.error());
  // Sparse: blocks take room only from when they are read until they are released.
  if (::ftruncate(f->fd(), static_cast<off_t>(size)) != 0) {
    return make_error("send -: sizing " + f->label() + " to " + format_bytes(double(size)) + ": " +
                      std::strerror(errno) + " (choose another directory with --spool)");
  }
  auto m = f->map();
  if (!m) return make_error(m.error());
  return std::unique_ptr<PipeSource>(
      new PipeSource(in_fd, spool_max, std::move(*f), std::move(*m), std::move(naming)));
}

Result<size_t> PipeSource::read_full(uint8_t* to, size_t len, std::stop_token stop) {
  size_t got = 0;
  while (got < len) {
    // A pipe whose writer is silent would block a plain read() for ever: the session may end
    // (every receiver gone) while the reader still waits, and its thread must then stop.
    pollfd pfd{in_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 100);
    if (stop.stop_requested()) return make_error("stopped");
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    const ssize_t n = ::read(in_fd_, to + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(naming_.input + ": read: " + std::strerror(errno));
    if (n == 0) break;
    got += size_t(n);
  }
  return got;
}

Result<std::span<const uint8_t>> PipeSource::next(size_t len, std::stop_token stop) {
  len = static_cast<size_t>(std::min<uint64_t>(len, size() - read_));
  uint64_t released = 0;
  {
    std::unique_lock lock(mu_);
    if (read_ + len - released_ > spool_max_) {
      waiting_ = true;
      room_.wait(lock, stop, [&] { return read_ + len - released_ <= spool_max_; });
      waiting_ = false;
      if (stop.stop_requested()) return make_error("stopped");
    }
    released = released_;
  }
  punch(released);
  buf_.resize(len);
  auto got = read_full(buf_.data(), len, stop);
  if (!got) return make_error(got.error());
  if (*got < len) {
    return make_error(naming_.input + " ended after " + std::to_string(read_ + *got) + " bytes; " +
                      naming_.length + " says " + std::to_string(size()) + " (" + naming_.fix +
                      ")");
  }
  for (size_t done = 0; done < len;) {
    const ssize_t w =
        ::pwrite(spool_.fd(), buf_.data() + done, len - done, static_cast<off_t>(read_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      return make_error("send -: writing " + spool_.label() + ": " + std::strerror(errno) +
                        " (it needs room for --spool-max: choose another directory with --spool)");
    }
    done += size_t(w);
  }
  if (read_ + len == size()) {
    uint8_t extra = 0;
    auto more = read_full(&extra, 1, stop);
    if (!more) return make_error(more.error());
    if (*more != 0) {
      return make_error(naming_.input + " carries more than " + naming_.length + " " +
                        std::to_string(size()) + " bytes (" + naming_.fix + ")");
    }
  }
  {
    std::lock_guard lock(mu_);
    read_ += len;
    peak_ = std::max(peak_, read_ - released_);
  }
  return std::span<const uint8_t>(buf_);
}

void PipeSource::release_below(uint64_t offset) {
  {
    std::lock_guard lock(mu_);
    offset = std::min(offset, read_);
    if (offset <= released_) return;
    released_ = offset;
  }
  room_.notify_all();
}

// Whole pages only: a block's first bytes may share a page with the previous block's last.
void PipeSource::punch(uint64_t below) {
  below &= ~(kPage - 1);
  if (below < punched_ + kPunchStep) return;
  // Failure costs only disk room (a file system without hole punching keeps the bytes).
  (void)::fallocate(spool_.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(punched_), static_cast<off_t>(below - punched_));
  punched_ = below;
}

bool PipeSource::full() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

uint64_t PipeSource::peak_bytes() const {
  std::lock_guard lock(mu_);
  return peak_;
}

uint64_t PipeSource::held_bytes() const {
  std::lock_guard lock(mu_);
  return read_ - released_;
}

}  // namespace shoal::object
