// SenderCore at scale: 5,000 simulated receivers through one whole session in one process, driven
// through the core's public API only (events in, actions out) with a fake clock and seeded
// random loss. Most receivers lose ~1% of symbols, a handful ~30%, a few never answer a PassEnd.
// Checks the decisions, not timings: who ends Done or failed and why, that multicast repair per
// block is sized by the worst multicast receiver's need (one range per block, never a sum over
// receivers), that every repair row is fresh, and that the session ends within the pass limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/messages.h"
#include "session/sender_core.h"

namespace shoal::session {
namespace {

constexpr uint32_t kReceivers = 5000;
constexpr uint32_t kHeavyCount = 5;   // ~30% loss
constexpr uint32_t kSilentCount = 4;  // say Ready, then never answer a PassEnd
constexpr double kLightLoss = 0.01;
constexpr double kHeavyLoss = 0.30;
constexpr uint32_t kBlocks = 300;
constexpr uint8_t kK = 64;
constexpr unsigned kMaxPasses = 12;
constexpr uint64_t kNonce = 0x5ca1ab1e;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kAnswerTimeout = 2000 * kMs;
constexpr uint32_t kAnswersPerPoll = 256;  // messages the driver handles between two ticks

// splitmix64: a fixed, portable generator (the std distributions differ between libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform_open0() { return double((next() >> 11) + 1) * 0x1p-53; }  // (0, 1]

 private:
  uint64_t s_;
};

// Independent symbol loss with probability p. The run of symbols that arrive before the next
// loss is geometric, so a receiver costs one draw per lost symbol, not one per symbol.
class LossChannel {
 public:
  LossChannel(double p, uint64_t seed) : rng_(seed), log_keep_(std::log1p(-p)) { gap_ = draw(); }
  // How many of `count` consecutive symbols arrive.
  uint32_t deliver(uint32_t count) {
    uint64_t left = count;
    uint32_t lost = 0;
    while (gap_ < left) {
      ++lost;
      left -= gap_ + 1;
      gap_ = draw();
    }
    gap_ -= left;
    return count - lost;
  }

 private:
  uint64_t draw() { return uint64_t(std::floor(std::log(rng_.uniform_open0()) / log_keep_)); }
  Rng rng_;
  double log_keep_;
  uint64_t gap_ = 0;
};

enum class Kind { kLight, kHeavy, kSilent };

struct SimReceiver {
  uint32_t id;
  Kind kind;
  LossChannel channel;
  std::vector<uint8_t> have;           // distinct symbols held, per block
  std::optional<uint32_t> done_after;  // the pass it answered Done to

  uint32_t missing(uint32_t b) const { return have[b] >= kK ? 0 : uint32_t{kK} - have[b]; }
  bool complete() const {
    return std::all_of(have.begin(), have.end(), [](uint8_t h) { return h >= kK; });
  }
  void add(uint32_t block, uint32_t symbols) {
    have[block] = uint8_t(std::min<uint32_t>(uint32_t{have[block]} + symbols, 255));
  }
};

// One repair step as the test saw it: the needs the answers named, then the plan that followed.
struct Step {
  uint32_t pass = 0;                                // the pass the NAKs answered
  std::map<uint32_t, std::vector<uint32_t>> needs;  // receiver -> missing per block
  std::vector<uint32_t> mcast_ranges, mcast_count;  // per block, in the next pass
  std::map<uint32_t, std::vector<uint32_t>> ucast;  // receiver -> unicast symbols per block
  std::set<uint32_t> laned;                         // moved to a unicast lane by this step
  bool planned = false;
};

class ScaleSession {
 public:
  ScaleSession() : core_(config(), 0) {
    Rng seeds(20240613);
    rx_.reserve(kReceivers);
    for (uint32_t id = 1; id <= kReceivers; ++id) {
      // Heavy and silent receivers spread over the id space, not bunched at one end.
      Kind kind = id % 1000 == 7 ? Kind::kHeavy : id % 1250 == 11 ? Kind::kSilent : Kind::kLight;
      rx_.push_back({id, kind,
                     LossChannel(kind == Kind::kHeavy ? kHeavyLoss : kLightLoss, seeds.next()),
                     std::vector<uint8_t>(kBlocks, 0), std::nullopt});
    }
  }

