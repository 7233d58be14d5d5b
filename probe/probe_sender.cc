// `shoal probe`: set-up, the control plane and the result (the steps are in probe_run.cc).
#include "probe/probe_sender.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "common/clock.h"
#include "control/endpoint.h"
#include "engine/frame_fit.h"
#include "engine/net_iface.h"
#include "engine/realtime.h"
#include "engine/wire.h"
#include "probe/probe_run.h"
#include "probe/probe_svg.h"

namespace shoal::probe {

namespace {
constexpr uint32_t kBeaconFrame = engine::kHeaderSize + 64;
constexpr uint64_t kExpiryEveryNs = 100'000'000;  // this grain is plenty; keeps steps cheap
}  // namespace

// Gives the peer back to the join server: its connection sends what is queued and closes.
void ProbeRun::release(ProbePeer& p, const std::string& why) {
  if (!p.conn) return;
  p.conn = nullptr;
  server_->release(p.id, why);
}

void ProbeRun::fail(ProbePeer& p, const std::string& why) {
  if (p.state == PeerState::kFailed || p.state == PeerState::kGone) return;
  spdlog::warn("receiver {} ({}) dropped out: {}", p.name, p.addr, why);
  p.state = PeerState::kFailed;
  if (p.index >= 0) result_.receivers[size_t(p.index)].failure = why;
  if (p.conn && p.conn->is_open())
    p.conn->send(control::Bye{control::ByeCode::kFailedReceiver, why});
  release(p, why);
}

void ProbeRun::service(int timeout_ms) {
  loop_->poll_once(timeout_ms);
  const uint64_t now = monotonic_ns();
  if (now - last_expiry_ns_ < kExpiryEveryNs) return;
  last_expiry_ns_ = now;
  server_->expire(now);  // joins that take too long lose their connection and their slot
}

void ProbeRun::on_joined(const control::JoinedPeer& j) {
  if (started_) {
    j.conn->send(control::Bye{control::ByeCode::kAborted,
                              "the probe is already running; join the next one"});
    server_->release(j.id, "late");
    return;
  }
  ProbePeer& p = peers_[j.id];
  p.id = j.id;
  p.conn = j.conn;
  p.name = j.name;
  p.addr = j.addr;
  if (auto ep = control::parse_endpoint(j.addr)) p.from = *ep;
  spdlog::info("receiver {} joined from {}", p.name, p.addr);
}

void ProbeRun::on_message(ProbePeer& p, const control::Message& m) {
  const auto* probe = std::get_if<control::Probe>(&m);
  if (!probe) return fail(p, std::string("protocol error: unexpected ") + control::type_name(m));
  auto pm = decode_probe(*probe);
  if (!pm) return fail(p, "protocol error: " + pm.error());
  if (const auto* j = std::get_if<ProbeJoined>(&*pm)) {
    if (p.state != PeerState::kAdmitted || p.index < 0) return;
    ReceiverInfo& r = result_.receivers[size_t(p.index)];
    r.joined = true;
    r.heard = j->heard;
    r.iface = j->iface;
    r.iface_ipv4 = j->iface_ipv4;
    r.iface_mtu = j->iface_mtu;
    r.unicast_port = j->unicast_port;
    p.state = PeerState::kReady;
  } else if (const auto* rep = std::get_if<ProbeReport>(&*pm)) {
    if (p.awaiting != 0 && rep->step == p.awaiting) p.report = *rep;
  } else {
    fail(p,
         std::string("protocol error: unexpected probe message ") + probe_kind_name(probe->kind));
  }
}

bool ProbeRun::wait_until(uint64_t deadline_ns, bool (ProbeRun::*done)() const) {
  while (!(this->*done)()) {
    const uint64_t now = monotonic_ns();
    if (now >= deadline_ns) return false;
    service(static_cast<int>(std::min<uint64_t>((deadline_ns - now) / 1'000'000 + 1, 20)));
  }
  return true;
}

bool ProbeRun::all_ready() const {
  return std::none_of(peers_.begin(), peers_.end(),
                      [](const auto& kv) { return kv.second.state == PeerState::kAdmitted; });
}

bool ProbeRun::all_reported() const {
  return std::none_of(peers_.begin(), peers_.end(), [](const auto& kv) {
    return kv.second.state == PeerState::kReady && kv.second.awaiting != 0 && !kv.second.report;
  });
}

size_t ProbeRun::admitted() const {
  return size_t(std::count_if(peers_.begin(), peers_.end(), [](const auto& kv) {
    return kv.second.state == PeerState::kAdmitted;
  }));
}

ProbePeer* ProbeRun::peer_at(int index) {
  for (auto& [id, p] : peers_)
    if (p.index == index) return &p;
  return nullptr;
}

// Everything before the first receiver may join: the control plane, the transport, the frames.
ProbeOutcome::Kind ProbeRun::start() {
  using Kind = ProbeOutcome::Kind;
  auto loop = control::EventLoop::create();
  if (!loop) {
    spdlog::error("{}", loop.error());
    return Kind::kFailed;
  }
  loop_ = std::move(*loop);
  control::JoinServerOptions jo;
  jo.listen = opt_.listen;
  jo.key = opt_.key;
  jo.insecure = opt_.insecure;
  jo.tls = opt_.tls;
  jo.admission = opt_.admission;
  control::JoinServer::Callbacks cb;
  cb.on_joined = [this](const control::JoinedPeer& j) { on_joined(j); };
  cb.on_message = [this](uint32_t id, const control::Message& m) {
    if (auto it = peers_.find(id); it != peers_.end()) on_message(it->second, m);
  };
  cb.on_closed = [this](uint32_t id, const std::string& why) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    fail(it->second, "connection lost: " + why);  // releases it
    release(it->second, why);                     // one that had failed or finished before
  };
  auto server = control::JoinServer::create(*loop_, jo, std::move(cb));
  if (!server) {
    spdlog::error("{}", server.error());
    return Kind::kBadInput;
  }
  server_ = std::move(*server);
  auto group = engine::parse_ipv4(opt_.group);
  if (!group || !engine::is_multicast(*group)) {
    spdlog::error("--group: '{}' is not an IPv4 multicast address", opt_.group);
    return Kind::kBadInput;
  }
  group_ = *group;
  auto tx = engine::open_transport(
      {opt_.transport, opt_.group, opt_.port, opt_.iface, opt_.ttl, opt_.loopback});
  if (!tx) {
    spdlog::error("{}", tx.error());
    return Kind::kBadInput;
  }
  tx_ = std::move(*tx);
  auto ifc =
      opt_.iface.empty() ? engine::iface_routing_to(*group) : engine::resolve_iface(opt_.iface);
  const uint32_t mtu = ifc ? ifc->mtu : 1500;
  // The search frames stand for data frames of `shoal send --symbol-size` (tagged, by default):
  // a size send would refuse on this interface is refused here too, before anything is measured.
  // With --ttl 0 nothing leaves this host, so no link's MTU applies.
  if (Status fit = engine::check_symbol_size_fits_mtu(
          opt_.symbol_size, /*tagged=*/true, ifc && opt_.ttl > 0 ? ifc->mtu : 0,
          "interface " + (ifc ? ifc->name : opt_.iface));
      !fit) {
    spdlog::error("{}", fit.error());
    return Kind::kBadInput;
  }
  max_frame_ = std::clamp<uint32_t>(
      mtu > 28 ? mtu - 28 : 0, engine::kHeaderSize + static_cast<uint32_t>(kProbePayloadMin),
      static_cast<uint32_t>(engine::kHeaderSize + engine::kMaxPayload));
  const uint32_t search_frame = engine::kHeaderSize + opt_.symbol_size;
  RAND_bytes(reinterpret_cast<unsigned char*>(&probe_id_), sizeof probe_id_);
  batch_.emplace(probe_id_, std::max({max_frame_, search_frame, kBeaconFrame}));
  result_.group = opt_.group + ":" + std::to_string(opt_.port);
  result_.iface = ifc ? ifc->name : opt_.iface;
  result_.transport = tx_.why;
  result_.ttl = opt_.ttl;
  result_.loss_threshold = opt_.loss_threshold;
  result_.headroom = opt_.headroom;
  result_.dwell_s = double(opt_.dwell_ns) / 1e9;
  result_.wire_overhead = engine::kWireOverhead;
  return Kind::kMeasured;
}

