#include "engine/uring_writer.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shoal::engine {

namespace {

constexpr unsigned kMaxQueueDepth = 1024;    // io_uring_register_buffers takes at most UIO_MAXIOV
constexpr size_t kMaxBufferSize = 1u << 30;  // the kernel's limit for one registered buffer
constexpr uint32_t kMaxRetries = 64;         // -EAGAIN/-EINTR resubmissions of one request

uint64_t round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}
uint64_t round_down(uint64_t v, uint64_t a) {
  return v / a * a;
}

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (e == ENOSPC) s += " (free space on the output's disk or choose another output)";
  if (e == EFBIG) s += " (the file size limit, ulimit -f, or the filesystem's maximum)";
  return s;
}

std::string mib(uint64_t bytes) {
  if (bytes < (1u << 20)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes >> 20) + " MiB";
}

std::string memlock_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return "unknown";
  if (rl.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(rl.rlim_cur >> 10) + " KiB";
}

}  // namespace

Result<std::unique_ptr<UringWriter>> UringWriter::open(int fd, const UringWriterOptions& o) {
  if (o.queue_depth < 1 || o.queue_depth > kMaxQueueDepth) {
    return make_error("writer queue depth " + std::to_string(o.queue_depth) +
                      " is out of range 1.." + std::to_string(kMaxQueueDepth));
  }
  if (o.buffer_size == 0 || o.buffer_size > kMaxBufferSize) {
    return make_error("writer buffer size " + std::to_string(o.buffer_size) +
                      " is out of range 1..1 GiB");
  }
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return make_error("cannot use " + o.label + ": " + std::strerror(errno));
  if ((fl & O_ACCMODE) == O_RDONLY) {
    return make_error("cannot write " + o.label + ": its descriptor is open read-only");
  }
  if ((fl & O_DIRECT) != 0) {
    return make_error(
        "internal: pass the writer a descriptor without O_DIRECT and set "
        "UringWriterOptions::direct (unaligned pieces need the page cache)");
  }

  std::unique_ptr<UringWriter> w(new UringWriter());
  w->fd_ = fd;
  w->label_ = o.label;
  w->buffer_size_ = round_up(o.buffer_size, kDirectAlign);
  w->submit_batch_ = std::clamp(o.submit_batch, 1u, o.queue_depth);
  w->writeback_every_ = o.writeback_bytes;

  if (o.direct) {
    // A second open file description of the same inode: O_DIRECT there leaves `fd` buffered.
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    const int d = ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (d >= 0) {
      w->direct_fd_.reset(d);
    } else {
      spdlog::warn("writer: O_DIRECT unavailable for {} ({}); writing through the page cache",
                   o.label, std::strerror(errno));
    }
  }

  if (o.force_pwrite) {
    w->backend_ = "pwrite (forced)";
  } else {
    w->setup_ring(o);
  }

  // Memory: the ring's buffers, or on the pwrite backend one bounce buffer for O_DIRECT pieces
  // (the caller's memory may not be aligned). Buffered pwrite writes straight from the caller.
  const size_t bytes =
      w->uring_ ? w->buffer_size_ * o.queue_depth : (w->direct() ? w->buffer_size_ : size_t{0});
  if (bytes > 0) {
    w->memory_ = AlignedBuffer::map(bytes);
    if (w->memory_.empty()) {
      return make_error("cannot allocate " + mib(bytes) + " of write buffers: " +
                        std::strerror(errno) + " (lower the queue depth or buffer size)");
    }
  }
  if (w->uring_) w->register_resources(o.queue_depth);
  return w;
}

