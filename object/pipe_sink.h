// `shoal recv --out -`: the object to a pipe (stdout), in order. Blocks are verified out of order,
// so everything the receiver writes (verified blocks, and incomplete blocks spilled out of memory)
// goes to a spool: an unlinked temporary file in --spool's directory (TMPDIR by default), sparse.
// A writer thread streams the verified prefix from the spool to the pipe as it grows and punches
// what it streamed out of the spool, so the spool holds only what waits for an earlier block or
// for a slow reader. Cost against a file: the same writes to the spool's page cache, one read
// back, and spool space up to what the reader lags behind (the whole object, at worst).
//
// commit() only marks the data complete (every block verified and spooled): the receiver says
// Done then. drain() waits until the pipe took everything, and says if it did not (a reader that
// went away: EPIPE). Nothing here is resumable: a failed run starts over.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/fd.h"
#include "object/object_sink.h"

namespace shoal::object {

class PipeSink final : public BlockSink {
 public:
  // out_fd: where the object goes (not owned; stdout). spool_dir: "" = $TMPDIR or /tmp.
  // streamed: called once from the writer thread when it stops writing (the whole object went,
  // the pipe failed, or the sink stopped), so an owner of out_fd can close it and its reader
  // sees the end at once (a relay's downstream, relay/relay.h).
  static Result<std::unique_ptr<PipeSink>> create(int out_fd, uint64_t size,
                                                  const std::string& spool_dir,
                                                  std::function<void()> streamed = {});
  ~PipeSink() override;

  // Bytes offset .. offset + length - 1 were verified (they are in the spool): stream them once
  // everything before them is.
  void verified(uint64_t offset, uint64_t length);
  // Waits until the whole object went to the pipe; the error if the pipe failed.
  Status drain();
  uint64_t streamed() const;

  Status write(uint64_t offset, std::span<const uint8_t> data) override;
  Status read(uint64_t offset, std::span<uint8_t> out) override;
  Status poll() override;
  Status flush() override { return {}; }
  Status commit(bool sync) override;
  void abandon() override { stop(); }
  void keep() override { stop(); }
  const char* backend() const override { return "a pipe, through a spool file"; }

 private:
  PipeSink(int out_fd, uint64_t size, Fd spool, std::function<void()> streamed);
  void stream();  // run()'s loop
  void run();     // the writer thread
  void stop();

  const int out_fd_;
  std::function<void()> streamed_callback_;
  const uint64_t size_;
  Fd spool_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t ready_ = 0;                    // bytes 0 .. ready_ - 1 verified
  std::map<uint64_t, uint64_t> pending_;  // verified ranges past ready_: offset -> end
  uint64_t streamed_ = 0;                 // bytes that went to the pipe
  std::string error_;                     // the writer's failure, if any
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace shoal::object
