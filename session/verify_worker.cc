#include "session/verify_worker.h"

#include <sched.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "object/manifest.h"

namespace shoal::session {

bool VerifyWorker::second_cpu_usable() {
  cpu_set_t cpus;
  return ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= 2;
}

Result<std::unique_ptr<VerifyWorker>> VerifyWorker::start() {
  Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return make_error(std::string("eventfd failed: ") + std::strerror(errno));
  std::unique_ptr<VerifyWorker> w(new VerifyWorker(std::move(wake)));
  try {
    w->thread_ = std::thread([p = w.get()] { p->run(); });
  } catch (const std::system_error& e) {
    return make_error(std::string("cannot start the block-verifying thread: ") + e.what());
  }
  return w;
}

VerifyWorker::~VerifyWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void VerifyWorker::submit(uint32_t block, std::span<const uint8_t> data,
                          const control::Digest& want) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back({block, data, want});
  }
  ++pending_;
  cv_.notify_one();
}

void VerifyWorker::take(std::vector<Verdict>& out) {
  out.clear();
  uint64_t n = 0;
  (void)!::read(wake_.get(), &n, sizeof n);  // EAGAIN when nothing was signalled: fine
  std::lock_guard lock(mu_);
  out.swap(verdicts_);
  pending_ -= out.size();
}

void VerifyWorker::run() {
  std::vector<Job> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    batch.swap(jobs_);
    // Each verdict is handed back at once: it frees the block's slot for the next block.
    for (const Job& j : batch) {
      lock.unlock();
      const bool match = object::sha256(j.data) == j.want;
      lock.lock();
      if (stop_) return;
      verdicts_.push_back({j.block, match});
      const uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
    }
    batch.clear();
  }
}

}  // namespace shoal::session
