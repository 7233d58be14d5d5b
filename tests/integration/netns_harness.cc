#include "tests/integration/netns_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/fd.h"
#include "engine/udp_rx.h"
#include "engine/udp_tx.h"

namespace shoal::itest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kNoProgressLimit = std::chrono::seconds(20);

// Frame layout: 16-byte header (magic, kind, seq, size), a fixed byte pattern, 4-byte tail
// (seq-derived).
constexpr uint32_t kMagic = 0x53485442;  // "SHTB"
enum Kind : uint32_t { kWarm = 1, kData = 2, kEnd = 3 };
constexpr uint16_t kHeaderLen = 16, kTailLen = 4;

uint8_t pattern_byte(size_t i) {
  return static_cast<uint8_t>(i * 7 + 3);
}
uint32_t tail_of(uint32_t seq) {
  return seq ^ 0x5A5A5A5Au;
}

struct FrameHeader {
  uint32_t magic, kind, seq, size;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Shared {
  explicit Shared(size_t n) : progress(n), warm(n), done(n) {}
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> abort{false};
  std::vector<std::atomic<uint32_t>> progress;  // per receiver: highest data seq + 1 seen
  std::vector<std::atomic<bool>> warm, done;
};

void receive(int index, const SessionConfig& cfg, Shared& sh, ReceiverReport& rep) {
  engine::UdpRxOptions o;
  o.group = cfg.group;
  o.port = cfg.port;
  o.iface = "v0";
  o.gro = cfg.gro;
  auto rx = engine::UdpRx::open(o);
  if (!rx) {
    rep.error = rx.error();
    sh.done[static_cast<size_t>(index)] = true;
    sh.abort = true;
    sh.ready++;
    return;
  }
  rep.gro = (*rx)->gro_enabled();
  rep.seen.assign(cfg.frames, 0);
  std::vector<uint8_t> pattern(cfg.frame_size);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = pattern_byte(i);
  sh.ready++;

  engine::RxFrame frames[64];
  Clock::time_point first{}, last{};
  const auto idx = static_cast<size_t>(index);
  while (!sh.abort) {
    pollfd p{(*rx)->fd(), POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int n = (*rx)->rx_burst(frames, 64);
    if (n < 0) {
      rep.error = std::string("rx_burst: ") + std::strerror(-n);
      break;
    }
    bool ended = false;
    for (int i = 0; i < n; ++i) {
      const engine::RxFrame& f = frames[i];
      FrameHeader h{};
      if (f.len < kHeaderLen + kTailLen) {
        ++rep.corrupt;
        continue;
      }
      std::memcpy(&h, f.data, sizeof h);
      uint32_t tail = 0;
      std::memcpy(&tail, f.data + f.len - kTailLen, sizeof tail);
      if (h.magic != kMagic || h.size != f.len || tail != tail_of(h.seq)) {
        ++rep.corrupt;
        continue;
      }
      if (h.kind == kWarm) {
        sh.warm[idx] = true;
      } else if (h.kind == kEnd) {
        ended = true;
      } else if (h.kind == kData) {
        if (h.seq >= cfg.frames || f.len != cfg.frame_size ||
            std::memcmp(f.data + kHeaderLen, pattern.data() + kHeaderLen,
                        f.len - kHeaderLen - kTailLen) != 0) {
          ++rep.corrupt;
          continue;
        }
        last = Clock::now();
        if (rep.data_frames == 0) first = last;
        if (rep.seen[h.seq]) {
          ++rep.duplicates;
          continue;
        }
        rep.seen[h.seq] = 1;
        ++rep.data_frames;
        if (h.seq + 1 > sh.progress[idx]) sh.progress[idx] = h.seq + 1;
      }
    }
    if (ended) break;
  }
  rep.kernel_drops = (*rx)->stats().kernel_drops;
  rep.rx_buffers = (*rx)->stats().messages;
  rep.active_seconds = seconds_between(first, last);
  sh.done[idx] = true;
}

void send(const SessionConfig& cfg, Shared& sh, SessionReport& rep) {
  engine::UdpTxOptions o;
  o.group = cfg.group;
  o.port = cfg.port;
  o.iface = "v0";
  o.gso = cfg.gso;
  auto opened = engine::UdpTx::open(o);
  if (!opened) {
    rep.error = "sender: " + opened.error();
    sh.abort = true;
    return;
  }
  engine::UdpTx& tx = **opened;
  rep.gso = tx.gso_enabled();
  const size_t burst = static_cast<size_t>(std::clamp(cfg.tx_burst, 1, 1024));
  std::vector<uint8_t> payload(cfg.frame_size);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = pattern_byte(i);
  std::vector<FrameHeader> headers(burst);
  std::vector<uint32_t> tails(burst);
  std::vector<engine::TxFrame> frames(burst);

  // Sends count frames of `kind` from seq on; false (with rep.error) on error or a stall.
  auto send_frames = [&](Kind kind, uint32_t seq, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const uint32_t s = seq + static_cast<uint32_t>(i);
      headers[i] = FrameHeader{kMagic, kind, s, cfg.frame_size};
      tails[i] = tail_of(s);
      frames[i] = engine::TxFrame{reinterpret_cast<const uint8_t*>(&headers[i]),
                                  kHeaderLen,
                                  payload.data() + kHeaderLen,
                                  static_cast<uint16_t>(cfg.frame_size - kHeaderLen - kTailLen),
                                  reinterpret_cast<const uint8_t*>(&tails[i]),
                                  kTailLen};
    }
    size_t taken = 0;
    auto stall_since = Clock::now();
    while (taken < count) {
      const int r = tx.tx_burst(frames.data() + taken, static_cast<int>(count - taken));
      if (r < 0) {
        rep.error = std::string("tx_burst: ") + std::strerror(-r);
        return false;
      }
      if (r > 0) stall_since = Clock::now();
      if (Clock::now() - stall_since > kNoProgressLimit) {
        rep.error = "sender: socket stayed full for 20 s";
        return false;
      }
      if (r == 0) {
        pollfd p{tx.fd(), POLLOUT, 0};
        ::poll(&p, 1, 10);
      }
      taken += static_cast<size_t>(r);
    }
    return true;
  };
  auto all = [&](std::vector<std::atomic<bool>>& flags) {
    return std::all_of(flags.begin(), flags.end(),
                       [](const std::atomic<bool>& f) { return f.load(); });
  };

  const auto warm_start = Clock::now();
  while (!sh.go) {  // until every receiver heard us and the bridge lists them (main thread decides)
    if (sh.abort || Clock::now() - warm_start > kNoProgressLimit) {
      if (rep.error.empty()) rep.error = "warm-up: not every receiver heard the sender within 20 s";
      sh.abort = true;
      return;
    }
    if (!send_frames(kWarm, 0, 1)) {
      sh.abort = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  const auto start = Clock::now();
  auto last_progress = start;
  uint32_t seq = 0;
  uint32_t min_seen = 0;
  while (seq < cfg.frames && rep.error.empty()) {
    if (cfg.seconds > 0 && seconds_between(start, Clock::now()) >= cfg.seconds) break;
    while (seq - min_seen > cfg.window) {  // receiver-paced: stay within the window of the slowest
      uint32_t m = UINT32_MAX;
      for (auto& p : sh.progress) m = std::min(m, p.load());
      if (m != min_seen) {
        min_seen = m;
        last_progress = Clock::now();
      } else if (Clock::now() - last_progress > kNoProgressLimit) {
        rep.error = "receivers stopped making progress at seq " + std::to_string(min_seen);
        break;
      } else {
        std::this_thread::yield();
      }
    }
    if (!rep.error.empty()) break;
    const size_t count = std::min<size_t>(burst, cfg.frames - seq);
    if (!send_frames(kData, seq, count)) break;
    seq += static_cast<uint32_t>(count);
  }
  rep.send_seconds = seconds_between(start, Clock::now());
  rep.frames_sent = seq;

  const auto end_start = Clock::now();
  while (!all(sh.done) && Clock::now() - end_start < std::chrono::seconds(5)) {
    if (!send_frames(kEnd, seq, 1)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!all(sh.done) && rep.error.empty()) rep.error = "not every receiver saw an end marker in 5 s";
  sh.abort = true;  // releases receivers that missed every end marker
  rep.tx_messages = tx.stats().messages;
  rep.tx_syscalls = tx.stats().syscalls;
}

}  // namespace

std::string testbed_script() {
  return std::string(SHOAL_SOURCE_DIR) + "/scripts/testbed.sh";
}

std::string bed_unavailable_reason() {
  if (::geteuid() != 0) return "needs root (network namespaces, bridge, nftables)";
  if (::access(testbed_script().c_str(), X_OK) != 0) return "cannot execute " + testbed_script();
  if (std::system("ip netns list >/dev/null 2>&1") != 0) return "`ip netns` is unavailable";
  if (std::system("command -v nft >/dev/null 2>&1") != 0)
    return "nftables (`nft`) is not installed";
  return "";
}

Testbed::Testbed(std::string prefix, int receivers, const std::string& mode)
    : prefix_(std::move(prefix)), receivers_(receivers) {
  const int st = std::system(
      (testbed_script() + " up " + prefix_ + " " + std::to_string(receivers) + " " + mode).c_str());
  up_status_ = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : 1;
}

Testbed::~Testbed() {
  run("down");
}

int Testbed::run(const std::string& verb, const std::string& args) const {
  const int st = std::system((testbed_script() + " " + verb + " " + prefix_ + " " + args).c_str());
  return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : 1;
}

// Beds left by runs that died before their destructor (crash, ctest timeout kill): TAG<pid>x<n>
// with no such process any more. Only names this harness makes are touched.
void reap_stale_beds(const std::string& tag) {
  DIR* dir = ::opendir("/var/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.rfind(tag, 0) != 0 || name.size() < tag.size() + 6 ||
        name.compare(name.size() - 3, 3, "-br") != 0)
      continue;
    const size_t x = name.find('x', tag.size());
    if (x == std::string::npos || x == tag.size()) continue;
    const std::string pid = name.substr(tag.size(), x - tag.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::access(("/proc/" + pid).c_str(), F_OK) != 0)
      stale.push_back(name.substr(0, name.size() - 3));
  }
  ::closedir(dir);
  for (const std::string& prefix : stale) {
    std::fprintf(stderr, "netns harness: removing stale test bed %s\n", prefix.c_str());
    [[maybe_unused]] const int rc = std::system((testbed_script() + " down " + prefix).c_str());
  }
}

std::string unique_prefix(const std::string& tag) {
  reap_stale_beds(tag);
  static std::atomic<int> counter{0};
  return tag + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

std::thread thread_in_netns(const std::string& ns, std::function<void()> fn, std::string* error) {
  return std::thread([ns, fn = std::move(fn), error] {
    Fd nsfd(::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!nsfd || ::setns(nsfd.get(), CLONE_NEWNET) != 0) {
      *error = "cannot enter network namespace " + ns + ": " + std::strerror(errno);
      return;
    }
    fn();
  });
}

SessionReport run_session(const Testbed& bed, const SessionConfig& cfg) {
  SessionReport rep;
  const auto n = static_cast<size_t>(bed.receivers());
  rep.receivers.resize(n);
  Shared sh(n);
  std::vector<std::string> thread_errors(n + 1);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < n; ++k) {
    const std::string ns = bed.netns("rx" + std::to_string(k + 1));
    threads.push_back(thread_in_netns(
        ns, [&, k] { receive(static_cast<int>(k), cfg, sh, rep.receivers[k]); },
        &thread_errors[k]));
  }
  auto ready_deadline = Clock::now() + std::chrono::seconds(10);
  while (sh.ready < static_cast<int>(n) && Clock::now() < ready_deadline &&
         std::all_of(thread_errors.begin(), thread_errors.end(), [](auto& e) { return e.empty(); }))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::thread sender = thread_in_netns(
      bed.netns("tx"), [&] { send(cfg, sh, rep); }, &thread_errors[n]);
  // Go once every receiver heard a warm-up frame and the snooping bridge forwards to all of them.
  const auto warm_deadline = Clock::now() + std::chrono::seconds(15);
  while (!sh.abort && Clock::now() < warm_deadline &&
         !std::all_of(sh.warm.begin(), sh.warm.end(), [](auto& w) { return w.load(); }))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!sh.abort) {
    if (bed.run("wait-joined", cfg.group + " " + std::to_string(n) + " 10") == 0)
      sh.go = true;
    else
      sh.abort = true;
  }
  sender.join();
  sh.abort = true;
  for (auto& t : threads) t.join();
  for (size_t k = 0; k <= n; ++k)
    if (!thread_errors[k].empty() && rep.error.empty()) rep.error = thread_errors[k];
  for (auto& r : rep.receivers)
    if (!r.error.empty() && rep.error.empty()) rep.error = "receiver: " + r.error;
  return rep;
}

}  // namespace shoal::itest
