// PacedSender on a fake clock with a fake TxBackend: the pacing bound over every window, retries
// of frames a backend did not take, the service hook while waiting, the stop time and errors.
#include "engine/paced_sender.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "engine/wire.h"

namespace shoal::engine {
namespace {

constexpr uint32_t kFrameBytes = 1400;

// The fake clock moves only when the sender sleeps or serves the control plane; sleeps wake up
// late by a random amount (up to `late_ns`), as a busy host's would.
struct FakeTime {
  uint64_t t = 1'000'000'000;
  uint64_t late_ns = 0;
  std::mt19937_64 rng{7};
  std::vector<std::pair<uint64_t, int>> services;  // (time, timeout_ms)

  PaceHooks hooks() {
    PaceHooks h;
    h.now = [this] { return t; };
    h.sleep_until = [this](uint64_t until) {
      t = std::max(t, until) + (late_ns ? rng() % late_ns : 0);
    };
    h.service = [this](int ms) {
      services.push_back({t, ms});
      t += uint64_t(std::max(ms, 0)) * 1'000'000;
    };
    return h;
  }
};

// Takes at most `take` frames per call; every `refuse_every`-th call takes none (returns
// `refusal`).
class FakeTx final : public TxBackend {
 public:
  explicit FakeTx(FakeTime& time) : time_(time) {}
  int tx_burst(const TxFrame* frames, int n) override {
    ++calls_;
    if (refuse_every && calls_ % refuse_every == 0) return refusal;
    if (hard_error) return hard_error;
    const int k = std::min(n, take);
    for (int i = 0; i < k; ++i) {
      uint32_t seq = 0;
      std::memcpy(&seq, frames[i].header, sizeof seq);
      sent.push_back({time_.t, frames[i].size(), seq});
    }
    return k;
  }
  const char* name() const override { return "fake"; }

  struct Sent {
    uint64_t t;
    uint32_t bytes;
    uint32_t seq;
  };
  std::vector<Sent> sent;
  int take = 1 << 30;
  int refuse_every = 0;
  int refusal = -EAGAIN;
  int hard_error = 0;

 private:
  FakeTime& time_;
  int calls_ = 0;
};

// Frames whose header is their sequence number (4 bytes, host order) plus padding.
class Frames {
 public:
  Frames() : headers_(64 * 16), payload_(kFrameBytes - 16, 0x5a), frames_(64) {}
  PacedSender::Build build() {
    return [this](uint64_t first, int n, uint64_t, std::string*) -> const TxFrame* {
      for (int i = 0; i < n; ++i) {
        const auto seq = static_cast<uint32_t>(first + uint64_t(i));
        std::memcpy(&headers_[size_t(i) * 16], &seq, sizeof seq);
        frames_[size_t(i)] = {&headers_[size_t(i) * 16],
                              16,
                              payload_.data(),
                              static_cast<uint16_t>(payload_.size()),
                              nullptr,
                              0};
      }
      return frames_.data();
    };
  }

