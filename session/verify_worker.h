// VerifyWorker: checks decoded blocks against their SHA-256 on a thread of its own, so the
// receive thread only parses, checks tags and assembles (docs/benchmarks.md, "Data path per
// stage": the hash is about two thirds of a receiver's CPU per byte). The receive thread submits a
// block whose bytes stay put until it takes the verdict back (the assembler never reuses a
// complete block's slot), and learns of verdicts through fd(), an eventfd for its poll loop.
// The worker only reads the bytes; writing them stays with the receive thread.
//
// Thread-safety: submit, take and fd from one thread (the receive loop's); the worker is internal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "control/messages.h"

namespace shoal::session {

class VerifyWorker {
 public:
  struct Verdict {
    uint32_t block;
    bool match;  // the bytes hash to the digest they were submitted with
  };

  // Whether this process may run on two or more CPUs (else a worker only adds hand-offs).
  static bool second_cpu_usable();
  // Errors: no eventfd, or the thread cannot start.
  static Result<std::unique_ptr<VerifyWorker>> start();
  // Stops the thread; checks not taken yet are dropped (their bytes are no longer read).
  ~VerifyWorker();
  VerifyWorker(const VerifyWorker&) = delete;
  VerifyWorker& operator=(const VerifyWorker&) = delete;

  // Queues the check of `block`'s bytes against `want`. `data` must stay valid and unchanged
  // until its verdict was taken.
  void submit(uint32_t block, std::span<const uint8_t> data, const control::Digest& want);
  // Verdicts reached since the last call, in out (cleared first). Never blocks.
  void take(std::vector<Verdict>& out);
  // Submitted and not taken yet.
  size_t pending() const { return pending_; }
  // Readable while verdicts wait to be taken.
  int fd() const { return wake_.get(); }

 private:
  struct Job {
    uint32_t block;
    std::span<const uint8_t> data;
    control::Digest want;
  };
  explicit VerifyWorker(Fd wake) : wake_(std::move(wake)) {}
  void run();

  Fd wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> jobs_;          // guarded by mu_
  std::vector<Verdict> verdicts_;  // guarded by mu_
  bool stop_ = false;              // guarded by mu_
  size_t pending_ = 0;             // the receive thread's own count
  std::thread thread_;
};

}  // namespace shoal::session
