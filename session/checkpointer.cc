#include "session/checkpointer.h"

#include <unistd.h>

#include <chrono>

#include "session/receiver_core.h"

namespace shoal::session {

Checkpointer::Checkpointer(object::BlockSink& sink, std::string state_path,
                           const control::Digest& id, uint64_t object_size, uint32_t block_count,
                           const object::ResumeState* resume, SyncPolicy sync)
    : sink_(sink),
      state_path_(std::move(state_path)),
      active_(!state_path_.empty() || sync == SyncPolicy::kPeriodic),
      periodic_flush_(sync == SyncPolicy::kPeriodic),
      sync_end_(sync != SyncPolicy::kNone) {
  state_.id = id;
  state_.object_size = object_size;
  state_.block_count = block_count;
  state_.verified.assign((size_t{block_count} + 7) / 8, 0);
  uint32_t resumed = 0;
  if (resume != nullptr) {
    for (uint32_t b = 0; b < block_count; ++b) {
      if (!resume->has(b)) continue;
      state_.set(b);
      ++resumed;
    }
  }
  checkpointed_ = resumed > 0;  // the state file already names these blocks
  if (active_) thread_ = std::thread([this] { loop(); });
}

Checkpointer::~Checkpointer() {
  stop();
}

void Checkpointer::verified(uint32_t block) {
  if (!active_) return;
  std::lock_guard lock(mu_);
  state_.set(block);
  state_dirty_ = true;
}

void Checkpointer::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
    if (stop_ || !state_dirty_) continue;
    lock.unlock();
    Status st = checkpoint();
    lock.lock();
    (void)st;  // a failed checkpoint costs only resume precision; the next one retries
  }
}

Status Checkpointer::checkpoint() {
  object::ResumeState snap;
  {
    std::lock_guard lock(mu_);
    snap = state_;
    state_dirty_ = false;
  }
  Status f = sink_.flush();  // the data first: the state may only name durable blocks
  if (!f) return f;
  if (state_path_.empty()) return {};  // --sync periodic without resume: the flush is all
  Status w = object::save_resume_state(state_path_, snap);
  if (w) {
    std::lock_guard lock(mu_);
    checkpointed_ = true;
  }
  return w;
}

void Checkpointer::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status Checkpointer::commit(ReceiverCore& core) {
  if (Status c = core.check_complete(); !c) return c;
  stop();
  // Whatever happens now, no state is saved again: a committed object (perhaps failing to
  // unpack later) has no partial data left.
  committed_ = true;
  Status c = sink_.commit(sync_end_);
  if (c) remove_state();
  return c;
}

void Checkpointer::abandon() {
  stop();
  if (!committed_ && !state_path_.empty() && (checkpointed_ || state_dirty_) && checkpoint().ok()) {
    sink_.keep();
    kept_ = true;
    return;
  }
  // The state goes first: a state naming blocks of a removed part file would make the next run
  // take zeros for verified data.
  remove_state();
  sink_.abandon();
}

void Checkpointer::remove_state() {
  if (!state_path_.empty()) ::unlink(state_path_.c_str());
}

}  // namespace shoal::session