 private:
  std::vector<uint8_t> headers_, payload_;
  std::vector<TxFrame> frames_;
};

void expect_in_order_once(const std::vector<FakeTx::Sent>& sent, uint64_t count) {
  ASSERT_EQ(sent.size(), count);
  for (size_t i = 0; i < sent.size(); ++i) ASSERT_EQ(sent[i].seq, i) << "at " << i;
}

TEST(DefaultBurstBytes, PolicerSizedUpTo1GbitThenOneMillisecond) {
  EXPECT_EQ(default_burst_bytes(0), 32768u);
  EXPECT_EQ(default_burst_bytes(300'000'000), 32768u);     // fits a 32 KiB policer bucket
  EXPECT_EQ(default_burst_bytes(1'000'000'000), 32768u);   // the last policed rate
  EXPECT_EQ(default_burst_bytes(1'000'000'008), 131072u);  // above: 1 ms, at least 128 KiB
  EXPECT_EQ(default_burst_bytes(2'000'000'000), 250'000u);
  EXPECT_EQ(default_burst_bytes(10'000'000'000), 1'250'000u);
}

TEST(PacedSender, NoWindowCarriesMoreThanRateTimesWindowPlusBurst) {
  for (uint64_t rate : {20'000'000ull, 1'000'000'000ull, 40'000'000'000ull}) {
    FakeTime time;
    time.late_ns = 300'000;
    FakeTx tx(time);
    const uint64_t burst = default_burst_bytes(rate);
    Pacer pacer(rate, burst);
    PacedSender s(tx, pacer, time.hooks(), {});
    Frames f;
    const uint64_t count = 3000;
    ASSERT_TRUE(s.run(count, kFrameBytes, f.build()).ok());
    expect_in_order_once(tx.sent, count);
    EXPECT_EQ(s.frames_sent(), count);
    EXPECT_EQ(s.bytes_sent(), count * kFrameBytes);
    // Every window [sent[i].t, sent[j].t]: what went out is within the pacer's guarantee.
    __extension__ typedef __int128 I128;
    for (size_t i = 0; i < tx.sent.size(); ++i) {
      I128 bytes = 0;
      for (size_t j = i; j < tx.sent.size(); ++j) {
        bytes += tx.sent[j].bytes + kWireOverhead;
        const I128 allowed =
            I128(rate) * I128(tx.sent[j].t - tx.sent[i].t) / 8'000'000'000 + I128(burst);
        ASSERT_LE(bytes, allowed) << "rate " << rate << " window " << i << ".." << j;
      }
    }
  }
}

TEST(PacedSender, PartialAndRefusedBurstsAreRetriedWithoutLossOrDuplication) {
  FakeTime time;
  FakeTx tx(time);
  tx.take = 3;
  tx.refuse_every = 4;
  Pacer pacer(1'000'000'000, default_burst_bytes(1'000'000'000));
  PacedSender s(tx, pacer, time.hooks(), {});
  Frames f;
  ASSERT_TRUE(s.run(1000, kFrameBytes, f.build()).ok());
  expect_in_order_once(tx.sent, 1000);
  EXPECT_EQ(s.frames_sent(), 1000u);

  tx.sent.clear();
  tx.refusal = 0;  // "took none" without an errno is retried too
  ASSERT_TRUE(s.run(500, kFrameBytes, f.build()).ok());
  expect_in_order_once(tx.sent, 500);
  EXPECT_EQ(s.frames_sent(), 1500u);
}

TEST(PacedSender, ServiceHookRunsWhileWaiting) {
  FakeTime time;
  FakeTx tx(time);
  const uint64_t rate = 10'000'000;  // 1442 bytes per 1.15 ms: most of the time is waiting
  Pacer pacer(rate, default_burst_bytes(rate));
  PacedSender s(tx, pacer, time.hooks(), {});
  Frames f;
  ASSERT_TRUE(s.run(400, kFrameBytes, f.build()).ok());
  expect_in_order_once(tx.sent, 400);
  const auto waits = std::count_if(time.services.begin(), time.services.end(),
                                   [](const auto& sv) { return sv.second > 0; });
  EXPECT_GT(waits, 0) << "long waits serve the control plane instead of sleeping";
  // The control plane is never left alone for long: at most 2 ms, plus one sleep of at most 2 ms
  // and one batch, between two calls.
  for (size_t i = 1; i < time.services.size(); ++i) {
    const uint64_t gap = time.services[i].first - time.services[i - 1].first -
                         uint64_t(time.services[i - 1].second) * 1'000'000;
    EXPECT_LE(gap, 4'000'001u) << "between service calls " << i - 1 << " and " << i;
  }
}

TEST(PacedSender, StopsAtTheStopTime) {
  FakeTime time;
  FakeTx tx(time);
  const uint64_t rate = 100'000'000;
  Pacer pacer(rate, default_burst_bytes(rate));
  PacedSender s(tx, pacer, time.hooks(), {});
  Frames f;
  const uint64_t stop = time.t + 50'000'000;
  ASSERT_TRUE(s.run(PacedSender::kUnlimited, kFrameBytes, f.build(), stop).ok());
  EXPECT_GE(s.stopped_ns(), stop);
  ASSERT_FALSE(tx.sent.empty());
  EXPECT_LT(tx.sent.back().t, stop);
  expect_in_order_once(tx.sent, tx.sent.size());
}

TEST(PacedSender, HardErrorsAndStallsFailTheRun) {
  FakeTime time;
  FakeTx tx(time);
  Pacer pacer(100'000'000, default_burst_bytes(100'000'000));
  Frames f;
  tx.hard_error = -EPERM;
  PacedSender::Options o;
  o.what = "sending test frames";
  PacedSender hard(tx, pacer, time.hooks(), o);
  Status st = hard.run(10, kFrameBytes, f.build());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), std::string("sending test frames failed: ") + std::strerror(EPERM));

  tx.hard_error = 0;
  tx.refuse_every = 1;  // takes nothing, ever
  o.stall_timeout_ns = 1'000'000'000;
  PacedSender stalled(tx, pacer, time.hooks(), o);
  const uint64_t t0 = time.t;
  st = stalled.run(10, kFrameBytes, f.build());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "the transport took no frame for 1 s");
  EXPECT_GE(time.t - t0, o.stall_timeout_ns);
  EXPECT_TRUE(tx.sent.empty());
}

}  // namespace
}  // namespace shoal::engine
