// The sender's feedback work at scale: SenderCore's CPU per receiver report and per repair step
// at 1k, 5k and 10k receivers, driven through the public API with NAKs of realistic shape (1%
// independent symbol loss over an object of 1,000 blocks of 64 symbols, built by
// control::build_nak as a receiver builds them). Results and the command: docs/benchmarks.md,
// "Sender feedback work at scale"; the plan for more receivers: docs/scale.md.
//
//   JoinAll/N           N on_joined calls (the core's side of admitting N receivers)
//   NakDecode           decode_body of one encoded NAK (the sender's share of the TCP read)
//   NakReport/N         SenderCore::on_message(Nak) for one receiver among N
//   AnswerWaitTick/N    one on_tick while answers are awaited (the driver ticks per poll batch)
//   RepairStep/N        the answers are in: on_tick (plan the repair step, StartPass) + drain,
//                       then on_pass_sent (N PassEnds queued) + drain
//   ProgressDecode      decode_body of one Progress report (repair during the pass): the
//                       incomplete blocks of a 64-block horizon at 1% loss
//   ProgressReport/N    SenderCore::on_message(Progress) for one receiver among N, mid-pass
//   InterleaveStep/N    every receiver reported: take_interleaved_repair (one window's repair)
//
// pct_core_at_budget (Progress): that work's share of one core at the sender's report budget
// (kProgressBudgetPerSecond reports a second, whatever N; sender_core.h).
// pct_core_at_10Hz: that work's share of one core when every receiver reports 10 times a second
// (NakReport, NakDecode) or when a repair step is planned 10 times a second (RepairStep).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <vector>

#include "control/messages.h"
#include "session/sender_core.h"

