#include "session/receiver.h"

#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "common/clock.h"
#include "common/printable.h"
#include "common/units.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "engine/net_iface.h"
#include "engine/transport_select.h"
#include "engine/udp_rx.h"
#include "fec/layout.h"
#include "object/object_format.h"
#include "object/pipe_sink.h"
#include "object/resume_state.h"
#include "probe/probe_autorate.h"
#include "probe/probe_receiver.h"
#include "session/checkpointer.h"
#include "session/manifest_seal.h"
#include "session/open_block_budget.h"
#include "session/peer_fetch.h"
#include "session/peer_server.h"
#include "session/receiver_control.h"
#include "session/receiver_core.h"
#include "session/receiver_report.h"
#include "session/receiver_run.h"

namespace shoal::session {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "receiver";
  return buf;
}

bool is_block_device(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_block_file(path, ec);
}

// A receiver is often started before its sender: keep trying until the timeout, every 20 ms (the
// session starts that much sooner; a refused connect costs a SYN and a RST on the LAN).
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
    usleep(20'000);
  }
}

std::string ipv4_text(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  return engine::ipv4_to_string(a);
}

}  // namespace

namespace detail {

void ReceiverRun::on_message(const control::Message& m) {
  if (hs_ && !hs_->joined()) {
    auto reply = hs_->on_message(m);
    if (reply) conn_->send(*reply);
    if (hs_->failed()) {
      control_.fail("refused by the sender: " + hs_->failure_reason());
    } else if (hs_->joined()) {
      spdlog::info("joined sender {} as receiver {}", opt_.sender, hs_->receiver_id());
      opt_.events.emit("join", {{"sender", opt_.sender}, {"receiver_id", hs_->receiver_id()}});
    }
    return;
  }
  auto reaction = control_.on_message(m, monotonic_ns());
  if (auto* open = std::get_if<ReceiverControl::OpenSession>(&reaction)) {
    open_session(std::move(*open));
  } else if (std::holds_alternative<ReceiverControl::TakeManifest>(reaction)) {
    if (!core_) return;
    const auto& mf = std::get<control::Manifest>(m);
    if (!seal_->verify(mf)) {
      return control_.fail("block hashes from the sender do not verify (blocks " +
                           std::to_string(mf.first_block) + "+" +
                           std::to_string(mf.block_hashes.size()) +
                           "): the manifest was altered on the way, or the channel keys differ");
    }
    if (Status st = core_->add_hashes(mf.first_block, mf.block_hashes); !st)
      control_.fail(st.error());
  } else if (std::holds_alternative<ReceiverControl::TakeManifestEnd>(reaction)) {
    if (!core_) return;
    if (!seal_->verify(std::get<control::ManifestEnd>(m), core_->block_count())) {
      return control_.fail(
          "the end of the sender's manifest does not verify: the object's SHA-256 was altered "
          "on the way, or the channel keys differ");
    }
  } else if (std::holds_alternative<ReceiverControl::TakeRepair>(reaction)) {
    if (!core_) return;
    Status st = core_->on_repair(std::get<control::Repair>(m));
    if (!st) control_.fail(st.error());
  } else if (std::holds_alternative<ReceiverControl::TakeHorizon>(reaction)) {
    if (core_) core_->set_horizon(std::get<control::Horizon>(m).next_sequence);
  } else if (std::holds_alternative<ReceiverControl::ForwardProbe>(reaction)) {
    if (!probe_) probe_ = std::make_unique<probe::ProbeReceiver>(data_plane(), *loop_, *conn_);
    if (Status s = probe_->on_message(std::get<control::Probe>(m)); !s)
      return control_.fail(s.error());
    if (probe_->finished()) control_.finish();
  } else if (std::holds_alternative<ReceiverControl::FetchFromPeer>(reaction)) {
    if (core_) fetch_from_peer(std::get<control::PeerAssign>(m));
  } else if (std::holds_alternative<ReceiverControl::Unexpected>(reaction)) {
    spdlog::warn("ignoring unexpected {} from the sender", control::type_name(m));
  }
}

void ReceiverRun::on_closed(const std::string& why) {
  if (control_.outcome() != ReceiverControl::Outcome::kDone && opt_.tls.enabled() && hs_ &&
      !hs_->joined() && !hs_->failed()) {
    if (conn_ && conn_->tls() && !conn_->tls()->established()) {
      // Our side of the TLS handshake never finished: the other end does not speak TLS, or
      // its certificate is not one our CA signed.
      control_.fail("TLS handshake failed with the sender (" + why +
                    "): check that the sender runs with --tls-cert/--tls-key/--tls-ca and that its "
                    "certificate is signed by the CA this receiver uses as --tls-ca");
    } else {
      // In TLS 1.3 the client's handshake is done before the server has checked its
      // certificate, so a refused certificate shows up as a hang-up here.
      control_.fail(
          "the sender closed the connection during the join (" + why +
          "): with TLS this means it did not accept this receiver's certificate; check that "
          "--tls-cert is signed by the CA the sender uses as --tls-ca");
    }
    return;
  }
  control_.on_connection_closed(why);
}

// Sends Done{ok = false} with the reason and fails: the sender learns why this receiver left.
void ReceiverRun::refuse(const std::string& why) {
  control::Done d;
  d.ok = false;
  d.reason = why;
  conn_->send(d);
  control_.fail(why);
}

void ReceiverRun::open_session(ReceiverControl::OpenSession o) {
  const control::Session& s = o.session;
  const std::optional<control::Key> channel =
      control::channel_key_of(hs_->channel_key(), conn_->tls() ? conn_->tls()->channel_key()
                                                               : std::optional<control::Key>());
  auto key = open_key_grant(o.grant, channel, s);
  if (!key) return control_.fail(key.error());
  if (key->suite == control::FrameSuite::kNone) {
    spdlog::warn("the sender does not authenticate data frames (--no-frame-auth)");
  }
  key_ = *key;
  seal_.emplace(channel, s.session_id);  // checks the manifest messages that follow
  // --max-memory is a hard limit: refused before anything touches the disk.
  auto max_open = open_block_budget(opt_.max_memory, s.k, s.symbol_size, s.block_count);
  if (!max_open) return refuse(max_open.error());
  if (opt_.out == "-") return open_pipe(s, *max_open);
  // A packed object (tree, zstd) is received beside --out and unpacked at the end
  // (object/object_format.h); formats this build cannot read are refused here.
  auto target = object::received_object_path(opt_.out, s.object_format, opt_.spool, opt_.state_dir,
                                             opt_.force);
  if (!target) return refuse(target.error());
  received_path_ = *target;
  // Resume: reuse partial data only when its state names this object's layout (each block is
  // checked against its hash when that arrives).
  const control::Digest id = object::object_id(s);
  std::string state_path;
  std::optional<object::ResumeState> resume;
  if (opt_.resume) {
    state_path = object::ObjectSink::state_path(received_path_, opt_.state_dir);
    // A file's state sits beside it; a device's in --state-dir.
    if (is_block_device(received_path_)) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(state_path).parent_path(), ec);
    }
    auto loaded = object::load_resume_state(state_path);
    if (!loaded) return refuse(loaded.error());
    if (*loaded) {
      if ((*loaded)->id != id || (*loaded)->block_count != s.block_count) {
        return refuse("resume state '" + state_path +
                      "' belongs to a different object: remove it and the partial "
                      "data beside it, or choose another --out");
      }
      resume = std::move(**loaded);
    }
  }
  // O_DIRECT pays off when whole blocks are page-aligned (e.g. 8192-byte symbols); otherwise
  // buffered.
  const bool direct = (uint64_t{s.k} * s.symbol_size) % engine::kDirectAlign == 0;
  auto sink = object::ObjectSink::create(received_path_, s.object_size, opt_.force,
                                         resume.has_value(), direct, size_t{s.k} * s.symbol_size);
  if (!sink) return refuse(sink.error());
  const bool fresh_file = !resume && sink->kind() == object::ObjectSink::Kind::kFile;
  sink_ = std::make_unique<object::ObjectSink>(std::move(*sink));
  if (resume) {
    spdlog::info(
        "resuming: {} of {} blocks verified in an earlier run (each is checked against its hash "
        "as the manifest arrives)",
        resume->count(), s.block_count);
  }
  const SyncPolicy sync = opt_.sync == "none"       ? SyncPolicy::kNone
                          : opt_.sync == "periodic" ? SyncPolicy::kPeriodic
                                                    : SyncPolicy::kEnd;
  auto checkpointer = std::make_unique<Checkpointer>(
      *sink_, state_path, id, s.object_size, s.block_count, resume ? &*resume : nullptr, sync);
  auto core = ReceiverCore::make(s, *sink_, *max_open, resume ? &*resume : nullptr,
                                 [c = checkpointer.get()](uint32_t b) { c->verified(b); });
  if (!core) return refuse(core.error());
  // A file this run created reads zeros where nothing was written: all-zero blocks need no write.
  (*core)->set_target_reads_zero(fresh_file);
  checkpointer_ = std::move(checkpointer);
  core_ = std::move(*core);
  join_group(s);
}

