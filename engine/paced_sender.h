// PacedSender: the one paced burst loop of the data plane, shared by a multicast pass
// (session/data_pass) and the probe's steps (probe/). It asks a Pacer when a batch may go, has the
// caller build exactly that batch, hands it to a TxBackend until every frame is taken, and
// between batches lets the control plane run through a service hook, so one thread drives both
// planes.
//
// Time is injected (PaceHooks): the clock, the short exact sleep and the service hook are the
// caller's, so tests run it on a fake clock. Nothing is allocated per frame or per batch.
//
// Pacing rules (kept here, once):
// - A batch is half the pacer's burst, at most max_batch frames: the other half absorbs late
//   wake-ups, which would otherwise cost rate (a full bucket discards the tokens a late sleeper
//   would have used). A batch waits for its whole budget: one GSO batch per syscall is what makes
//   the kernel path fast, and the pacer's burst bound holds for a batch as for a frame.
// - The service hook runs at least every 2 ms, and instead of sleeping when a wait is longer
//   than 2 ms; shorter waits sleep to the exact time. No wait is longer than 100 ms, so the
//   stop time and a paused pacer are noticed.
// - A backend that takes fewer frames than offered (a full queue) is offered the rest again after
//   50 us; the pacer already counted them, so nothing is lost or sent twice.
//
// Not thread-safe: one PacedSender per sending thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "engine/pacer.h"
#include "engine/transport.h"

namespace shoal::engine {

// The default pacer burst for a rate. Up to 1 Gbit/s, where switches' multicast caps usually sit,
// 32 KiB: inside the 32-64 KiB buckets common in their policers, so the policer never sees a burst
// it drops (with 128 KiB, a 64 KiB tbf at 300 Mbit/s dropped ~1% of pass 0). The cost: the pacer
// banks at most 0.87 ms at 300 Mbit/s, so a thread that wakes later loses rate -- the driver asks
// for real-time priority (engine/realtime.h). Above 1 Gbit/s, 1 ms of data (at least 128 KiB):
// there the per-batch syscall cost dominates (at 2 Gbit/s, 62 KB bursts halved what four
// receivers got on the test bed) and such rates are rarely policed.
inline constexpr uint64_t kPolicedRateBps = 1'000'000'000;
uint64_t default_burst_bytes(uint64_t rate_bps);

struct PaceHooks {
  std::function<uint64_t()> now;                       // monotonic ns
  std::function<void(uint64_t until_ns)> sleep_until;  // sleeps to an absolute time of now()
  // Runs the control plane for at most timeout_ms (0 = only what is ready). May be empty.
  std::function<void(int timeout_ms)> service;
};

// CLOCK_MONOTONIC (common/clock.h) and clock_nanosleep, with the caller's service hook.
PaceHooks system_pace_hooks(std::function<void(int timeout_ms)> service);

class PacedSender {
 public:
  struct Options {
    int max_batch = 64;             // frames per tx_burst call at most (the caller's buffers)
    uint64_t stall_timeout_ns = 0;  // a batch the backend takes nothing of for this long fails
                                    // (0 = wait for a full queue for ever)
    std::string what = "sending";   // error prefix: "<what> failed: <errno text>"
  };
  // Builds frames [first, first + n) of a run, stamped now_ns, into buffers that stay valid until
  // the next call; returns them, or nullptr after setting *error (the run then fails with it).
  using Build =
      std::function<const TxFrame*(uint64_t first, int n, uint64_t now_ns, std::string* error)>;

  static constexpr uint64_t kUnlimited = UINT64_MAX;

  // tx and pacer must outlive the sender; the pacer may be shared with a rate controller.
  PacedSender(TxBackend& tx, Pacer& pacer, PaceHooks hooks, Options options);

  // Frames of `frame_bytes` (UDP payload) per batch; what the pacer is charged per frame is
  // frame_bytes + kWireOverhead.
  int batch_frames(uint32_t frame_bytes) const;

  // Sends `count` frames (kUnlimited: until stop_ns) of frame_bytes each, built by `build`,
  // paced, and stops early at stop_ns. Errors: the backend failed hard ("<what> failed: ..."),
  // took nothing for stall_timeout_ns, or build failed.
  Status run(uint64_t count, uint32_t frame_bytes, const Build& build,
             uint64_t stop_ns = Pacer::kNever);

  // Totals over every run: frames and UDP payload bytes the backend took.
  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  // The clock when the last run stopped (its last look at the clock).
  uint64_t stopped_ns() const { return stopped_ns_; }

 private:
  void wait(uint64_t now_ns, uint64_t until_ns);
  Status send_all(const TxFrame* frames, int n);

  TxBackend& tx_;
  Pacer& pacer_;
  PaceHooks hooks_;
  Options opt_;
  uint64_t last_service_ns_ = 0;
  uint64_t frames_sent_ = 0, bytes_sent_ = 0, stopped_ns_ = 0;
};

}  // namespace shoal::engine