namespace shoal::session {
namespace {

constexpr uint32_t kBlocks = 1000;
constexpr uint8_t kK = 64;
constexpr double kLoss = 0.01;
constexpr uint64_t kNonce = 0x5ca1ab1e;
constexpr uint32_t kNakPool = 10000;  // distinct NAKs: receiver i answers NAK i % kNakPool
constexpr double kReportsPerSecond = 10;

// splitmix64: fixed seeds, the same NAKs on every run.
uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// What one receiver lacks after pass 0 at kLoss: the gap to the next lost symbol is geometric.
std::vector<uint32_t> random_missing(uint64_t seed) {
  std::vector<uint32_t> missing(kBlocks, 0);
  const double log_keep = std::log1p(-kLoss);
  auto gap = [&] {
    const double u = double((splitmix(seed) >> 11) + 1) * 0x1p-53;
    return uint64_t(std::floor(std::log(u) / log_keep));
  };
  const uint64_t symbols = uint64_t{kBlocks} * kK;
  for (uint64_t at = gap(); at < symbols; at += 1 + gap()) ++missing[at / kK];
  return missing;
}

const std::vector<control::Nak>& nak_pool() {
  static const std::vector<control::Nak> pool = [] {
    std::vector<control::Nak> p;
    for (uint32_t i = 0; i < kNakPool; ++i) {
      p.push_back(control::build_nak(0, random_missing(0x5eed0000 + i), kBlocks * kK, 0).nak);
    }
    return p;
  }();
  return pool;
}

SenderConfig config(uint32_t receivers) {
  SenderConfig c;
  c.min_receivers = receivers;
  c.answer_timeout_ns = uint64_t{1} << 62;  // nobody times out while a benchmark runs
  c.max_passes = ~0u;                       // repair steps go on as long as the benchmark does
  c.beacon_nonce = kNonce;
  c.block_k.assign(kBlocks, kK);
  return c;
}

void drain(SenderCore& core) {
  while (auto a = core.next_action()) benchmark::DoNotOptimize(a);
}

// N receivers joined, Ready, pass 0 sent: the core awaits their answers to pass 0.
class Session {
 public:
  // pass0_sent: pass 0 went out and its answers are awaited (else it is still running).
  explicit Session(uint32_t n, bool pass0_sent = true) : n_(n), core_(config(n), 0) {
    for (uint32_t id = 1; id <= n; ++id) {
      core_.on_joined(id, "rx" + std::to_string(id), "10.1.0.1:5000", "", now_);
    }
    core_.on_tick(now_);
    for (uint32_t id = 1; id <= n; ++id) {
      control::Nak initial;
      initial.pass = control::kInitialPass;
      initial.runs = {{0, kBlocks, control::kMissingWholeBlock}};
      core_.on_message(id, initial, now_);
      core_.on_message(id, control::Ready{kNonce}, now_);
    }
    core_.on_tick(now_);
    drain(core_);
    if (pass0_sent) pass_sent();
  }
  // The multicast pass went out: PassEnds queued, answers awaited.
  void pass_sent() {
    core_.on_pass_sent({uint64_t{kBlocks} * kK, 0}, ++now_);
    drain(core_);
  }
  // Receiver `id` answers the last pass.
  void answer(uint32_t id, control::Nak& nak) {
    nak.pass = core_.passes() - 1;
    core_.on_message(id, nak, now_);
    drain(core_);
  }
  uint32_t n_;
  uint64_t now_ = 1;
  SenderCore core_;
};

// This thread's CPU time: what the sender's one driver thread would spend.
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

// Decodes the encoded reports in turn, one per iteration: this thread's CPU time for them.
double decode_all(benchmark::State& state, const std::vector<std::vector<uint8_t>>& wire) {
  size_t i = 0;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) {
    const auto& w = wire[i++ % wire.size()];
    auto m = control::decode_body(std::span(w).subspan(control::kLengthPrefixSize));
    benchmark::DoNotOptimize(m);
  }
  return thread_cpu_ns() - t0;
}

// cpu_ns of work over the run, `per_second` iterations a second: that share of one core, in %.
void set_pct(benchmark::State& state, double cpu_ns, double per_second) {
  const auto iterations = std::max<benchmark::IterationCount>(1, state.iterations());
  state.counters["pct_core_at_10Hz"] = cpu_ns / double(iterations) * per_second / 1e9 * 100;
}

// N receivers join (the driver has admitted them): the core's side of the joins.
void BM_JoinAll(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    SenderCore core(config(n), 0);
    for (uint32_t id = 1; id <= n; ++id) {
      core.on_joined(id, "rx" + std::to_string(id), "10.1.0.1:5000", "", 1);
      drain(core);
    }
    state.PauseTiming();
    { SenderCore gone = std::move(core); }  // teardown is not the joins' cost
    state.ResumeTiming();
  }
}
BENCHMARK(BM_JoinAll)->Arg(1000)->Arg(5000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_NakDecode(benchmark::State& state) {
  const auto& pool = nak_pool();
  std::vector<std::vector<uint8_t>> wire(pool.size());
  size_t bytes = 0, runs = 0;
  for (size_t i = 0; i < pool.size(); ++i) {
    control::encode(pool[i], wire[i]);
    bytes += wire[i].size();
    runs += pool[i].runs.size();
  }
  const double cpu = decode_all(state, wire);
  state.counters["bytes_per_report"] = double(bytes) / double(pool.size());
  state.counters["runs_per_report"] = double(runs) / double(pool.size());
  // Independent of N: the share of one core per receiver reporting 10 times a second.
  set_pct(state, cpu, kReportsPerSecond);
}
BENCHMARK(BM_NakDecode);

void BM_NakReport(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  Session s(n);
  std::vector<control::Nak> pool = nak_pool();
  uint32_t id = 0;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) {
    id = id % n + 1;
    s.answer(id, pool[id % kNakPool]);
  }
  set_pct(state, thread_cpu_ns() - t0, kReportsPerSecond * n);
}
BENCHMARK(BM_NakReport)->Arg(1000)->Arg(5000)->Arg(10000);

void BM_AnswerWaitTick(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  Session s(n);
  std::vector<control::Nak> pool = nak_pool();
  for (uint32_t id = 2; id <= n; ++id) s.answer(id, pool[id % kNakPool]);  // receiver 1 is late
  for (auto _ : state) {
    s.core_.on_tick(s.now_);
    drain(s.core_);
  }
  if (s.core_.phase() != SenderCore::Phase::kAwaitAnswers) state.SkipWithError("did not wait");
}
BENCHMARK(BM_AnswerWaitTick)->Arg(1000)->Arg(5000)->Arg(10000);

