// The receiver's output. For a file: a temporary file beside the final path, preallocated, written
// block by block, verified whole, fsynced and only then renamed into place; destroying an
// uncommitted sink removes the temporary file unless keep() was called (partial data kept for a
// resume), so no partial object ever sits under the final name. For a block device: written in
// place after size and mount checks; "complete" is recorded by the caller's state, not a rename.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include <sys/stat.h>

#include "common/result.h"
#include "engine/uring_writer.h"
#include "object/manifest.h"

namespace shoal::object {

// Where the receiver's verified blocks (and spilled symbols) go: offsets are byte offsets in the
// object. ObjectSink is the one on disk; tests pass one in memory. Errors are fatal for the
// receiver (disk full, I/O error). write/read/poll/flush may be called from two threads (the
// receive loop and the checkpointer), so an implementation serialises them.
class BlockSink {
 public:
  virtual ~BlockSink() = default;
  // Queues a write; the bytes are copied (the call may return before they are stored).
  virtual Status write(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Reads back bytes written earlier (waits for them if still in flight).
  virtual Status read(uint64_t offset, std::span<uint8_t> out) = 0;
  // Whether a write of `bytes` would be taken now without waiting for the disk (the receive
  // thread then keeps the block in memory and tries again later, rather than block).
  virtual bool ready(size_t bytes) {
    (void)bytes;
    return true;
  }
  // Reaps finished writes without blocking; reports a failed one.
  virtual Status poll() = 0;
  // Makes everything written so far durable (before a resume state may record it).
  virtual Status flush() = 0;
  // Stores everything (durably unless `sync` is false) and puts the object under its final name.
  virtual Status commit(bool sync) = 0;
  // Removes the partial data now.
  virtual void abandon() = 0;
  // Leaves the partial data in place for a later resume.
  virtual void keep() = 0;
  // How writes are done ("io_uring", "pwrite", ...), for the log.
  virtual const char* backend() const = 0;
};

// Whether --out names a block device to write in place: the device itself, or a udev link to one
// under /dev/. A symlink elsewhere that leads to a device is an error (it may have been planted
// where a file was to be written). `device` (optional) receives the device's stat.
Result<bool> names_block_device(const std::string& out, struct stat* device = nullptr);

class ObjectSink final : public BlockSink {
 public:
  enum class Kind { kFile, kBlockDevice };
  // File: opens `<dir>/.<name>.shoal-part` (kept as is when `reuse`, for a resume; created empty
  // otherwise), sized to `size` bytes: a disk without room for them is refused here, and the
  // blocks are preallocated in the background. Block device: checks it is at least `size` bytes
  // and not mounted (unless `force`).
  // `direct`: write whole aligned pages with O_DIRECT (worth it when blocks are page-aligned).
  // Writes go through an io_uring writer (engine/uring_writer.h), pwrite where io_uring is refused.
  // `write_size`: the usual length of one write (a receiver's block); each of the writer's buffers
  // holds one, so its memory is what writes in flight use (and costs little to set up).
  static Result<ObjectSink> create(const std::string& final_path, uint64_t size, bool force,
                                   bool reuse, bool direct = false, size_t write_size = 1 << 20);
  // Where a resume state for `final_path` lives: beside the file, or under state_dir for a device.
  static std::string state_path(const std::string& final_path, const std::string& state_dir);
  ObjectSink(ObjectSink&& o) noexcept;
  ObjectSink& operator=(ObjectSink&&) = delete;
  ObjectSink(const ObjectSink&) = delete;
  ~ObjectSink() override;

  Kind kind() const { return kind_; }

  // Queues a write (the bytes are copied; the call returns before the disk has them).
  Status write(uint64_t offset, std::span<const uint8_t> data) override;
  bool ready(size_t bytes) override;
  // Reaps finished writes without blocking; reports a failed one (disk full, I/O error).
  Status poll() override;
  // Reads back bytes written earlier (waits for them if still in flight).
  Status read(uint64_t offset, std::span<uint8_t> out) override;
  // Makes everything written so far durable (before a resume state may record it).
  // write/poll/read/flush may be called from two threads (the receive loop and the
  // checkpointer); they are serialised here because the writer is single-threaded.
  Status flush() override;
  const char* backend() const override { return writer_->backend(); }
  // Flushes to stable storage (unless `sync` is false) and renames to the final path. The
  // caller has verified the content.
  Status commit(bool sync = true) override;
  // Removes the temporary file now (also done by the destructor when not committed).
  void abandon() override;
  // Leaves the temporary file in place for a later resume.
  void keep() override;

 private:
  ObjectSink() = default;
  Status open_writer(bool direct, size_t write_size);

  std::string final_, temp_;
  Kind kind_ = Kind::kFile;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool settled_ = false;
  std::mutex mu_;
  std::unique_ptr<engine::UringWriter> writer_;
};

}  // namespace shoal::object