ProbeOutcome ProbeRun::run() {
  ProbeOutcome out;
  t_start_ = monotonic_ns();
  out.kind = start();
  if (out.kind != ProbeOutcome::Kind::kMeasured) return out;
  spdlog::info("probe of {} via {} ({}); waiting for {} receiver(s), up to {:.0f}s, on {}",
               result_.group, result_.iface, tx_.why, opt_.min_receivers,
               double(opt_.max_wait_ns) / 1e9, opt_.listen);

  const uint64_t join_deadline = t_start_ + opt_.max_wait_ns;
  while (admitted() < opt_.min_receivers && monotonic_ns() < join_deadline) service(100);
  started_ = true;
  if (admitted() == 0) {
    spdlog::error(
        "no receiver joined within {:.0f}s: start `shoal recv --sender {}` with the same "
        "key on the receivers",
        double(opt_.max_wait_ns) / 1e9, opt_.listen);
    out.kind = ProbeOutcome::Kind::kFailed;
    return out;
  }
  ProbeStart start{probe_id_, ntohl(group_.s_addr), opt_.port};
  for (auto& [id, p] : peers_) {
    if (p.state != PeerState::kAdmitted) continue;
    p.index = static_cast<int>(result_.receivers.size());
    ReceiverInfo r;
    r.name = p.name;
    r.address = engine::ipv4_to_string(p.from.sin_addr);
    result_.receivers.push_back(r);
    p.conn->send(encode_probe(start));
  }
  beacon();
  if (opt_.realtime && !engine::request_realtime_priority()) {
    // On-time wake-ups keep the pace (engine/realtime.h).
    spdlog::info("pacing at normal priority (real-time priority not permitted)");
  }
  search();
  if (opt_.unicast_check) compare_unicast();
  if (opt_.mtu_check) check_mtu();
  out.outputs_written = finish();
  out.result = std::move(result_);
  return out;
}

