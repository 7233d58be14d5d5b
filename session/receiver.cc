#include "session/receiver.h"

#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/units.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "engine/net_iface.h"
#include "engine/transport_select.h"
#include "fec/layout.h"
#include "object/object_format.h"
#include "object/resume_state.h"
#include "probe/probe_autorate.h"
#include "probe/probe_receiver.h"
#include "session/receiver_core.h"

namespace shoal::session {

namespace {

constexpr size_t kMinOpenBlocks = 64;
constexpr uint64_t kDrainQuietNs = 10'000'000;   // socket empty and quiet this long: the pass is in
constexpr uint64_t kDrainMaxNs = 3'000'000'000;  // never wait longer than this to answer a PassEnd
constexpr uint64_t kBeaconWaitNs =
    3'000'000'000;                              // Ready without having heard the group after this
constexpr uint64_t kByeWaitNs = 5'000'000'000;  // after Done, how long to wait for the sender's Bye

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "receiver";
  return buf;
}

bool is_block_device(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_block_file(path, ec);
}

// A receiver is often started before its sender: keep trying until the timeout.
Result<Fd> connect_retry(const sockaddr_in& ep, uint64_t timeout_ns) {
  const uint64_t deadline = monotonic_ns() + timeout_ns;
  bool told = false;
  for (;;) {
    auto fd = control::connect_to(ep, 2000);
    if (fd || monotonic_ns() >= deadline) return fd;
    if (!told) {
      spdlog::info("waiting for the sender at {} ({})", control::format_endpoint(ep), fd.error());
      told = true;
    }
    usleep(50'000);
  }
}

std::string ipv4_text(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  return engine::ipv4_to_string(a);
}

class ReceiverRun {
 public:
  explicit ReceiverRun(const RecvOptions& o) : opt_(o) {}
  int run();

 private:
  void fail(std::string reason) {
    if (outcome_.empty()) {
      outcome_ = "failed";
      reason_ = std::move(reason);
    }
    finished_ = true;
  }
  void on_message(const control::Message& m);
  void on_session_ready();
  void on_udp();
  void answer_pass();
  void say_ready();
  bool socket_empty() const;
  void progress(bool final_line);
  void write_json() const;
  // The data plane as chosen on the command line; the group comes from the sender.
  engine::RxTransportOptions data_plane() const {
    engine::RxTransportOptions ro;
    ro.choice = opt_.transport;
    ro.iface = opt_.iface;
    ro.rcvbuf = opt_.rcvbuf;
    return ro;
  }

  RecvOptions opt_;
  std::unique_ptr<control::EventLoop> loop_;
  std::shared_ptr<control::Connection> conn_;
  std::optional<control::ClientHandshake> hs_;
  std::optional<control::Session> session_;
  std::string received_path_;  // --out, or where a packed object waits to be unpacked
  std::vector<control::Digest> hashes_;
  std::optional<DataKey> key_;
  std::unique_ptr<ReceiverCore> core_;
  std::unique_ptr<engine::RxBackend> rx_;
  std::shared_ptr<void> rx_keep_;  // what the backend needs alive (DPDK EAL and port)
  bool finished_ = false;
  bool done_sent_ = false;
  bool awaiting_beacon_ = false;
  std::string outcome_, reason_;
  std::optional<uint32_t> pending_pass_;
  uint64_t pass_end_ns_ = 0, last_udp_ns_ = 0, start_ns_ = 0, done_ns_ = 0, last_progress_ns_ = 0;
  uint32_t passes_ = 0;
  // `shoal probe` and --rate auto (issue #7): declared last, so destroyed before loop_ and conn_.
  std::unique_ptr<ProbeReceiver> probe_;
  FeedbackCounter feedback_;
};

void ReceiverRun::on_message(const control::Message& m) {
  if (hs_ && !hs_->joined()) {
    auto reply = hs_->on_message(m);
    if (reply) conn_->send(*reply);
    if (hs_->failed()) {
      fail("refused by the sender: " + hs_->failure_reason());
    } else if (hs_->joined()) {
      spdlog::info("joined sender {} as receiver {}", opt_.sender, hs_->receiver_id());
      opt_.events.emit("join", {{"sender", opt_.sender}, {"receiver_id", hs_->receiver_id()}});
    }
    return;
  }
  if (const auto* pr = std::get_if<control::Probe>(&m)) {  // `shoal probe` (probe_receiver.h)
    if (session_) return fail("the sender mixed a probe into a session");
    if (!probe_) probe_ = std::make_unique<ProbeReceiver>(data_plane(), *loop_, *conn_);
    if (Status s = probe_->on_message(*pr); !s) return fail(s.error());
    if (probe_->finished()) finished_ = true;
    return;
  }
  if (auto* s = std::get_if<control::Session>(&m)) {
    if (opt_.expect_session_id && s->session_id != *opt_.expect_session_id) {
      fail("the sender runs another session than the one announced");  // shoal recvd
      return;
    }
    // The block count must follow from the layout before anything is sized by it: a broken or
    // hostile sender could otherwise make this receiver reserve memory for 2^32 hashes.
    auto layout = fec::BlockLayout::make(s->object_size, s->symbol_size, s->k);
    if (!layout || layout->block_count() != s->block_count) {
      fail("sender described an impossible session (" + std::to_string(s->block_count) +
           " blocks for " + std::to_string(s->object_size) + " bytes" +
           (layout ? "" : ": " + layout.error()) + ")");
      return;
    }
    if (session_) {
      fail("sender started a second session on one connection");
      return;
    }
    session_ = *s;
    hashes_.clear();
    hashes_.reserve(s->block_count);
  } else if (auto* mf = std::get_if<control::Manifest>(&m)) {
    if (!session_ || mf->first_block != hashes_.size() ||
        hashes_.size() + mf->block_hashes.size() > session_->block_count) {
      fail("sender sent a manifest out of order");
      return;
    }
    hashes_.insert(hashes_.end(), mf->block_hashes.begin(), mf->block_hashes.end());
  } else if (auto* g = std::get_if<control::KeyGrant>(&m)) {
    if (!session_ || hashes_.size() != session_->block_count || core_) {
      fail("sender sent the session key out of order");
      return;
    }
    auto key = open_key_grant(
        *g,
        control::channel_key_of(hs_->channel_key(), conn_->tls() ? conn_->tls()->channel_key()
                                                                 : std::optional<control::Key>()),
        *session_, hashes_);
    if (!key) {
      fail(key.error());
      return;
    }
    if (key->suite == control::FrameSuite::kNone) {
      spdlog::warn("the sender does not authenticate data frames (--no-frame-auth)");
    }
    key_ = *key;
    on_session_ready();
  } else if (auto* pe = std::get_if<control::PassEnd>(&m)) {
    if (!core_) {
      fail("sender ended a pass before the session was set up");
      return;
    }
    pending_pass_ = pe->pass;
    pass_end_ns_ = monotonic_ns();
  } else if (auto* r = std::get_if<control::Repair>(&m)) {
    if (!core_) return;
    Status st = core_->on_repair(*r);
    if (!st) fail(st.error());
  } else if (auto* bye = std::get_if<control::Bye>(&m)) {
    if (outcome_ == "done") {
      finished_ = true;
    } else {
      fail("sender ended the session: " +
           (bye->reason.empty() ? std::string("no reason given") : bye->reason));
    }
  } else {
    spdlog::warn("ignoring unexpected {} from the sender", control::type_name(m));
  }
}

void ReceiverRun::on_session_ready() {
  const control::Session& s = *session_;
  auto refuse = [&](const std::string& why) {
    control::Done d;
    d.ok = false;
    d.reason = why;
    conn_->send(d);
    fail(why);
  };
  // A packed object (tree, zstd) is received beside --out and unpacked at the end
  // (object/object_format.h); formats this build cannot read are refused here.
  auto target =
      received_object_path(opt_.out, s.object_format, opt_.spool, opt_.state_dir, opt_.force);
  if (!target) return refuse(target.error());
  received_path_ = *target;
  // Resume: reuse partial data only when its state names this very object.
  std::string state_path;
  std::optional<ResumeState> resume;
  if (opt_.resume) {
    state_path = ObjectSink::state_path(received_path_, opt_.state_dir);
    // A file's state sits beside it; a device's in --state-dir.
    if (is_block_device(received_path_)) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(state_path).parent_path(), ec);
    }
    auto loaded = load_resume_state(state_path);
    if (!loaded) return refuse(loaded.error());
    if (*loaded) {
      if ((*loaded)->id != object_id(s, hashes_)) {
        return refuse("resume state '" + state_path +
                      "' belongs to a different object: remove it and the partial "
                      "data beside it, or choose another --out");
      }
      resume = std::move(**loaded);
      spdlog::info("resuming: {} of {} blocks already verified", resume->count(), s.block_count);
    }
  }
  // O_DIRECT pays off when whole blocks are page-aligned (e.g. 8192-byte symbols); otherwise
  // buffered.
  const bool direct = (uint64_t{s.k} * s.symbol_size) % engine::kDirectAlign == 0;
  auto sink =
      ObjectSink::create(received_path_, s.object_size, opt_.force, resume.has_value(), direct);
  if (!sink) return refuse(sink.error());
  size_t slot = size_t{2} * s.k * s.symbol_size;
  // At least two interleaving windows (the sender interleaves 32 blocks): fewer slots would
  // spill blocks of the window being received and throw their repair symbols away.
  size_t max_open = std::max<size_t>(kMinOpenBlocks, opt_.max_memory / std::max<size_t>(slot, 1));
  const SyncPolicy sync = opt_.sync == "none"       ? SyncPolicy::kNone
                          : opt_.sync == "periodic" ? SyncPolicy::kPeriodic
                                                    : SyncPolicy::kEnd;
  auto core = ReceiverCore::make(s, std::move(hashes_), std::move(*sink), max_open, state_path,
                                 resume ? &*resume : nullptr, sync);
  if (!core) return refuse(core.error());
  core_ = std::move(*core);
  if (Status p = core_->protect(*key_); !p) return refuse(p.error());
  engine::RxTransportOptions ro = data_plane();
  ro.group = ipv4_text(s.group_ipv4);
  ro.port = s.port;
  auto rx = engine::open_rx_transport(ro);
  if (!rx) return refuse("cannot join the multicast group " + ro.group + ": " + rx.error());
  rx_ = std::move(rx->rx);
  rx_keep_ = std::move(rx->keep);
  if (rx_->fd() >= 0) {
    Status added = loop_->add(rx_->fd(), EPOLLIN, [this](uint32_t) { on_udp(); });
    if (!added) return refuse(added.error());
  }
  spdlog::info(
      "session {:016x}: '{}' {} in {} blocks, group {}:{} on {}; data plane: {}; writing with {}",
      s.session_id, s.object_name, format_bytes(static_cast<double>(s.object_size)), s.block_count,
      ro.group, s.port, opt_.iface.empty() ? "default interface" : opt_.iface, rx->why,
      core_->writer_backend());
  opt_.events.emit("start", {{"object", s.object_name},
                             {"bytes", s.object_size},
                             {"blocks", s.block_count},
                             {"session_id", session_hex(s.session_id)}});
  start_ns_ = monotonic_ns();
  // Ready waits for the sender's beacon on the group (see the main loop).
  awaiting_beacon_ = true;
}