void UringWriter::setup_ring(const UringWriterOptions& o) {
  // COOP_TASKRUN: completions do not interrupt the receive loop; they are posted at its next
  // syscall (or by reap() when the kernel flags pending work). Kernels before 5.19 refuse the flag.
  // Three SQEs more than buffers: room for the datasync, a writeback and a preallocation request.
  const unsigned entries = o.queue_depth + 3;
  int r =
      io_uring_queue_init(entries, &ring_, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  if (r == -EINVAL) r = io_uring_queue_init(entries, &ring_, 0);
  if (r < 0) {
    backend_ = std::string("pwrite (io_uring_setup: ") + std::strerror(-r) + ")";
    spdlog::warn("writer: io_uring unavailable ({}{}); writing {} with pwrite", std::strerror(-r),
                 r == -EPERM ? ": sysctl kernel.io_uring_disabled or a seccomp profile" : "",
                 o.label);
    return;
  }
  uring_ = true;
  // No probe (kernel < 5.6) means the 5.1 opcodes only: WRITE_FIXED and FSYNC are among them.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  has_write_fixed_ = probe == nullptr || io_uring_opcode_supported(probe, IORING_OP_WRITE_FIXED);
  has_write_ = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_WRITE);
  ring_fsync_ = probe == nullptr || io_uring_opcode_supported(probe, IORING_OP_FSYNC);
  ring_sync_range_ =
      probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SYNC_FILE_RANGE);
  ring_fallocate_ = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_FALLOCATE);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!has_write_fixed_ && !has_write_) {
    io_uring_queue_exit(&ring_);
    uring_ = false;
    backend_ = "pwrite (io_uring lacks write opcodes)";
    spdlog::warn("writer: this kernel's io_uring cannot write; writing {} with pwrite", o.label);
    return;
  }
  if (!ring_fsync_) {
    spdlog::warn("writer: io_uring lacks IORING_OP_FSYNC; syncing {} with fdatasync()", o.label);
  }
  if (!ring_sync_range_ && o.writeback_bytes > 0) {
    spdlog::warn("writer: io_uring lacks IORING_OP_SYNC_FILE_RANGE; {} starts writeback inline",
                 o.label);
  }
  backend_ = "io_uring";
}

void UringWriter::register_resources(unsigned depth) {
  slots_.assign(depth, Slot{});
  free_.clear();
  for (unsigned i = depth; i-- > 0;) free_.push_back(i);  // hand out slot 0 first

  int r = -EOPNOTSUPP;
  if (has_write_fixed_) {
    std::vector<iovec> iov(depth);
    for (unsigned i = 0; i < depth; ++i) iov[i] = {slot_data(i), buffer_size_};
    r = io_uring_register_buffers(&ring_, iov.data(), depth);
  }
  fixed_buffers_ = r == 0;
  if (!fixed_buffers_ && has_write_) {
    backend_ = "io_uring (unregistered buffers)";
    spdlog::warn(
        "writer: cannot register {} of io_uring buffers ({}; RLIMIT_MEMLOCK is {}); writing {} "
        "from unregistered buffers",
        mib(memory_.size()), std::strerror(-r), memlock_limit(), label_);
  } else if (!fixed_buffers_) {
    // WRITE_FIXED only (kernel 5.1..5.5) and registration refused: nothing left to write with.
    io_uring_queue_exit(&ring_);
    uring_ = false;
    slots_.clear();
    free_.clear();
    backend_ = std::string("pwrite (io_uring_register_buffers: ") + std::strerror(-r) + ")";
    spdlog::warn("writer: cannot register io_uring buffers ({}); writing {} with pwrite",
                 std::strerror(-r), label_);
    return;
  }

  // Registered files spare the kernel an fd lookup and reference per request; optional.
  const int fds[2] = {fd_, direct_fd_.get()};
  fixed_files_ = io_uring_register_files(&ring_, fds, direct() ? 2u : 1u) == 0;
}

UringWriter::~UringWriter() {
  if (!uring_) return;
  (void)drain();  // the kernel may still read from our buffers: wait before freeing them
  io_uring_queue_exit(&ring_);
}

