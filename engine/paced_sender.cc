#include "engine/paced_sender.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "engine/wire.h"

namespace shoal::engine {

namespace {
constexpr uint64_t kServiceEveryNs = 2'000'000;  // run the control plane at least every 2 ms
constexpr uint64_t kMaxWaitNs = 100'000'000;     // look at the clock again after 100 ms at most
constexpr uint64_t kRetryNs = 50'000;            // a full queue drains a little meanwhile

bool transient(int r) {
  return r == 0 || r == -EAGAIN || r == -ENOBUFS || r == -EINTR;
}
}  // namespace

uint64_t default_burst_bytes(uint64_t rate_bps) {
  if (rate_bps <= kPolicedRateBps) return 32768;
  return std::max<uint64_t>(rate_bps / 8 / 1000, 131072);
}

PaceHooks system_pace_hooks(std::function<void(int timeout_ms)> service) {
  PaceHooks h;
  h.now = [] { return monotonic_ns(); };
  h.sleep_until = [](uint64_t t_ns) {
    timespec ts{static_cast<time_t>(t_ns / 1'000'000'000u),
                static_cast<long>(t_ns % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  };
  h.service = std::move(service);
  return h;
}

PacedSender::PacedSender(TxBackend& tx, Pacer& pacer, PaceHooks hooks, Options options)
    : tx_(tx), pacer_(pacer), hooks_(std::move(hooks)), opt_(std::move(options)) {}

int PacedSender::batch_frames(uint32_t frame_bytes) const {
  const uint64_t charge = uint64_t{frame_bytes} + kWireOverhead;
  return static_cast<int>(
      std::clamp<uint64_t>(pacer_.burst_bytes() / 2 / charge, 1, uint64_t(opt_.max_batch)));
}

void PacedSender::wait(uint64_t now_ns, uint64_t until_ns) {
  if (until_ns <= now_ns) return;
  if (until_ns - now_ns > kServiceEveryNs && hooks_.service) {
    hooks_.service(static_cast<int>((until_ns - now_ns) / 1'000'000 - 1));
    last_service_ns_ = hooks_.now();
  } else {
    hooks_.sleep_until(until_ns);
  }
}

Status PacedSender::send_all(const TxFrame* frames, int n) {
  int sent = 0;
  const uint64_t first_try = hooks_.now();
  while (sent < n) {
    const int r = tx_.tx_burst(frames + sent, n - sent);
    if (r > 0) {
      for (int f = sent; f < sent + r; ++f) bytes_sent_ += frames[f].size();
      frames_sent_ += uint64_t(r);
      sent += r;
      continue;
    }
    if (!transient(r)) return make_error(opt_.what + " failed: " + std::strerror(-r));
    const uint64_t now = hooks_.now();
    if (opt_.stall_timeout_ns && now - first_try >= opt_.stall_timeout_ns) {
      return make_error("the transport took no frame for " +
                        std::to_string(opt_.stall_timeout_ns / 1'000'000'000) + " s");
    }
    hooks_.sleep_until(now + kRetryNs);  // the pacer already counted these bytes
  }
  return {};
}

Status PacedSender::run(uint64_t count, uint32_t frame_bytes, const Build& build,
                        uint64_t stop_ns) {
  const uint32_t charge = frame_bytes + kWireOverhead;
  const int batch = batch_frames(frame_bytes);
  uint64_t done = 0;
  for (;;) {
    const uint64_t now = hooks_.now();
    stopped_ns_ = now;
    if (done >= count || now >= stop_ns) return {};
    if (hooks_.service && now - last_service_ns_ > kServiceEveryNs) {
      hooks_.service(0);
      last_service_ns_ = now;
    }
    const int n = static_cast<int>(std::min<uint64_t>(uint64_t(batch), count - done));
    const auto d = pacer_.try_send(now, static_cast<uint32_t>(n) * charge);
    if (!d.send) {
      wait(now, std::min({d.not_before_ns, now + kMaxWaitNs, stop_ns}));
      continue;
    }
    std::string error;
    const TxFrame* frames = build(done, n, now, &error);
    if (!frames) return make_error(error);
    if (Status s = send_all(frames, n); !s) return s;
    done += uint64_t(n);
  }
}

}  // namespace shoal::engine