// True when the kernel holds no unread datagram for us: a receiver behind the sender must not
// NAK symbols that are merely queued.
bool ReceiverRun::socket_empty() const {
  if (!rx_ || rx_->fd() < 0) return true;
  int queued = 0;
  return ::ioctl(rx_->fd(), FIONREAD, &queued) != 0 || queued == 0;
}

void ReceiverRun::say_ready() {
  awaiting_beacon_ = false;
  if (core_->beacon_nonce() == 0) {
    spdlog::warn(
        "no multicast from the sender within {:.0f}s: multicast does not reach this receiver "
        "(another subnet, IGMP snooping without a querier, wrong --iface, or a TTL too small); "
        "asking for the object by unicast",
        double(kBeaconWaitNs) / 1e9);
  }
  // Say what is missing before saying Ready: the sender's first pass skips blocks nobody lacks.
  conn_->send(core_->make_nak(control::kInitialPass));
  conn_->send(control::Ready{core_->beacon_nonce()});
}

void ReceiverRun::on_udp() {
  engine::RxFrame frames[64];
  for (int round = 0; round < 16; ++round) {
    int n = rx_->rx_burst(frames, 64);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      Status s = core_->on_datagram({frames[i].data, frames[i].len});
      if (!s) {
        fail(s.error());
        return;
      }
    }
    last_udp_ns_ = monotonic_ns();
  }
}