Status UringWriter::write(uint64_t offset, std::span<const uint8_t> data) {
  if (!error_.ok()) return error_;
  if (data.empty()) return {};
  if (offset > UINT64_MAX - data.size()) {
    fail("write at offset " + std::to_string(offset) + " overflows");
    return error_;
  }
  const uint64_t end = offset + data.size();
  auto piece = [&](uint64_t from, uint64_t to, Target t) {
    return write_piece(from, data.data() + (from - offset), static_cast<size_t>(to - from), t);
  };
  if (!direct()) return piece(offset, end, kBuffered);
  const uint64_t a = round_up(offset, kDirectAlign);
  const uint64_t b = round_down(end, kDirectAlign);
  if (a >= b) return piece(offset, end, kBuffered);  // no whole page inside
  if (offset < a) {
    if (Status s = piece(offset, a, kBuffered); !s) return s;
  }
  if (Status s = piece(a, b, kDirect); !s) return s;
  if (b < end) return piece(b, end, kBuffered);
  return error_;
}

Status UringWriter::write_piece(uint64_t offset, const uint8_t* data, size_t length, Target t) {
  if (!uring_) return pwrite_piece(t, offset, data, length);
  while (length > 0) {
    unsigned i = 0;
    if (Status s = acquire_slot(&i); !s) return s;
    const size_t n = std::min(length, buffer_size_);
    std::memcpy(slot_data(i), data, n);
    Slot& s = slots_[i];
    s.offset = offset;
    s.done = 0;
    s.length = static_cast<uint32_t>(n);
    s.retries = 0;
    s.target = t;
    ++stats_.writes;
    prepare(i);
    if (queued_ >= submit_batch_) submit_queued();
    if (t == kBuffered) note_buffered(n);
    offset += n;
    data += n;
    length -= n;
  }
  return error_;
}

bool UringWriter::can_write_now(size_t length) {
  if (!uring_) return true;
  reap();
  // O_DIRECT splits a write into its unaligned head, aligned middle and unaligned tail.
  const size_t pieces = (length + buffer_size_ - 1) / buffer_size_ + (direct() ? 2 : 0);
  return free_.size() >= pieces;
}

Status UringWriter::acquire_slot(unsigned* index) {
  reap();
  if (free_.empty() && error_.ok()) {
    ++stats_.buffer_waits;
    while (free_.empty() && error_.ok() && wait_one()) {
    }
  }
  if (!error_.ok()) return error_;
  if (free_.empty()) {
    fail("internal: no write buffer came free");
    return error_;
  }
  *index = free_.back();
  free_.pop_back();
  slots_[*index].busy = true;
  ++busy_;
  return {};
}

void UringWriter::release(unsigned i) {
  slots_[i].busy = false;
  free_.push_back(i);
  --busy_;
}

void UringWriter::prepare(unsigned i) {
  // Cannot be null: the SQ has >= queue_depth entries and each busy slot holds at most one.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    fail("internal: io_uring submission queue full");
    release(i);
    return;
  }
  const Slot& s = slots_[i];
  const uint8_t* buf = slot_data(i) + s.done;
  const int fd = fixed_files_ ? static_cast<int>(s.target) : fd_for(s.target);
  if (fixed_buffers_) {
    io_uring_prep_write_fixed(sqe, fd, buf, s.length, s.offset, static_cast<int>(i));
  } else {
    io_uring_prep_write(sqe, fd, buf, s.length, s.offset);
  }
  if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, i);
  ++queued_;
}

bool UringWriter::submit_queued() {
  bool progress = false;
  while (queued_ > 0) {
    const int r = io_uring_submit(&ring_);
    if (r > 0) {
      queued_ -= std::min(static_cast<unsigned>(r), queued_);
      ++stats_.submits;
      progress = true;
    } else if (r == -EINTR) {
      continue;
    } else if ((r == -EAGAIN || r == -EBUSY) && in_kernel() > 0) {
      // Out of request memory or completions backed up: make room, then try again.
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring_, &cqe) == 0) reap();
      progress = true;
    } else {
      fail(std::string("io_uring_submit: ") + (r < 0 ? std::strerror(-r) : "took no request"));
      break;
    }
  }
  return progress;
}