// --out -: the object goes to stdout in order, through a spool (object/pipe_sink.h); raw objects
// only, nothing resumable.
void ReceiverRun::open_pipe(const control::Session& s, size_t max_open) {
  if (s.object_format != 0 && !opt_.pipe_any_format) {
    return refuse(
        "--out - takes the object's bytes as they are, but the sender packs or compresses it "
        "(send a directory or --compress only to a file: give --out PATH)");
  }
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout) return refuse("sender sent an unusable session layout: " + layout.error());
  auto pipe = object::PipeSink::create(opt_.out_fd, s.object_size, opt_.spool, opt_.out_streamed);
  if (!pipe) return refuse(pipe.error());
  std::signal(SIGPIPE, SIG_IGN);  // a reader that goes away is an error we report, not a kill
  pipe_ = pipe->get();
  sink_ = std::move(*pipe);
  received_path_ = "-";
  auto checkpointer = std::make_unique<Checkpointer>(
      *sink_, "", object::object_id(s), s.object_size, s.block_count, nullptr, SyncPolicy::kNone);
  auto core = ReceiverCore::make(s, *sink_, max_open, nullptr,
                                 [c = checkpointer.get(), p = pipe_, l = *layout](uint32_t b) {
                                   c->verified(b);
                                   p->verified(l.block_offset(b), l.block_bytes(b));
                                 });
  if (!core) return refuse(core.error());
  checkpointer_ = std::move(checkpointer);
  core_ = std::move(*core);
  join_group(s);
}

