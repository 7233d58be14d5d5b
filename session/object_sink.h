// The receiver's output: a temporary file beside the final path, preallocated, written block by
// block, verified whole, fsynced and only then renamed into place. Destroying an uncommitted sink
// removes the temporary file, so no partial object ever sits under the final name.
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
  // Creates `<dir>/.<name>.shoal-part` and preallocates `size` bytes (fails early on a full disk).
  static Result<ObjectSink> create(const std::string& final_path, uint64_t size);
  ObjectSink(ObjectSink&& o) noexcept;
  ObjectSink& operator=(ObjectSink&&) = delete;
  ObjectSink(const ObjectSink&) = delete;
  ~ObjectSink();

  Status write(uint64_t offset, std::span<const uint8_t> data);
  // Reads back bytes already written (for hashing blocks that were written out of order).
  Status read(uint64_t offset, std::span<uint8_t> out) const;
  // Flushes to stable storage and renames to the final path. The caller has verified the content.
  Status commit();
  // Removes the temporary file now (also done by the destructor when not committed).
  void abandon();

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
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t written_ = 0;
  bool settled_ = false;
  std::unique_ptr<Flusher> flusher_;
};

}  // namespace shoal::session