bool ProbeRun::finish() {
  result_.seconds = double(monotonic_ns() - t_start_) / 1e9;
  diagnose(result_);
  for (auto& [id, p] : peers_) {
    if (p.state == PeerState::kReady) p.conn->send(encode_probe(ProbeEnd{result_.verdict}));
    if (p.state != PeerState::kFailed) p.state = PeerState::kGone;  // closing is no failure now
    release(p, "probe over");
  }
  const uint64_t deadline = monotonic_ns() + 2'000'000'000;
  while (monotonic_ns() < deadline && server_->closing() > 0) service(10);
  print_table(result_, opt_.json_path == "-" ? stderr : stdout);
  bool ok = true;
  auto write = [&ok](const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return;
    std::ofstream f(path);
    f << text;
    if (!f) {
      spdlog::error("cannot write the {} to '{}'", what, path);
      ok = false;
    }
  };
  if (opt_.json_path == "-") {
    std::cout << to_json(result_).dump() << std::endl;
  } else {
    write(opt_.json_path, to_json(result_).dump(2) + "\n", "JSON result");
  }
  write(opt_.csv_path, to_csv(result_), "CSV table");
  write(opt_.plot_path, render_probe_svg(result_), "SVG plot");
  return ok;
}

ProbeOutcome run_probe(const ProbeOptions& options) {
  ProbeRun r(options);
  return r.run();
}

}  // namespace shoal::probe