// The key, the group, the log line: the session is open and waits for Ready.
void ReceiverRun::join_group(const control::Session& s) {
  if (Status p = core_->protect(*key_); !p) return refuse(p.error());
  if (Status v = verify_off_thread(); !v) return refuse(v.error());
  engine::RxTransportOptions ro = data_plane();
  ro.group = ipv4_text(s.group_ipv4);
  ro.port = s.port;
  // Room for what arrives while the receive thread is held up, at the most the sender may send.
  const auto pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  ro.rcvbuf = engine::receive_buffer_for_rate(
      s.rate_bps, opt_.rcvbuf, pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0);
  socket_buffer_ = ro.rcvbuf;
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
      s.session_id, printable(s.object_name), format_bytes(static_cast<double>(s.object_size)),
      s.block_count, ro.group, s.port, opt_.iface.empty() ? "default interface" : opt_.iface,
      rx->why, sink_->backend());
  opt_.events.emit("start", {{"object", s.object_name},
                             {"bytes", s.object_size},
                             {"blocks", s.block_count},
                             {"session_id", session_hex(s.session_id)}});
  start_ns_ = monotonic_ns();
  if (opt_.on_session) opt_.on_session(s);
  // Ready waits for the sender's beacon on the group (see tick()).
  control_.session_started(start_ns_);
}

// With a second CPU, the SHA-256 of each block (most of a receiver's CPU per byte) is taken off
// the receive thread: it then only parses, checks tags and assembles, and drops less.
Status ReceiverRun::verify_off_thread() {
  if (!opt_.verify_thread || !VerifyWorker::second_cpu_usable()) return {};
  if (Status v = core_->verify_off_thread(); !v) return v;
  return loop_->add(core_->verify_fd(), EPOLLIN, [this](uint32_t) {
    if (Status c = core_->collect_verified(); !c) control_.fail(c.error());
  });
}

