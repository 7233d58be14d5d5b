// The receiver's output. For a file: a temporary file beside the final path, preallocated, written
// block by block, verified whole, fsynced and only then renamed into place; destroying an
// uncommitted sink removes the temporary file unless keep() was called (partial data kept for a
// resume), so no partial object ever sits under the final name. For a block device: written in
// place after size and mount checks; "complete" is recorded by the caller's state, not a rename.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "common/result.h"
#include "session/manifest.h"

namespace shoal::session {

class ObjectSink {
 public:
  enum class Kind { kFile, kBlockDevice };
  // File: opens `<dir>/.<name>.shoal-part` (kept as is when `reuse`, for a resume; created empty
  // otherwise) and preallocates `size` bytes, failing early on a full disk. Block device: checks
  // it is at least `size` bytes and not mounted (unless `force`).
  static Result<ObjectSink> create(const std::string& final_path, uint64_t size, bool force,
                                   bool reuse);
  // Where a resume state for `final_path` lives: beside the file, or under state_dir for a device.
  static std::string state_path(const std::string& final_path, const std::string& state_dir);
  ObjectSink(ObjectSink&& o) noexcept;
  ObjectSink& operator=(ObjectSink&&) = delete;
  ObjectSink(const ObjectSink&) = delete;
  ~ObjectSink();

  Status write(uint64_t offset, std::span<const uint8_t> data);
  // Reads back bytes already written (for hashing blocks that were written out of order).
  Status read(uint64_t offset, std::span<uint8_t> out) const;
  // Makes everything written so far durable (before a resume state may record it).
  Status flush();
  // Flushes to stable storage and renames to the final path. The caller has verified the content.
  Status commit();
  // Removes the temporary file now (also done by the destructor when not committed).
  void abandon();
  // Leaves the temporary file in place for a later resume.
  void keep();

  Kind kind() const { return kind_; }
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_; }

 private:
  ObjectSink() = default;
  // Starts writeback of dirty pages in the background as data lands, so the final fdatasync has
  // little left and the receive loop never blocks on the disk queue.
  struct Flusher {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t pending = 0;  // bytes written since the last kick
    bool stop = false;
    std::thread thread;
  };
  void start_flusher();
  void stop_flusher();

  std::string final_, temp_;
  Kind kind_ = Kind::kFile;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t written_ = 0;
  bool settled_ = false;
  std::unique_ptr<Flusher> flusher_;
};

}  // namespace shoal::session