bool UringWriter::wait_one() {
  const bool submitted = submit_queued();
  if (in_kernel() == 0) return submitted;  // nothing to wait for
  io_uring_cqe* cqe = nullptr;
  const int r = io_uring_wait_cqe(&ring_, &cqe);
  if (r < 0 && r != -EINTR && r != -EAGAIN) {
    fail(std::string("io_uring_wait_cqe: ") + std::strerror(-r));
    return false;
  }
  reap();
  return true;
}

void UringWriter::reap() {
  // With IORING_SETUP_TASKRUN_FLAG the kernel says when completions wait for us to enter it.
  if ((IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) != 0) {
    (void)io_uring_get_events(&ring_);
  }
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    const uint64_t tag = io_uring_cqe_get_data64(cqe);
    if (tag == kFsyncTag) {
      fsync_pending_ = false;
      fsync_result_ = cqe->res;
    } else if (tag == kFallocateTag) {
      fallocate_pending_ = false;
      preallocated(fallocate_length_, cqe->res < 0 ? -cqe->res : 0);
    } else if (tag == kWritebackTag) {
      writeback_pending_ = false;  // only a hint: a failure shows again at sync()
    } else if (tag < slots_.size() && slots_[tag].busy) {
      complete(static_cast<unsigned>(tag), cqe->res);
    }
  }
  io_uring_cq_advance(&ring_, seen);
  // Resubmitted rests of short writes stay queued: every caller of reap() submits afterwards
  // (submitting here could recurse through submit_queued's wait).
}

void UringWriter::complete(unsigned i, int res) {
  Slot& s = slots_[i];
  if ((res == -EAGAIN || res == -EINTR) && s.retries < kMaxRetries && error_.ok()) {
    ++s.retries;
    ++stats_.retries;
    prepare(i);
    return;
  }
  if (res <= 0) {
    fail("cannot write " + std::to_string(s.length) + " bytes at offset " +
         std::to_string(s.offset) + " of " + label_ + ": " +
         (res == 0 ? std::string("the kernel wrote nothing (device full or gone?)")
                   : errno_text(-res)));
    release(i);
    return;
  }
  const uint32_t n = std::min(static_cast<uint32_t>(res), s.length);
  bytes_written_ += n;
  s.offset += n;
  s.done += n;
  s.length -= n;
  if (s.length == 0 || !error_.ok()) {
    release(i);
    return;
  }
  ++stats_.short_writes;
  // O_DIRECT needs the rest aligned in memory, offset and length; else it goes buffered.
  if (s.target == kDirect && (s.offset % kDirectAlign != 0 || s.done % kDirectAlign != 0 ||
                              s.length % kDirectAlign != 0)) {
    s.target = kBuffered;
  }
  s.retries = 0;
  prepare(i);
}

void UringWriter::note_buffered(size_t bytes) {
  if (writeback_every_ == 0) return;
  dirty_bytes_ += bytes;
  if (dirty_bytes_ < writeback_every_) return;
  dirty_bytes_ = 0;
  ++stats_.writeback_kicks;
  if (!uring_ || !ring_sync_range_) {
    (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // a hint: errors show at sync()
    return;
  }
  if (writeback_pending_) return;                // the last one is still walking the file: enough
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);  // room reserved in setup_ring
  if (sqe == nullptr) return;
  // The whole file (offset 0, length 0 = to its end): writes land in any order.
  io_uring_prep_sync_file_range(sqe, fixed_files_ ? 0 : fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, kWritebackTag);
  writeback_pending_ = true;
  ++queued_;
}

void UringWriter::fail(std::string what) {
  if (error_.ok()) error_ = make_error(std::move(what));
}

Status UringWriter::preallocate(uint64_t length) {
  if (!error_.ok() || length == 0) return error_;
  if (length > uint64_t{INT64_MAX}) {
    fail("cannot preallocate " + std::to_string(length) + " bytes: beyond the largest file offset");
    return error_;
  }
  // Room for it is reserved in setup_ring; without the opcode (or a second call while one runs),
  // inline.
  io_uring_sqe* sqe =
      uring_ && ring_fallocate_ && !fallocate_pending_ ? io_uring_get_sqe(&ring_) : nullptr;
  if (sqe == nullptr) {
    preallocated(length, ::posix_fallocate(fd_, 0, static_cast<off_t>(length)));
    return error_;
  }
  io_uring_prep_fallocate(sqe, fixed_files_ ? 0 : fd_, 0, 0, length);
  if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, kFallocateTag);
  fallocate_pending_ = true;
  fallocate_length_ = length;
  ++queued_;
  submit_queued();
  return error_;
}