// True when the kernel holds no unread datagram for us: a receiver behind the sender must not
// NAK symbols that are merely queued.
bool ReceiverRun::socket_empty() const {
  if (!rx_ || rx_->fd() < 0) return true;
  int queued = 0;
  return ::ioctl(rx_->fd(), FIONREAD, &queued) != 0 || queued == 0;
}

void ReceiverRun::on_udp() {
  engine::RxFrame frames[64];
  for (int round = 0; round < 16; ++round) {
    int n = rx_->rx_burst(frames, 64);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      Status s = core_->on_datagram({frames[i].data, frames[i].len});
      if (!s) return control_.fail(s.error());
    }
    if (core_->blocks_unwritten() > 0) {
      if (Status w = core_->write_deferred(); !w) return control_.fail(w.error());
    }
    last_udp_ns_ = monotonic_ns();
  }
}

void ReceiverRun::execute(const ReceiverControl::Action& a) {
  if (const auto* ready = std::get_if<ReceiverControl::SendReady>(&a)) {
    if (ready->beacon_echo == 0 && opt_.unicast_only) {
      spdlog::info("asking for the object by unicast (the multicast cannot reach here)");
    } else if (ready->beacon_echo == 0) {
      spdlog::warn(
          "no multicast from the sender within {:.0f}s: multicast does not reach this receiver "
          "(another subnet, IGMP snooping without a querier, wrong --iface, or a TTL too "
          "small); asking for the object by unicast",
          double(kBeaconWaitNs) / 1e9);
    }
    // Say what is missing before saying Ready: the sender's first pass skips blocks nobody lacks.
    conn_->send(core_->make_nak(control::kInitialPass));
    if (serve_peers_refusal() == nullptr) conn_->send(control::PeerOffer{});  // once verified
    conn_->send(control::Ready{ready->beacon_echo});
  } else if (const auto* nak = std::get_if<ReceiverControl::SendNak>(&a)) {
    conn_->send(core_->make_nak(nak->pass));
    opt_.events.emit("pass", {{"pass", nak->pass},
                              {"blocks_done", core_->blocks_done()},
                              {"blocks", core_->block_count()}});
  } else if (std::holds_alternative<ReceiverControl::SendProgress>(a)) {
    if (auto p = core_->make_progress(kProgressMaxRuns)) conn_->send(*p);
  } else {
    commit(std::get<ReceiverControl::Commit>(a).pass);
  }
}

// Every block is in: verify the whole object, put it in place (unpacked), and say Done.
void ReceiverRun::commit(uint32_t /*pass*/) {
  const control::Session& s = control_.session();
  const ReceiverStats& st = core_->stats();
  Status c = checkpointer_->commit(*core_);
  if (c.ok() && s.object_format != 0) {  // unpack / decompress (object_format.h)
    c = object::finish_object(received_path_, opt_.out, s.object_format,
                              {opt_.force, opt_.zero_holes});
  }
  control::Done d;
  d.ok = c.ok();
  d.reason = c.ok() ? "" : c.error();
  d.bytes_written = st.bytes_written;
  d.frames_received = st.frames_received;
  d.frames_rejected = st.dropped();
  d.repair_symbols_multicast = st.symbols_multicast_repair;
  d.repair_symbols_unicast = st.symbols_unicast_repair;
  d.elapsed_ns = monotonic_ns() - start_ns_;
  if (c.ok() && opt_.relay_outcome) {
    // A relay: its copy is verified; the Done waits for its own session's end (relay_tick).
    conn_->send(control::Relaying{opt_.relay_segment});
    relay_done_ = d;
  } else {
    if (c.ok()) offer_to_serve_peers();
    conn_->send(d);
    done_ns_ = monotonic_ns();
    control_.on_done_sent(c, done_ns_);
  }
  if (rx_) socket_drops_ = rx_->drops();
  if (c.ok() && rx_) {
    // Committed: leave the group while the sender's acknowledgement is awaited.
    if (rx_->fd() >= 0) loop_->remove(rx_->fd());
    rx_.reset();
  }
}

