// PipeSource: `shoal send - --size N` reads stdin while the session runs, into a spool file that
// holds only what repair may still need. The file is N bytes long and sparse, mapped read-only:
// the data pass reads symbols from the mapping as from any object. A reader thread fills it front
// to back (next()); the driver says which bytes no receiver can need any more (release_below()),
// and the reader punches them out. Bounded: the reader waits while the spool holds spool_max
// bytes it may not let go.
// Thread-safety: next() from one reader thread; everything else from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "common/result.h"
#include "object/object_source.h"
#include "object/spool_file.h"

namespace shoal::object {

// How a PipeSource's errors name its input: stdin for `send -`, the upstream for a relay.
struct PipeNaming {
  std::string input = "send -: stdin";
  std::string length = "--size";  // what gave the length
  std::string fix = "give the exact length of what the pipe carries";
};

class PipeSource {
 public:
  // in_fd: the pipe (not owned; stdin). The spool file goes in `dir`.
  static Result<std::unique_ptr<PipeSource>> create(int in_fd, uint64_t size,
                                                    const std::string& dir, uint64_t spool_max,
                                                    PipeNaming naming = {});

  std::span<const uint8_t> bytes() const { return map_.bytes(); }
  uint64_t size() const { return map_.size(); }
  std::string label() const { return spool_.label(); }

  // The next `len` bytes of the pipe, now in the spool too (the view lasts until the next call).
  // Waits while they would not fit. Errors: the pipe ends early, carries more than `size` bytes
  // (checked with the last bytes), or fails; "stopped" once `stop` is requested.
  Result<std::span<const uint8_t>> next(size_t len, std::stop_token stop);

  // Bytes below `offset` may go (never moves back).
  void release_below(uint64_t offset);
  // The reader waits for release_below() to make room.
  bool full() const;
  // The most the spool held at once (read and not released), and what it holds now.
  uint64_t peak_bytes() const;
  uint64_t held_bytes() const;

 private:
  PipeSource(int in_fd, uint64_t spool_max, SpoolFile spool, ObjectSource map, PipeNaming naming)
      : in_fd_(in_fd),
        spool_max_(spool_max),
        spool_(std::move(spool)),
        map_(std::move(map)),
        naming_(std::move(naming)) {}
  // Up to `len` bytes: fewer only at the end of the pipe.
  Result<size_t> read_full(uint8_t* to, size_t len, std::stop_token stop);
  void punch(uint64_t below);

  int in_fd_;
  uint64_t spool_max_;
  SpoolFile spool_;
  ObjectSource map_;
  PipeNaming naming_;
  std::vector<uint8_t> buf_;
  uint64_t punched_ = 0;  // bytes punched out (reader thread only)
  mutable std::mutex mu_;
  std::condition_variable_any room_;
  // Guarded by mu_ (written by the reader under it, read by it without): bytes read from the
  // pipe, bytes released, the most held (read and not released) at once.
  uint64_t read_ = 0, released_ = 0, peak_ = 0;
  bool waiting_ = false;
};

}  // namespace shoal::object