void UringWriter::preallocated(uint64_t length, int err) {
  // EOPNOTSUPP / EINVAL: this filesystem does not preallocate; blocks are allocated as written.
  if (err == 0 || err == EOPNOTSUPP || err == EINVAL) return;
  fail("cannot preallocate " + mib(length) + " for " + label_ + ": " + errno_text(err));
}

Status UringWriter::poll() {
  if (!uring_) return error_;
  reap();
  if (queued_ > 0) submit_queued();
  return error_;
}

Status UringWriter::wait_range(uint64_t offset, uint64_t length) {
  if (!uring_) return error_;
  auto overlaps = [&] {
    for (const Slot& s : slots_) {
      if (s.busy && s.offset < offset + length && offset < s.offset + s.length) return true;
    }
    return false;
  };
  while (overlaps() && wait_one()) {
  }
  return error_;
}

Status UringWriter::drain() {
  if (!uring_) return error_;
  while ((busy_ > 0 || fsync_pending_ || writeback_pending_ || fallocate_pending_) && wait_one()) {
  }
  if (busy_ > 0 && error_.ok()) fail("internal: writes stuck in the submission queue");
  return error_;
}

Status UringWriter::sync() {
  if (Status s = drain(); !s) return s;
  if (uring_ && ring_fsync_) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);  // the ring is idle after drain(): never null
    if (sqe != nullptr) {
      io_uring_prep_fsync(sqe, fixed_files_ ? 0 : fd_, IORING_FSYNC_DATASYNC);
      if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
      io_uring_sqe_set_data64(sqe, kFsyncTag);
      fsync_pending_ = true;
      ++queued_;
      while (fsync_pending_ && wait_one()) {
      }
      if (fsync_pending_) {
        fail("internal: datasync request lost");
      } else if (fsync_result_ < 0) {
        fail("cannot flush " + label_ + " to stable storage: " + errno_text(-fsync_result_));
      }
      return error_;
    }
  }
  if (::fdatasync(fd_) != 0) {
    fail("cannot flush " + label_ + " to stable storage: " + errno_text(errno));
  }
  return error_;
}

Status UringWriter::pwrite_piece(Target t, uint64_t offset, const uint8_t* data, size_t length) {
  // O_DIRECT needs aligned memory: unless the caller's is, stage through the bounce buffer.
  const bool bounce = t == kDirect && reinterpret_cast<uintptr_t>(data) % kDirectAlign != 0;
  while (length > 0) {
    const size_t n = bounce ? std::min(length, buffer_size_) : length;
    const uint8_t* src = data;
    if (bounce) {
      std::memcpy(memory_.data(), data, n);
      src = memory_.data();
    }
    ++stats_.writes;
    size_t done = 0;
    Target to = t;
    while (done < n) {
      const ssize_t r =
          ::pwrite(fd_for(to), src + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        fail("cannot write " + std::to_string(n - done) + " bytes at offset " +
             std::to_string(offset + done) + " of " + label_ + ": " +
             (r == 0 ? std::string("the kernel wrote nothing (device full or gone?)")
                     : errno_text(errno)));
        return error_;
      }
      done += static_cast<size_t>(r);
      bytes_written_ += static_cast<uint64_t>(r);
      if (done < n) {
        ++stats_.short_writes;
        if (to == kDirect && ((offset + done) % kDirectAlign != 0 || done % kDirectAlign != 0 ||
                              (n - done) % kDirectAlign != 0)) {
          to = kBuffered;
        }
      }
    }
    if (t == kBuffered) note_buffered(n);
    offset += n;
    data += n;
    length -= n;
  }
  return error_;
}

}  // namespace shoal::engine