// A relay's segment ended: each of its receivers, then the Done that carries the outcome.
void ReceiverRun::relay_tick() {
  if (!relay_done_ || !conn_) return;
  std::optional<RelayOutcome> out = opt_.relay_outcome();
  if (!out) return;
  for (const control::Downstream& r : out->receivers) conn_->send(r);
  control::Done d = *relay_done_;
  relay_done_.reset();
  d.ok = out->ok;
  d.reason = out->reason;
  conn_->send(d);
  done_ns_ = monotonic_ns();
  control_.on_done_sent({}, done_ns_);  // this copy is verified, whatever the segment's outcome
}

void ReceiverRun::tick() {
  const uint64_t now = monotonic_ns();
  relay_tick();
  peer_tick(now);
  for (;;) {
    ReceiverControl::Tick t;
    t.now_ns = now;
    t.last_datagram_ns = last_udp_ns_;
    // Blocks still being checked or waiting for the disk are not lacking: a NAK sent before
    // they are done would ask for nothing (or too little) and cost the sender a pass.
    t.socket_empty =
        !control_.draining() || (socket_empty() && (!core_ || core_->blocks_in_hand() == 0));
    t.complete = core_ && core_->complete();
    t.beacon_nonce = core_ ? core_->beacon_nonce() : 0;
    // What moved since the last report, from the group or over the connection (unicast lane).
    t.data_frames = core_ ? core_->stats().data_frames + core_->stats().symbols_unicast_repair : 0;
    auto a = control_.next_action(t);
    if (!a) break;
    execute(*a);
  }
  if (core_ && !control_.done_sent() && !control_.finished()) {
    // Loss counters for --rate auto (probe_autorate.h).
    const ReceiverStats& st = core_->stats();
    if (auto fb = feedback_.poll(now, st.data_frames, st.highest_sequence, st.dropped(),
                                 st.no_room_drops))
      conn_->send(*fb);
    if (auto f = core_->take_fetch()) conn_->send(*f);
    if (Status w = sink_->poll(); !w) refuse(w.error());
    if (Status w = core_->write_deferred(); !w) control_.fail(w.error());
  }
  progress_.update(core_.get(), control_.passes(), start_ns_, monotonic_ns(), false);
}

RecvResult ReceiverRun::run() {
  auto ep = control::parse_endpoint(opt_.sender);
  if (!ep) return setup_failed(ep.error(), true);
  auto tls_ctx = control::tls_context_for(control::TlsContext::Role::kClient, opt_.tls);
  if (!tls_ctx) return setup_failed(tls_ctx.error(), true);
  std::shared_ptr<control::TlsContext> tls = std::move(*tls_ctx);
  if (Status a =
          control::require_authentication(opt_.key.has_value(), opt_.insecure, tls != nullptr);
      !a) {
    return setup_failed(a.error(), true);
  }
  if (opt_.insecure) spdlog::warn("--insecure: joining without authentication");
  // Mistakes that need no sender are reported before connecting.
  if (Status local = check_local_options(opt_); !local) return setup_failed(local.error(), true);
  auto loop = control::EventLoop::create();
  if (!loop) return setup_failed(loop.error(), false);
  loop_ = std::move(*loop);
  auto fd = connect_retry(*ep, opt_.connect_timeout_ns);
  if (!fd) return setup_failed(fd.error(), false);
  control::Connection::Callbacks cb;
  cb.on_message = [this](control::Connection&, const control::Message& m) { on_message(m); };
  cb.on_close = [this](control::Connection&, const std::string& why) { on_closed(why); };
  auto conn =
      control::Connection::create(*loop_, std::move(*fd), cb, control::Connection::Limits{}, tls);
  if (!conn) return setup_failed(conn.error(), false);
  conn_ = std::move(*conn);
  name_ = opt_.name.empty() ? host_name() : opt_.name;
  hs_.emplace(opt_.insecure ? std::nullopt : opt_.key, name_, control::random_nonce());
  conn_->send(hs_->start());

  while (!control_.finished()) {
    if (rx_ && rx_->fd() < 0) {
      // Poll-mode backend: no descriptor to sleep on, so poll it and the control plane in turn.
      loop_->poll_once(0);
      on_udp();
    } else {
      loop_->poll_once(control_.draining() ? 5 : 100);
    }
    tick();
  }
  progress_.update(core_.get(), control_.passes(), start_ns_, monotonic_ns(), true);
  return finish();
}