  static SenderConfig config() {
    SenderConfig c;
    c.min_receivers = kReceivers;
    c.max_wait_ns = 1000 * kMs;
    c.answer_timeout_ns = kAnswerTimeout;
    c.max_passes = kMaxPasses;
    c.beacon_nonce = kNonce;
    c.group = "239.1.2.3";
    c.listen = "0.0.0.0:9100";
    c.block_k.assign(kBlocks, kK);
    return c;
  }

  void run() {
    for (auto& r : rx_) {
      core_.on_joined(r.id, "rx" + std::to_string(r.id), "10.1.0.1:5000", "", now_);
    }
    core_.on_tick(now_);
    drain();
    for (auto& r : rx_) {
      control::Nak initial;
      initial.pass = control::kInitialPass;
      initial.runs = {{0, kBlocks, control::kMissingWholeBlock}};
      core_.on_message(r.id, initial, now_);
      core_.on_message(r.id, control::Ready{kNonce}, now_);
    }
    core_.on_tick(now_);
    drain();
    // One iteration per multicast pass; the bound only keeps a broken core from looping.
    for (unsigned guard = 0; pending_pass_ && guard <= kMaxPasses + 1; ++guard) {
      run_pass(*std::exchange(pending_pass_, std::nullopt));
      answer();
    }
    // Unicast lanes (if the core chose any) drain; nothing is left queued on a simulated link.
    if (core_.phase() == SenderCore::Phase::kUnicastDrain) {
      for (const auto& r : rx_) core_.on_unicast_backlog(r.id, 0, now_);
      core_.on_tick(now_);
      drain();
      answer();
    }
  }

  SenderCore core_;
  std::vector<SimReceiver> rx_;
  uint64_t now_ = 10 * kMs;
  std::optional<SendOutcome> outcome_;
  std::map<uint32_t, std::string> failed_;  // receiver -> reason, from FailReceiver
  std::vector<Step> steps_;
  std::vector<std::bitset<256>> rows_sent_ = std::vector<std::bitset<256>>(kBlocks);
  uint64_t rows_reused_ = 0;
  uint32_t multicast_passes_ = 0;
  uint64_t unicast_fed_ = 0;
  std::set<uint32_t> fed_;  // receivers the core moved to a unicast lane

 private:
  SimReceiver& sim(uint32_t id) { return rx_.at(id - 1); }

  // The unicast share of the current repair step, checked against the needs it answers.
  void note_unicast(uint32_t id, const RepairRange& range) {
    if (steps_.empty()) return;
    auto& per_block = steps_.back().ucast[id];
    per_block.resize(kBlocks, 0);
    per_block[range.block] += range.count;
  }

  // Repair rows (ESI >= k) must be fresh; source rows are resent to a unicast lane by design.
  void use_rows(const RepairRange& range) {
    for (unsigned esi = std::max<unsigned>(range.first_esi, kK);
         esi < unsigned{range.first_esi} + range.count; ++esi) {
      if (rows_sent_[range.block].test(esi)) ++rows_reused_;
      rows_sent_[range.block].set(esi);
    }
  }

