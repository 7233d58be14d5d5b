// UringWriter: the receiver's disk writer. Positioned writes into one output (regular file or
// block device) through io_uring: a fixed ring of registered buffers (queue_depth x buffer_size
// bytes, allocated once, the only memory it uses), IORING_OP_WRITE_FIXED submitted in batches,
// completions reaped without blocking. write() copies the caller's bytes into a free buffer and
// returns, so the receive loop never waits for the disk unless every buffer is in flight.
//
// O_DIRECT (options.direct): the writer opens its own O_DIRECT description of the same file
// (through /proc/self/fd/<fd>) and sends every whole, 4096-aligned page range of a write there;
// the unaligned head and tail of a write (e.g. the object's last partial page) go through `fd`,
// buffered. No caller-side padding or ftruncate is needed, bytes beyond a write are never touched
// (which matters on a block device), and `fd` stays buffered so the caller can pread() through it.
// A page is only ever written one way (writes never overlap), so the page cache stays coherent.
//
// Buffered data: every writeback_bytes of buffered writes the writer queues
// IORING_OP_SYNC_FILE_RANGE(SYNC_FILE_RANGE_WRITE) on the ring (run by the kernel's workers, never
// by the receive loop), so dirty pages stream to the disk while data arrives and the final
// datasync has less left (ObjectSink used a flusher thread for the same reason; figures in
// docs/benchmarks-writer.md).
//
// Fallbacks, probed once in open(), each logged with one spdlog line: io_uring refused (old kernel,
// seccomp, kernel.io_uring_disabled) -> pwrite(); buffer registration refused (RLIMIT_MEMLOCK) ->
// io_uring from unregistered buffers; O_DIRECT refused (filesystem, no /proc) -> buffered;
// IORING_OP_FSYNC / IORING_OP_SYNC_FILE_RANGE missing -> fdatasync() / sync_file_range() called
// inline (the pwrite backend calls sync_file_range() inline too: it may block briefly).
//
// Not thread-safe: one writer per output, used by one thread at a time.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "engine/aligned_buffer.h"

namespace shoal::engine {

// O_DIRECT granularity used for offsets, lengths and buffer addresses (safe for 512-byte and
// 4096-byte logical block devices alike).
inline constexpr uint64_t kDirectAlign = 4096;

struct UringWriterOptions {
  unsigned queue_depth = 32;            // registered buffers = most writes in flight, 1..1024
  size_t buffer_size = 1 << 20;         // bytes per buffer, rounded up to kDirectAlign, <= 1 GiB;
                                        // a longer write() takes several buffers
  unsigned submit_batch = 4;            // queued writes that trigger a submit (1 = every write);
                                        // poll()/drain()/sync() submit whatever is queued
  uint64_t writeback_bytes = 16 << 20;  // start writeback of buffered data after this many bytes
                                        // (0 = leave it to the kernel; see below)
  bool direct = false;                  // write whole aligned pages with O_DIRECT (see above)
  bool force_pwrite = false;            // skip io_uring: plain pwrite() (comparisons, tests)
  std::string label = "output";         // names the output in error messages (e.g. its path)
};

struct UringWriterStats {
  uint64_t writes = 0;           // write requests issued (a write() may issue several)
  uint64_t submits = 0;          // io_uring_submit calls that handed over at least one request
  uint64_t buffer_waits = 0;     // times write() blocked because every buffer was in flight
  uint64_t short_writes = 0;     // completions that wrote less than asked (rest resubmitted)
  uint64_t retries = 0;          // -EAGAIN / -EINTR completions resubmitted
  uint64_t writeback_kicks = 0;  // writeback requests started for buffered data
};

class UringWriter {
 public:
  // Sets up the writer for `fd` (not owned; must stay open while the writer lives, opened for
  // writing, without O_DIRECT). Errors: options out of range, fd not writable or with O_DIRECT,
  // buffer memory refused. Kernel features missing are not errors (see the fallbacks above).
  static Result<std::unique_ptr<UringWriter>> open(int fd, const UringWriterOptions& options);
  // Waits for writes still in flight (their errors are lost: call drain() first to see them).
  ~UringWriter();
  UringWriter(const UringWriter&) = delete;
  UringWriter& operator=(const UringWriter&) = delete;