RecvResult ReceiverRun::finish() {
  if (probe_) {  // a probe writes nothing and has no JSON
    const int rc = probe_->finish(control_.reason());
    return {rc == 0, false, rc == 0 ? "" : control_.reason()};
  }
  if (rx_ && rx_->fd() >= 0) loop_->remove(rx_->fd());
  if (core_ && core_->verify_fd() >= 0) loop_->remove(core_->verify_fd());
  const bool done = control_.outcome() == ReceiverControl::Outcome::kDone;
  ReceiverSummary summary;
  summary.outcome = done ? "done" : "failed";
  summary.reason = control_.reason();
  summary.out = opt_.out;
  summary.session = control_.has_session() ? &control_.session() : nullptr;
  summary.sha256 = control_.object_sha256();
  summary.core = core_.get();
  summary.passes = control_.passes();
  if (rx_) socket_drops_ = rx_->drops();
  summary.socket_drops = socket_drops_;
  summary.socket_buffer = socket_buffer_;
  report_peers(summary);
  warn_socket_drops(summary);
  auto seconds = [&] { return double((done_ns_ ? done_ns_ : monotonic_ns()) - start_ns_) / 1e9; };
  if (!done) {
    if (core_) {
      checkpointer_->abandon();
      if (checkpointer_->kept()) {
        spdlog::info(
            "kept the partial data for a resume: run the same command again to continue (or pass "
            "--no-resume to start over)");
      }
    }
    spdlog::error("receive failed: {}", control_.reason());
    opt_.events.emit("fail", {{"reason", control_.reason()}});
    summary.seconds = seconds();
    write_receiver_json(opt_.json_path, summary);
    return {false, false, control_.reason()};
  }
  if (control_.ack_missing()) {
    spdlog::warn(
        "the sender did not acknowledge Done (no Bye within {:.0f}s, or the connection closed "
        "first); the object is verified and in place",
        double(kDoneAckWaitNs) / 1e9);
  }
  if (pipe_) {
    // Done was said once every block was verified and spooled; the pipe may still be taking it.
    if (Status d = pipe_->drain(); !d) {
      spdlog::error("receive failed: {}", d.error());
      opt_.events.emit("fail", {{"reason", d.error()}});
      summary.outcome = "failed";
      summary.reason = d.error();
      summary.seconds = seconds();
      write_receiver_json(opt_.json_path, summary);
      return {false, false, d.error()};
    }
  }
  spdlog::info("verified and written to {}", pipe_ ? "stdout" : opt_.out);
  log_peer_service();
  opt_.events.emit("done", {{"out", opt_.out}, {"sha256", to_hex(*control_.object_sha256())}});
  summary.seconds = seconds();
  write_receiver_json(opt_.json_path, summary);
  return {true, false, ""};
}

}  // namespace detail

Status check_local_options(const RecvOptions& options) {
  if (!options.iface.empty()) {
    auto ifc = engine::resolve_iface(options.iface);
    if (!ifc) return make_error("--iface: " + ifc.error());
  }
  if (options.out.empty()) return {};  // --target-from-announcement: chosen after the wait
  if (options.out == "-") {
    if (options.json_path == "-")
      return make_error("--out - writes the object to stdout: give --json a file, not -");
    return {};
  }
  auto device = object::names_block_device(options.out);
  if (!device) return make_error(device.error());
  if (!*device) {
    const std::filesystem::path dir = std::filesystem::path(options.out).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      return make_error("--out: output directory '" + dir.string() + "' does not exist");
  }
  return {};
}

RecvResult run_receiver(const RecvOptions& options) {
  detail::ReceiverRun r(options);
  return r.run();
}

}  // namespace shoal::session
