#include "object/manifest_stream.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "common/clock.h"

namespace shoal::object {

std::unique_ptr<ManifestStream> ManifestStream::known(Manifest m) {
  std::unique_ptr<ManifestStream> s(new ManifestStream());
  s->blocks_count_ = static_cast<uint32_t>(m.block_sha256.size());
  s->hashes_.reset(new Digest[s->blocks_count_]);
  std::copy(m.block_sha256.begin(), m.block_sha256.end(), s->hashes_.get());
  s->object_sha256_ = m.object_sha256;
  s->ready_.store(s->block_count(), std::memory_order_release);
  s->complete_.store(true, std::memory_order_release);
  return s;
}

std::unique_ptr<ManifestStream> ManifestStream::hash(std::span<const uint8_t> object,
                                                     const fec::BlockLayout& layout,
                                                     OnComplete on_complete) {
  std::unique_ptr<ManifestStream> s(new ManifestStream());
  s->blocks_count_ = layout.block_count();
  s->hashes_.reset(new Digest[s->blocks_count_]);
  s->on_complete_ = std::move(on_complete);
  s->t0_ns_ = monotonic_ns();
  s->running_.store(2);
  // Read ahead: both workers walk the object front to back.
  if (!object.empty()) {
    (void)::madvise(const_cast<uint8_t*>(object.data()), object.size(), MADV_SEQUENTIAL);
  }
  ManifestStream* self = s.get();
  s->blocks_ = std::jthread([self, object, layout](std::stop_token stop) {
    for (uint32_t b = 0; b < layout.block_count(); ++b) {
      if (stop.stop_requested()) return;
      self->hashes_[b] = sha256(object.subspan(layout.block_offset(b), layout.block_bytes(b)));
      self->ready_.store(b + 1, std::memory_order_release);
    }
    self->finish_one();
  });
  s->whole_ = std::jthread([self, object](std::stop_token stop) {
    // Not needed before the last block's data: it yields to the sender's own thread and the
    // block hashes that gate the data (nice 10 for this thread; failure only costs speed).
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    constexpr size_t kStep = size_t{8} << 20;  // checks for a stop between steps
    Sha256 h;
    for (size_t at = 0; at < object.size(); at += kStep) {
      if (stop.stop_requested()) return;
      h.update(object.subspan(at, std::min(kStep, object.size() - at)));
    }
    self->object_sha256_ = h.finish();
    self->finish_one();
  });
  return s;
}

std::unique_ptr<ManifestStream> ManifestStream::hash_read(const fec::BlockLayout& layout,
                                                          ReadBlock read) {
  std::unique_ptr<ManifestStream> s(new ManifestStream());
  s->blocks_count_ = layout.block_count();
  s->hashes_.reset(new Digest[s->blocks_count_]);
  s->t0_ns_ = monotonic_ns();
  s->running_.store(1);
  ManifestStream* self = s.get();
  s->blocks_ = std::jthread([self, read = std::move(read)](std::stop_token stop) {
    Sha256 whole;
    for (uint32_t b = 0; b < self->blocks_count_; ++b) {
      auto bytes = read(b, stop);
      if (stop.stop_requested()) return;
      if (!bytes) {
        self->error_ = bytes.error();
        self->failed_.store(true, std::memory_order_release);
        return;
      }
      self->hashes_[b] = sha256(*bytes);
      whole.update(*bytes);
      self->ready_.store(b + 1, std::memory_order_release);
    }
    self->object_sha256_ = whole.finish();
    self->finish_one();
  });
  return s;
}

// The last worker to finish publishes completion (and runs the callback).
void ManifestStream::finish_one() {
  if (running_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  hash_seconds_ = double(monotonic_ns() - t0_ns_) / 1e9;
  if (on_complete_) {
    Manifest m;
    m.block_sha256.assign(hashes_.get(), hashes_.get() + blocks_count_);
    m.object_sha256 = object_sha256_;
    on_complete_(m);
  }
  complete_.store(true, std::memory_order_release);
  complete_.notify_all();
}

void ManifestStream::wait_complete() const {
  complete_.wait(false, std::memory_order_acquire);
}

ManifestStream::~ManifestStream() {
  blocks_.request_stop();
  whole_.request_stop();
}

}  // namespace shoal::object