void ReceiverRun::answer_pass() {
  uint32_t pass = *pending_pass_;
  pending_pass_.reset();
  passes_ = pass + 1;
  if (!core_->complete()) {
    conn_->send(core_->make_nak(pass));
    opt_.events.emit(
        "pass",
        {{"pass", pass}, {"blocks_done", core_->blocks_done()}, {"blocks", core_->block_count()}});
    return;
  }
  control::Done d;
  const ReceiverStats& st = core_->stats();
  Status c = core_->commit();
  if (c.ok() && session_->object_format != 0) {  // unpack / decompress (object_format.h)
    c = finish_object(received_path_, opt_.out, session_->object_format,
                      {opt_.force, opt_.zero_holes});
  }
  d.ok = c.ok();
  d.reason = c.ok() ? "" : c.error();
  d.bytes_written = st.bytes_written;
  d.frames_received = st.frames_received;
  d.frames_rejected = st.dropped();
  d.repair_symbols_multicast = st.symbols_multicast_repair;
  d.repair_symbols_unicast = st.symbols_unicast_repair;
  d.elapsed_ns = monotonic_ns() - start_ns_;
  conn_->send(d);
  done_sent_ = true;
  done_ns_ = monotonic_ns();
  if (c.ok()) {
    outcome_ = "done";
  } else {
    fail(c.error());
  }
}