void BM_RepairStep(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  Session s(n);
  std::vector<control::Nak> pool = nak_pool();
  double plan_ns = 0, pass_end_ns = 0;
  uint64_t multicast_symbols = 0, unicast_symbols = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (uint32_t id = 1; id <= n; ++id) s.answer(id, pool[id % kNakPool]);
    state.ResumeTiming();
    const double t0 = thread_cpu_ns();
    s.core_.on_tick(s.now_);
    while (auto a = s.core_.next_action()) {
      if (const auto* p = std::get_if<action::StartPass>(&*a)) {
        for (const auto& r : p->ranges) multicast_symbols += r.count;
      } else if (const auto* u = std::get_if<action::SendUnicastRepair>(&*a)) {
        for (const auto& r : u->ranges) unicast_symbols += r.count;
      }
    }
    const double t1 = thread_cpu_ns();
    s.pass_sent();
    const double t2 = thread_cpu_ns();
    plan_ns += t1 - t0;
    pass_end_ns += t2 - t1;
  }
  if (s.core_.phase() != SenderCore::Phase::kAwaitAnswers) state.SkipWithError("session ended");
  using C = benchmark::Counter;
  state.counters["plan_ms"] = C(plan_ns / 1e6, C::kAvgIterations);
  state.counters["pass_end_ms"] = C(pass_end_ns / 1e6, C::kAvgIterations);
  state.counters["mcast_symbols"] = C(double(multicast_symbols), C::kAvgIterations);
  state.counters["ucast_symbols"] = C(double(unicast_symbols), C::kAvgIterations);
  set_pct(state, plan_ns + pass_end_ns, kReportsPerSecond);
}
BENCHMARK(BM_RepairStep)->Arg(1000)->Arg(5000)->Arg(10000)->Unit(benchmark::kMillisecond);

// A Progress report as a receiver makes one mid-pass: its incomplete blocks among the 64 below
// its horizon (block kBlocks - 1), lowest first.
control::Progress progress_of(uint32_t i) {
  const control::Nak& nak = nak_pool()[i % kNakPool];
  control::Progress p;
  p.highest_sequence = 1u << 30;       // newer than every frame the benchmark's pass "sent"
  p.data_frames = p.highest_sequence;  // everything delivered: eligible for interleaved repair
  for (const control::NakRun& r : nak.runs) {
    if (r.first_block + r.count > kBlocks - 64 && r.first_block < kBlocks - 1) p.runs.push_back(r);
  }
  return p;
}

// N receivers joined and Ready, pass 0 running; each has reported once (delivery measured).
class PassSession : public Session {
 public:
  explicit PassSession(uint32_t n) : Session(n, false) {
    for (uint32_t id = 1; id <= n; ++id) {
      core_.on_message(id, control::Progress{1, 1, {}}, now_);  // the delivery baseline
    }
  }
};

void BM_ProgressDecode(benchmark::State& state) {
  std::vector<std::vector<uint8_t>> wire(kNakPool);
  size_t bytes = 0, runs = 0;
  for (uint32_t i = 0; i < kNakPool; ++i) {
    const control::Progress p = progress_of(i);
    control::encode(p, wire[i]);
    bytes += wire[i].size();
    runs += p.runs.size();
  }
  const double cpu = decode_all(state, wire);
  state.counters["bytes_per_report"] = double(bytes) / kNakPool;
  state.counters["runs_per_report"] = double(runs) / kNakPool;
  state.counters["pct_core_at_budget"] =
      cpu / double(std::max<benchmark::IterationCount>(1, state.iterations())) *
      kProgressBudgetPerSecond / 1e9 * 100;
}
BENCHMARK(BM_ProgressDecode);

void BM_ProgressReport(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  PassSession s(n);
  std::vector<control::Message> pool;
  for (uint32_t i = 0; i < kNakPool; ++i) pool.emplace_back(progress_of(i));
  uint32_t id = 0;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) {
    id = id % n + 1;
    s.core_.on_message(id, pool[id % kNakPool], s.now_);
  }
  const double cpu = thread_cpu_ns() - t0;
  state.counters["pct_core_at_budget"] =
      cpu / double(std::max<benchmark::IterationCount>(1, state.iterations())) *
      kProgressBudgetPerSecond / 1e9 * 100;
}
BENCHMARK(BM_ProgressReport)->Arg(1000)->Arg(5000)->Arg(10000);

void BM_InterleaveStep(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  PassSession s(n);
  std::vector<control::Message> pool;
  for (uint32_t i = 0; i < kNakPool; ++i) pool.emplace_back(progress_of(i));
  const std::vector<uint32_t> sent(kBlocks, 1);  // every block's frames long sent
  std::vector<RepairRange> out;
  uint64_t symbols = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (uint32_t id = 1; id <= n; ++id) s.core_.on_message(id, pool[id % kNakPool], s.now_);
    out.clear();
    state.ResumeTiming();
    s.core_.take_interleaved_repair(sent, out);
    for (const auto& r : out) symbols += r.count;
  }
  state.counters["repair_symbols"] =
      benchmark::Counter(double(symbols), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_InterleaveStep)->Arg(1000)->Arg(5000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace shoal::session