  // Queues `data` to be written at `offset`. `data` is copied before this returns (the caller may
  // reuse it at once). Blocks only when all buffers are in flight, until one completes. Writes in
  // flight together must not overlap (their order is unspecified; wait_range() first). On the
  // pwrite backend the write is done before this returns (from `data` itself when it is
  // 4096-aligned, else through a bounce buffer). Returns the first error the writer has
  // seen (sticky: after an error every call returns it; the output should be discarded).
  Status write(uint64_t offset, std::span<const uint8_t> data);
  // Allocates the output's first `length` bytes on disk without waiting for it: on the ring
  // (IORING_OP_FALLOCATE, run by the kernel's workers; writes may be queued meanwhile, which
  // matters when preallocation takes tens of milliseconds, as on tmpfs or a large file), or with
  // posix_fallocate() inline without the opcode. A filesystem that cannot preallocate is not an
  // error; running out of space is (seen by poll(), drain() or sync(), like a write's error).
  Status preallocate(uint64_t length);
  // Whether write() of `length` bytes would start now, without waiting for a buffer (reaps
  // finished writes first). Always true on the pwrite backend, which has no queue.
  bool can_write_now(size_t length);
  // Submits queued writes and reaps completions; never waits for the disk. Returns the first error
  // seen so far (short write that cannot progress, ENOSPC, EIO...).
  Status poll();
  // Waits until no write in flight overlaps [offset, offset + length) (e.g. before reading those
  // bytes back through another descriptor).
  Status wait_range(uint64_t offset, uint64_t length);
  // Submits everything queued and waits for every write in flight.
  Status drain();
  // drain(), then makes the written data durable: IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, or
  // fdatasync() when the ring lacks it (one datasync covers both descriptors: it is per inode).
  Status sync();

  // "io_uring", "io_uring (unregistered buffers)" or "pwrite (reason)".
  const char* backend() const { return backend_.c_str(); }
  bool direct() const { return direct_fd_.valid(); }         // O_DIRECT in use
  uint64_t bytes_written() const { return bytes_written_; }  // bytes the kernel reported written
  unsigned in_flight() const { return busy_; }               // buffers handed out, not yet free
  unsigned queue_depth() const {                             // 0 on the pwrite backend
    return static_cast<unsigned>(slots_.size());
  }
  const UringWriterStats& stats() const { return stats_; }

 private:
  enum Target : uint8_t { kBuffered = 0, kDirect = 1 };  // also the registered-file index
  struct Slot {
    uint64_t offset = 0;  // where the unwritten rest goes
    uint32_t done = 0;    // bytes of this buffer already written (short writes)
    uint32_t length = 0;  // bytes still to write
    uint32_t retries = 0;
    Target target = kBuffered;
    bool busy = false;
  };
  static constexpr uint64_t kFsyncTag = ~uint64_t{0};
  static constexpr uint64_t kWritebackTag = ~uint64_t{0} - 1;
  static constexpr uint64_t kFallocateTag = ~uint64_t{0} - 2;

  UringWriter() = default;
  void setup_ring(const UringWriterOptions& o);  // soft failures pick the pwrite backend
  void register_resources(unsigned depth);       // slots, registered buffers and files
  Status write_piece(uint64_t offset, const uint8_t* data, size_t length, Target t);
  Status pwrite_piece(Target t, uint64_t offset, const uint8_t* data, size_t length);
  int fd_for(Target t) const { return t == kDirect ? direct_fd_.get() : fd_; }
  uint8_t* slot_data(unsigned i) const { return memory_.data() + size_t{i} * buffer_size_; }
  // Requests the kernel holds: busy slots, datasync, writeback and preallocation, minus SQEs
  // not yet submitted.
  unsigned in_kernel() const {
    return busy_ + (fsync_pending_ ? 1u : 0u) + (writeback_pending_ ? 1u : 0u) +
           (fallocate_pending_ ? 1u : 0u) - queued_;
  }
  void preallocated(uint64_t length, int err);  // the outcome of a preallocation (0 or errno)
  void note_buffered(size_t bytes);  // counts dirty bytes, starts writeback every writeback_bytes
  Status acquire_slot(unsigned* index);
  void release(unsigned index);
  void prepare(unsigned index);  // one SQE for the slot's unwritten rest
  bool submit_queued();          // false when nothing could be submitted
  bool wait_one();               // submits, blocks for >= 1 completion; false: nothing to wait for
  void reap();
  void complete(unsigned index, int res);
  void fail(std::string what);  // keeps the first error

  int fd_ = -1;
  Fd direct_fd_;
  std::string label_;
  std::string backend_;
  size_t buffer_size_ = 0;
  unsigned submit_batch_ = 1;
  bool uring_ = false;
  bool has_write_fixed_ = false;
  bool has_write_ = false;
  bool fixed_buffers_ = false;
  bool fixed_files_ = false;
  bool ring_fsync_ = false;
  bool ring_sync_range_ = false;
  bool ring_fallocate_ = false;
  io_uring ring_{};
  AlignedBuffer memory_;
  std::vector<Slot> slots_;
  std::vector<unsigned> free_;  // indices of idle slots (stack)
  unsigned busy_ = 0;
  unsigned queued_ = 0;  // prepared SQEs not yet submitted
  bool fsync_pending_ = false;
  int fsync_result_ = 0;
  bool writeback_pending_ = false;
  bool fallocate_pending_ = false;
  uint64_t fallocate_length_ = 0;
  uint64_t writeback_every_ = 0;
  uint64_t dirty_bytes_ = 0;  // buffered bytes written since the last writeback request
  uint64_t bytes_written_ = 0;
  Status error_;
  UringWriterStats stats_;
};

}  // namespace shoal::engine