void ReceiverRun::progress(bool final_line) {
  if (!opt_.progress || !core_) return;
  uint64_t now = monotonic_ns();
  if (!final_line && now - last_progress_ns_ < 250'000'000) return;
  last_progress_ns_ = now;
  double frac = core_->block_count() ? double(core_->blocks_done()) / core_->block_count() : 1.0;
  double secs = double(now - start_ns_) / 1e9;
  double rate = secs > 0 ? double(core_->stats().bytes_written) * 8 / secs : 0;
  std::fprintf(stderr, "\r  %5.1f%%  %u/%u blocks  %s  pass %u   ", frac * 100,
               core_->blocks_done(), core_->block_count(), format_rate(rate).c_str(), passes_);
  if (final_line) std::fprintf(stderr, "\n");
}

void ReceiverRun::write_json() const {
  if (opt_.json_path.empty()) return;
  nlohmann::json j;
  j["outcome"] = outcome_;
  if (!reason_.empty()) j["reason"] = reason_;
  j["out"] = opt_.out;
  // The object's SHA-256 as the sender stated it (verified when the outcome is done).
  if (session_) j["sha256"] = to_hex(session_->object_sha256);
  if (core_) {
    const ReceiverStats& st = core_->stats();
    j["bytes"] = core_->object_size();
    j["bytes_written"] = st.bytes_written;
    j["frames_received"] = st.frames_received;
    j["frames_rejected"] = st.frames_rejected;
    j["frames_foreign"] = st.frames_foreign;
    j["frames_unauthenticated"] = st.frames_unauthenticated;
    j["frames_replayed"] = st.frames_replayed;
    j["block_hash_failures"] = st.block_hash_failures;
    j["blocks_spilled"] = st.spills;
    j["repair_symbols_multicast"] = st.symbols_multicast_repair;
    j["repair_symbols_unicast"] = st.symbols_unicast_repair;
    j["passes"] = passes_;
    j["seconds"] = double((done_ns_ ? done_ns_ : monotonic_ns()) - start_ns_) / 1e9;
  }
  if (opt_.json_path == "-") {
    std::cout << j.dump() << std::endl;
  } else {
    std::ofstream(opt_.json_path) << j.dump(2) << "\n";
  }
}

