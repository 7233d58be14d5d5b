// Checkpointer: the durability of the receiver's output, driver side. It owns the resume-state
// file, the checkpoint thread and the fdatasync policy (--sync); ReceiverCore only reports which
// blocks it verified (verified()).
//
// With a state path, verified blocks are checkpointed there about once a second by a background
// thread: the sink is flushed (fdatasync) first, then the bitmap saved, so the state only ever
// names durable blocks. --sync periodic without a state path flushes on the same beat.
// commit() checks with the core that every block was verified and written, and commits the sink
// (fdatasync before the rename unless --sync none); nothing is read back: each block was checked
// against its hash before it was written. abandon() keeps the partial data and its state for a
// resume when anything was checkpointed, removes both otherwise (the state first). After
// commit() no state is ever saved again: after a commit the partial data is gone.
//
// Thread-safety: verified() may race the checkpoint thread (it takes the lock); everything else
// is for the receive loop's thread. The sink must outlive the checkpointer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "object/object_sink.h"
#include "object/resume_state.h"

namespace shoal::session {

class ReceiverCore;

// When data is forced to stable storage: at the end before the rename (default), also about
// once a second while receiving, or never (the kernel writes it back in its own time).
enum class SyncPolicy { kEnd, kPeriodic, kNone };

class Checkpointer {
 public:
  // `id`, `object_size`, `block_count`: the object the state describes (object::object_id()).
  // `resume`: blocks already verified and durable from an earlier run (null: none). An empty
  // `state_path` keeps no state file (--no-resume).
  Checkpointer(object::BlockSink& sink, std::string state_path, const control::Digest& id,
               uint64_t object_size, uint32_t block_count, const object::ResumeState* resume,
               SyncPolicy sync);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // ReceiverCore's VerifiedFn: block `block` was verified and handed to the sink.
  void verified(uint32_t block);
  // Every block in: commits the sink and removes the state file.
  Status commit(ReceiverCore& core);
  // Gives up (see the header comment). kept() says whether partial data was kept. Also after a
  // failed or successful commit() (e.g. the unpacking failed): then nothing is kept.
  void abandon();
  bool kept() const { return kept_; }

 private:
  void loop();
  void stop();
  Status checkpoint();
  void remove_state();

  object::BlockSink& sink_;
  std::string state_path_;
  bool active_;  // a state file or periodic flushes: verified blocks are recorded
  bool periodic_flush_;
  bool sync_end_;
  bool kept_ = false;
  bool committed_ = false;  // commit() was called: never save a state again
  std::mutex mu_;
  std::condition_variable cv_;
  object::ResumeState state_;  // guarded by mu_
  bool state_dirty_ = false;   // guarded by mu_
  bool checkpointed_ = false;  // guarded by mu_
  bool stop_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace shoal::session
