// The sender's manifest while the session runs: block hashes published one by one as a worker
// reads the object in block order, so the first data frame waits for the first blocks, not for
// the whole object (a 20 GiB image hashes in ~13 s on one core). A second worker computes the
// whole object's plain SHA-256 (reported to users; not needed to verify) over the same pages.
// From the manifest cache everything is known at once.
//
// Thread-safety: the workers write; any one other thread reads. ready() has acquire semantics:
// the hashes of blocks below it are complete and never change.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "fec/layout.h"
#include "object/manifest.h"

namespace shoal::object {

class ManifestStream {
 public:
  // Runs in a worker once everything is hashed (e.g. to store it in the cache); not when the
  // stream is destroyed before that.
  using OnComplete = std::function<void(const Manifest&)>;

  // Hashes `object` (which must outlive the stream) in two workers.
  static std::unique_ptr<ManifestStream> hash(std::span<const uint8_t> object,
                                              const fec::BlockLayout& layout,
                                              OnComplete on_complete = {});
  // The object as `read` hands it over block by block, in order (it may wait: a pipe's bounded
  // spool, object/pipe_source.h); blocks and the whole object are hashed in one worker. An error
  // from `read` ends the stream: failed() and error() say why, and complete() never comes.
  using ReadBlock =
      std::function<Result<std::span<const uint8_t>>(uint32_t block, std::stop_token)>;
  static std::unique_ptr<ManifestStream> hash_read(const fec::BlockLayout& layout, ReadBlock read);
  // Everything already known (a cached manifest).
  static std::unique_ptr<ManifestStream> known(Manifest m);

  ~ManifestStream();  // stops the workers (between blocks) and joins them
  ManifestStream(const ManifestStream&) = delete;
  ManifestStream& operator=(const ManifestStream&) = delete;

  uint32_t block_count() const { return blocks_count_; }
  // Blocks 0 .. ready() - 1 have their hash.
  uint32_t ready() const { return ready_.load(std::memory_order_acquire); }
  // Every block hash and the object's SHA-256 are known.
  bool complete() const { return complete_.load(std::memory_order_acquire); }
  // Reading the object failed (hash_read); error() is then set for good.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const std::string& error() const { return error_; }
  // Blocks the caller until complete().
  void wait_complete() const;
  // Hashes of blocks first .. first + count - 1, all below ready().
  std::span<const Digest> hashes(uint32_t first, uint32_t count) const {
    return {hashes_.get() + first, count};
  }
  // Valid once complete().
  const Digest& object_sha256() const { return object_sha256_; }
  // Seconds the workers took (0 for a known manifest); valid once complete().
  double hash_seconds() const { return hash_seconds_; }

 private:
  ManifestStream() = default;
  void finish_one();

  // Uninitialised (new T[n]): pages are touched as blocks are hashed, so a session of millions of
  // blocks starts at once.
  std::unique_ptr<Digest[]> hashes_;
  uint32_t blocks_count_ = 0;
  Digest object_sha256_{};
  std::atomic<uint32_t> ready_{0};
  std::atomic<bool> complete_{false};
  std::atomic<bool> failed_{false};
  std::string error_;            // written before failed_ is set
  std::atomic<int> running_{0};  // workers not finished
  OnComplete on_complete_;
  uint64_t t0_ns_ = 0;
  double hash_seconds_ = 0;
  std::jthread blocks_, whole_;  // last: joined first, while everything above is alive
};

}  // namespace shoal::object