int ReceiverRun::run() {
  auto ep = control::parse_endpoint(opt_.sender);
  if (!ep) {
    spdlog::error("{}", ep.error());
    return 2;
  }
  auto tls_ctx = control::tls_context_for(control::TlsContext::Role::kClient, opt_.tls);
  if (!tls_ctx) {
    spdlog::error("{}", tls_ctx.error());
    return 2;
  }
  std::shared_ptr<control::TlsContext> tls = std::move(*tls_ctx);
  if (Status a =
          control::require_authentication(opt_.key.has_value(), opt_.insecure, tls != nullptr);
      !a) {
    spdlog::error("{}", a.error());
    return 2;
  }
  if (opt_.insecure) spdlog::warn("--insecure: joining without authentication");
  // Mistakes that need no sender are reported before connecting.
  if (Status local = check_local_options(opt_); !local) {
    spdlog::error("{}", local.error());
    return 2;
  }
  auto loop = control::EventLoop::create();
  if (!loop) {
    spdlog::error("{}", loop.error());
    return 1;
  }
  loop_ = std::move(*loop);
  auto fd = connect_retry(*ep, opt_.connect_timeout_ns);
  if (!fd) {
    spdlog::error("{}", fd.error());
    return 1;
  }
  control::Connection::Callbacks cb;
  cb.on_message = [this](control::Connection&, const control::Message& m) { on_message(m); };
  cb.on_close = [this](control::Connection&, const std::string& why) {
    if (outcome_ == "done") {
      finished_ = true;
    } else if (opt_.tls.enabled() && hs_ && !hs_->joined() && !hs_->failed()) {
      if (conn_ && conn_->tls() && !conn_->tls()->established()) {
        // Our side of the TLS handshake never finished: the other end does not speak TLS, or
        // its certificate is not one our CA signed.
        fail("TLS handshake failed with the sender (" + why +
             "): check that the sender runs with --tls-cert/--tls-key/--tls-ca and that its "
             "certificate is signed by the CA this receiver uses as --tls-ca");
      } else {
        // In TLS 1.3 the client's handshake is done before the server has checked its
        // certificate, so a refused certificate shows up as a hang-up here.
        fail("the sender closed the connection during the join (" + why +
             "): with TLS this means it did not accept this receiver's certificate; check that "
             "--tls-cert is signed by the CA the sender uses as --tls-ca");
      }
    } else {
      fail("lost the connection to the sender (" + why + ")");
    }
  };
  auto conn =
      control::Connection::create(*loop_, std::move(*fd), cb, control::Connection::Limits{}, tls);
  if (!conn) {
    spdlog::error("{}", conn.error());
    return 1;
  }
  conn_ = std::move(*conn);
  hs_.emplace(opt_.insecure ? std::nullopt : opt_.key, opt_.name.empty() ? host_name() : opt_.name,
              control::random_nonce());
  conn_->send(hs_->start());

  while (!finished_) {
    if (rx_ && rx_->fd() < 0) {
      // Poll-mode backend: no descriptor to sleep on, so poll it and the control plane in turn.
      loop_->poll_once(0);
      on_udp();
    } else {
      loop_->poll_once(pending_pass_ ? 5 : 100);
    }
    uint64_t now = monotonic_ns();
    if (pending_pass_ && !finished_ &&
        ((now - std::max(last_udp_ns_, pass_end_ns_) > kDrainQuietNs && socket_empty()) ||
         now - pass_end_ns_ > kDrainMaxNs)) {
      answer_pass();
    }
    if (done_sent_ && now - done_ns_ > kByeWaitNs) finished_ = true;
    if (awaiting_beacon_ && !finished_ &&
        (core_->beacon_nonce() != 0 || now - start_ns_ > kBeaconWaitNs)) {
      say_ready();
    }
    if (core_ && !done_sent_ && !finished_) {  // loss counters for --rate auto (probe_autorate.h)
      const ReceiverStats& st = core_->stats();
      if (auto fb = feedback_.poll(now, st.data_frames, st.highest_sequence, st.dropped()))
        conn_->send(*fb);
    }
    if (core_ && !done_sent_ && !finished_) {
      Status w = core_->poll_writes();
      if (!w) {
        control::Done d;
        d.ok = false;
        d.reason = w.error();
        conn_->send(d);
        fail(w.error());
      }
    }
    progress(false);
  }
  progress(true);
  if (probe_) return probe_->finish(reason_);  // a probe writes nothing and has no JSON
  if (rx_ && rx_->fd() >= 0) loop_->remove(rx_->fd());
  if (outcome_ != "done") {
    if (core_) {
      core_->abandon();
      if (core_->kept()) {
        spdlog::info(
            "kept the partial data for a resume: run the same command again to continue (or pass "
            "--no-resume to start over)");
      }
    }
    spdlog::error("receive failed: {}", reason_);
    opt_.events.emit("fail", {{"reason", reason_}});
    write_json();
    return 1;
  }
  spdlog::info("verified and written to {}", opt_.out);
  opt_.events.emit("done", {{"out", opt_.out}, {"sha256", to_hex(session_->object_sha256)}});
  write_json();
  return 0;
}

}  // namespace

Status check_local_options(const RecvOptions& options) {
  if (!options.iface.empty()) {
    auto ifc = engine::resolve_iface(options.iface);
    if (!ifc) return make_error("--iface: " + ifc.error());
  }
  if (!is_block_device(options.out)) {
    const std::filesystem::path dir = std::filesystem::path(options.out).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      return make_error("--out: output directory '" + dir.string() + "' does not exist");
  }
  return {};
}

int run_receiver(const RecvOptions& options) {
  ReceiverRun r(options);
  return r.run();
}

}  // namespace shoal::session