  void drain() {
    while (auto a = core_.next_action()) {
      if (auto* p = std::get_if<action::StartPass>(&*a)) {
        EXPECT_FALSE(pending_pass_) << "a second pass queued before the first was sent";
        pending_pass_ = std::move(*p);
      } else if (auto* u = std::get_if<action::SendUnicastRepair>(&*a)) {
        for (const auto& range : u->ranges) {  // TCP: nothing lost
          use_rows(range);
          sim(u->id).add(range.block, range.count);
          note_unicast(u->id, range);
        }
      } else if (auto* e = std::get_if<action::SendPassEnd>(&*a)) {
        asked_.push_back({e->id, e->pass});
      } else if (auto* f = std::get_if<action::StartUnicastFeed>(&*a)) {
        // Over TCP, then PassEnd{pass, 0}: the receiver answers that.
        for (const RepairRange& range : f->items) {
          use_rows(range);
          sim(f->id).add(range.block, range.count);
          note_unicast(f->id, range);
        }
        ++unicast_fed_;
        fed_.insert(f->id);
        if (!steps_.empty() && !steps_.back().planned) steps_.back().laned.insert(f->id);
        asked_.push_back({f->id, f->pass});
      } else if (auto* x = std::get_if<action::FailReceiver>(&*a)) {
        failed_[x->id] = x->reason;
      } else if (auto* fin = std::get_if<action::Finish>(&*a)) {
        outcome_ = fin->outcome;
      }
    }
  }

  void run_pass(const action::StartPass& pass) {
    ++multicast_passes_;
    if (!steps_.empty() && !steps_.back().planned) {
      Step& s = steps_.back();
      s.planned = true;
      s.mcast_ranges.assign(kBlocks, 0);
      s.mcast_count.assign(kBlocks, 0);
      for (const auto& range : pass.ranges) {
        ++s.mcast_ranges[range.block];
        s.mcast_count[range.block] += range.count;
      }
    }
    uint64_t frames = 0, repair = 0;
    for (const auto& range : pass.ranges) {
      use_rows(range);
      frames += range.count;
      if (range.first_esi >= kK) repair += range.count;
    }
    // Receivers that are done or failed drop nothing that matters; simulate every one anyway.
    for (auto& r : rx_) {
      for (const auto& range : pass.ranges) r.add(range.block, r.channel.deliver(range.count));
    }
    now_ += 100 * kMs;
    core_.on_pass_sent({frames, repair}, now_);
    drain();
  }

  // Every receiver asked answers (the silent ones never do); ticks as a driver would between
  // poll batches; waits out the answer timeout when someone stays silent.
  void answer() {
    now_ += 1 * kMs;
    uint32_t in_batch = 0;
    auto asked = std::exchange(asked_, {});
    for (const auto& [id, pass] : asked) {
      SimReceiver& r = sim(id);
      if (r.kind == Kind::kSilent) continue;
      if (r.complete()) {
        control::Done d;
        d.ok = true;
        d.frames_received = 1;
        r.done_after = pass;
        core_.on_message(id, d, now_);
      } else {
        std::vector<uint32_t> missing(kBlocks);
        for (uint32_t b = 0; b < kBlocks; ++b) missing[b] = r.missing(b);
        if (steps_.empty() || steps_.back().pass != pass || steps_.back().planned) {
          steps_.push_back({});
          steps_.back().pass = pass;
        }
        const auto built = control::build_nak(pass, missing, 1, 0);
        EXPECT_FALSE(built.truncated);
        steps_.back().needs[id] = std::move(missing);
        core_.on_message(id, built.nak, now_);
      }
      if (++in_batch % kAnswersPerPoll == 0) {
        core_.on_tick(now_);
        drain();
      }
    }
    core_.on_tick(now_);
    drain();
    if (!pending_pass_ && !outcome_ && core_.phase() == SenderCore::Phase::kAwaitAnswers) {
      now_ += kAnswerTimeout;
      core_.on_tick(now_);
      drain();
    }
  }

  std::optional<action::StartPass> pending_pass_;
  std::vector<std::pair<uint32_t, uint32_t>> asked_;  // (receiver, pass) owed an answer
};

TEST(SenderCoreScale, FiveThousandReceiversWithRandomLossFinish) {
  ScaleSession s;
  s.run();

  ASSERT_TRUE(s.outcome_.has_value()) << "the session did not finish";
  EXPECT_TRUE(s.core_.finished());
  EXPECT_EQ(*s.outcome_, SendOutcome::kSomeFailed);  // the silent ones
  EXPECT_LE(s.core_.passes(), kMaxPasses);
  EXPECT_GE(s.core_.passes(), 2u);  // 1% loss over 64-symbol blocks needs repair
  EXPECT_EQ(s.rows_reused_, 0u) << "a repair row was sent twice: repair must be fresh rows";

  uint32_t light = 0, heavy = 0, silent = 0, light_after_repair = 0;
  for (const auto& r : s.rx_) {
    const ReceiverRecord* rec = s.core_.receiver(r.id);
    ASSERT_NE(rec, nullptr);
    switch (r.kind) {
      case Kind::kSilent:
        ++silent;
        EXPECT_EQ(rec->state, ReceiverState::kFailed) << "rx" << r.id;
        EXPECT_NE(rec->reason.find("stopped answering"), std::string::npos) << rec->reason;
        EXPECT_EQ(s.failed_.count(r.id), 1u);
        break;
      case Kind::kHeavy:
        ++heavy;
        EXPECT_EQ(rec->state, ReceiverState::kDone) << "rx" << r.id << ": " << rec->reason;
        EXPECT_TRUE(r.complete());
        break;
      case Kind::kLight:
        ++light;
        EXPECT_EQ(rec->state, ReceiverState::kDone) << "rx" << r.id << ": " << rec->reason;
        EXPECT_TRUE(r.complete());
        // One repair step sized for the worst lacking completes most (~2% lose a repair row and
        // need another); one sized for the median would leave about half of them lacking.
        ASSERT_TRUE(r.done_after.has_value());
        light_after_repair += *r.done_after > 1;
        break;
    }
  }
  EXPECT_EQ(heavy, kHeavyCount);
  EXPECT_EQ(silent, kSilentCount);
  EXPECT_EQ(light, kReceivers - kHeavyCount - kSilentCount);
  EXPECT_LT(light_after_repair * 10, light) << light_after_repair << " needed a second repair";
  EXPECT_EQ(s.failed_.size(), kSilentCount) << "only the silent receivers fail";
  EXPECT_EQ(s.core_.count_done(), kReceivers - kSilentCount);

  // Every repair step: one multicast range per block at most, no more rows than the worst
  // receiver that stays on multicast lacks (a sum over receivers would be thousands), and, with its
  // unicast share, enough for each receiver that answered.
  ASSERT_FALSE(s.steps_.empty());
  uint64_t mcast_total = 0, need_total = 0;
  for (const Step& step : s.steps_) {
    if (!step.planned) continue;              // the last answers led to no further pass
    std::vector<uint32_t> worst(kBlocks, 0);  // of the receivers that stay on multicast
    for (const auto& [id, need] : step.needs) {
      for (uint32_t b = 0; b < kBlocks; ++b) {
        if (!step.laned.count(id)) worst[b] = std::max(worst[b], need[b]);
        need_total += need[b];
      }
    }
    for (uint32_t b = 0; b < kBlocks; ++b) {
      EXPECT_LE(step.mcast_ranges[b], 1u) << "pass " << step.pass << " block " << b;
      EXPECT_LE(step.mcast_count[b], worst[b]) << "pass " << step.pass << " block " << b;
      mcast_total += step.mcast_count[b];
    }
    for (const auto& [id, need] : step.needs) {
      auto u = step.ucast.find(id);
      for (uint32_t b = 0; b < kBlocks; ++b) {
        uint32_t got = step.mcast_count[b] + (u == step.ucast.end() ? 0 : u->second[b]);
        EXPECT_GE(got, need[b]) << "rx" << id << " pass " << step.pass << " block " << b;
      }
    }
  }
  EXPECT_GT(mcast_total, 0u);
  EXPECT_LT(mcast_total * 10, need_total) << "multicast repair looks summed over receivers";
  std::printf(
      "passes %u, multicast repair %llu symbols for %llu symbols lacked in all, "
      "%llu unicast feeds, %u light receivers needed a second repair step\n",
      s.core_.passes(), static_cast<unsigned long long>(mcast_total),
      static_cast<unsigned long long>(need_total), static_cast<unsigned long long>(s.unicast_fed_),
      light_after_repair);
}

}  // namespace
}  // namespace shoal::session
