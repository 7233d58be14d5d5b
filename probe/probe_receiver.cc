#include "probe/probe_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "engine/net_iface.h"
#include "engine/transport_select.h"
#include "engine/udp_rx.h"
#include "engine/wire.h"

namespace shoal::probe {
namespace {

constexpr uint64_t kBeaconWaitNs = 3'000'000'000;  // Joined without a beacon after this
constexpr uint64_t kDrainQuietNs = 10'000'000;     // sockets empty and quiet this long: step in
constexpr uint64_t kDrainMaxNs = 1'000'000'000;    // never wait longer to report a step
constexpr uint64_t kDrainTickNs = 2'000'000;
constexpr uint64_t kPollTickNs = 200'000;  // poll-mode (DPDK) receive period
constexpr size_t kMaxOpenSteps = 8;        // bounds memory against a flood of step ids
constexpr int kUnicastBatch = 32;
constexpr size_t kUnicastBuffer = 9216;

}  // namespace

ProbeReceiver::ProbeReceiver(const engine::RxTransportOptions& options, control::EventLoop& loop,
                             control::Connection& conn)
    : opt_(options), loop_(loop), conn_(conn) {}

ProbeReceiver::~ProbeReceiver() {
  if (rx_ && rx_->fd() >= 0) loop_.remove(rx_->fd());
  if (unicast_) loop_.remove(unicast_.get());
  if (timer_) loop_.remove(timer_.get());
}

Status ProbeReceiver::on_message(const control::Probe& probe) {
  auto m = decode_probe(probe);
  if (!m) return make_error("malformed probe message from the sender: " + m.error());
  if (const auto* s = std::get_if<ProbeStart>(&*m)) {
    if (started_) return make_error("the sender started the probe twice");
    return start(*s);
  }
  if (!started_) return make_error("the sender sent probe steps before starting the probe");
  if (const auto* e = std::get_if<ProbeStepEnd>(&*m)) {
    pending_.push_back({e->step, e->frames_sent, monotonic_ns()});
    if (!poll_mode_) arm(kDrainTickNs);
    return {};
  }
  if (const auto* end = std::get_if<ProbeEnd>(&*m)) {
    finished_ = true;
    summary_ = end->summary;
    return {};
  }
  return make_error(std::string("unexpected probe message ") + probe_kind_name(probe.kind) +
                    " from the sender");
}

Status ProbeReceiver::start(const ProbeStart& s) {
  started_ = true;
  probe_id_ = s.probe_id;
  in_addr group{};
  group.s_addr = htonl(s.group_ipv4);
  if (!engine::is_multicast(group))
    return make_error("the sender's probe group " + engine::ipv4_to_string(group) +
                      " is not multicast");
  engine::RxTransportOptions ro = opt_;
  ro.group = engine::ipv4_to_string(group);
  ro.port = s.port;
  auto rx = engine::open_rx_transport(ro);
  if (!rx) return make_error("cannot join the multicast group " + ro.group + ": " + rx.error());
  rx_ = std::move(rx->rx);
  rx_keep_ = std::move(rx->keep);
  // Where the group was joined, for the sender's diagnosis (not fatal if it cannot be told).
  auto ifc =
      opt_.iface.empty() ? engine::iface_routing_to(group) : engine::resolve_iface(opt_.iface);
  if (ifc) iface_ = *ifc;
  if (rx_->fd() >= 0) {
    Status added = loop_.add(rx_->fd(), EPOLLIN, [this](uint32_t) { on_readable_multicast(); });
    if (!added) return added;
  } else {
    poll_mode_ = true;
  }

  unicast_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!unicast_) return make_error(std::string("cannot open a UDP socket: ") + strerror(errno));
  const int one = 1;
  (void)::setsockopt(unicast_.get(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  if (::setsockopt(unicast_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &opt_.rcvbuf, sizeof opt_.rcvbuf))
    (void)::setsockopt(unicast_.get(), SOL_SOCKET, SO_RCVBUF, &opt_.rcvbuf, sizeof opt_.rcvbuf);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  socklen_t len = sizeof any;
  if (::bind(unicast_.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
      ::getsockname(unicast_.get(), reinterpret_cast<sockaddr*>(&any), &len) != 0)
    return make_error(std::string("cannot bind a unicast UDP socket: ") + strerror(errno));
  unicast_port_ = ntohs(any.sin_port);
  ubuf_.resize(size_t{kUnicastBatch} * kUnicastBuffer);
  if (Status st = loop_.add(unicast_.get(), EPOLLIN, [this](uint32_t) { on_readable_unicast(); });
      !st)
    return st;

  timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_) return make_error(std::string("cannot create a timer: ") + strerror(errno));
  if (Status st = loop_.add(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); }); !st)
    return st;
  beacon_deadline_ns_ = monotonic_ns() + kBeaconWaitNs;
  arm(poll_mode_ ? kPollTickNs : kBeaconWaitNs);
  spdlog::info(
      "probe: the sender measures the network; joined {}:{} on {} ({}); nothing is "
      "written to disk",
      ro.group, s.port, opt_.iface.empty() ? "the routed interface" : opt_.iface, rx->why);
  return {};
}

void ProbeReceiver::arm(uint64_t delay_ns) {
  itimerspec its{};
  delay_ns = std::max<uint64_t>(delay_ns, 1);
  its.it_value.tv_sec = static_cast<time_t>(delay_ns / 1'000'000'000);
  its.it_value.tv_nsec = static_cast<long>(delay_ns % 1'000'000'000);
  (void)::timerfd_settime(timer_.get(), 0, &its, nullptr);
}

void ProbeReceiver::take(const uint8_t* data, size_t len, uint64_t now_ns) {
  const engine::ParseResult pr = engine::parse_frame({data, len});
  if (!pr || pr->header.type != engine::kFrameProbe || pr->header.session != probe_id_) {
    ++rejected_;
    return;
  }
  ProbePayload payload;
  if (!decode_probe_payload(pr->payload, payload)) {
    ++rejected_;
    return;
  }
  last_frame_ns_ = now_ns;
  const uint32_t step = pr->header.block;
  if (step == kBeaconStep) {
    heard_ = true;
    if (!joined_sent_) send_joined(true);
    return;
  }
  if (step <= closed_up_to_) return;  // a straggler of a step already reported
  auto it = open_.find(step);
  if (it == open_.end()) {
    if (open_.size() >= kMaxOpenSteps) {
      ++rejected_;
      return;
    }
    it = open_.emplace(step, StepStats{}).first;
  }
  it->second.add(pr->header.sequence, payload.send_ns, now_ns);
}

void ProbeReceiver::on_readable_multicast() {
  if (!rx_) return;
  engine::RxFrame frames[64];
  for (int round = 0; round < 64; ++round) {
    const int n = rx_->rx_burst(frames, 64);
    if (n <= 0) break;
    const uint64_t now = monotonic_ns();
    for (int i = 0; i < n; ++i) take(frames[i].data, frames[i].len, now);
    if (n < 64) break;
  }
}

void ProbeReceiver::on_readable_unicast() {
  if (!unicast_) return;
  mmsghdr msgs[kUnicastBatch];
  iovec iov[kUnicastBatch];
  struct alignas(cmsghdr) Ctrl {
    unsigned char b[CMSG_SPACE(sizeof(uint32_t))];
  } ctrl[kUnicastBatch];
  for (int round = 0; round < 64; ++round) {
    std::memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < kUnicastBatch; ++i) {
      iov[i] = {ubuf_.data() + size_t(i) * kUnicastBuffer, kUnicastBuffer};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i].b;
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].b;
    }
    const int n = ::recvmmsg(unicast_.get(), msgs, kUnicastBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    const uint64_t now = monotonic_ns();
    for (int i = 0; i < n; ++i) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
          std::memcpy(&unicast_drops_, CMSG_DATA(c), sizeof unicast_drops_);
      }
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ++rejected_;
        continue;
      }
      take(static_cast<const uint8_t*>(iov[i].iov_base), msgs[i].msg_len, now);
    }
    if (n < kUnicastBatch) break;
  }
}

bool ProbeReceiver::sockets_empty() const {
  int queued = 0;
  if (rx_ && rx_->fd() >= 0 && ::ioctl(rx_->fd(), FIONREAD, &queued) == 0 && queued > 0)
    return false;
  queued = 0;
  return !(unicast_ && ::ioctl(unicast_.get(), FIONREAD, &queued) == 0 && queued > 0);
}

uint64_t ProbeReceiver::kernel_drops() const {
  uint64_t drops = unicast_drops_;
  if (const auto* udp = dynamic_cast<const engine::UdpRx*>(rx_.get()))
    drops += udp->stats().kernel_drops;
  return drops;
}

void ProbeReceiver::send_joined(bool heard) {
  joined_sent_ = true;
  ProbeJoined j;
  j.heard = heard;
  j.unicast_port = unicast_port_;
  j.iface = iface_.name;
  j.iface_ipv4 = ntohl(iface_.ipv4.s_addr);
  j.iface_mtu = iface_.mtu;
  conn_.send(encode_probe(j));
  if (heard) {
    spdlog::info("probe: multicast from the sender reaches this receiver");
  } else {
    spdlog::warn(
        "probe: no multicast from the sender within {:.0f}s (IGMP snooping without a querier, "
        "wrong --iface, or a TTL too small?); the sender will report it",
        double(kBeaconWaitNs) / 1e9);
  }
}

void ProbeReceiver::report(const Pending& p) {
  ProbeReport r;
  r.step = p.step;
  if (auto it = open_.find(p.step); it != open_.end()) {
    const StepStats& st = it->second;
    r.received = st.received();
    r.duplicated = st.duplicated();
    r.reordered = st.reordered();
    r.has_delay = st.has_delay();
    r.delay_min_ns = st.delay_min_ns();
    r.delay_max_ns = st.delay_max_ns();
    r.rejected = st.out_of_range();
  }
  // Steps up to this one are over: drop what is left of them.
  std::erase_if(open_, [&](const auto& kv) { return kv.first <= p.step; });
  closed_up_to_ = std::max(closed_up_to_, p.step);
  const uint64_t drops = kernel_drops();
  r.socket_drops = drops >= drops_reported_ ? drops - drops_reported_ : 0;
  drops_reported_ = drops;
  r.rejected += rejected_;
  rejected_ = 0;
  spdlog::debug("probe: step {}: {} of {} frames, {} reordered, {} duplicated", p.step, r.received,
                p.frames_sent, r.reordered, r.duplicated);
  conn_.send(encode_probe(r));
}

void ProbeReceiver::on_timer() {
  uint64_t expirations = 0;
  (void)!::read(timer_.get(), &expirations, sizeof expirations);
  if (poll_mode_ || !pending_.empty()) on_readable_multicast();
  if (!pending_.empty()) on_readable_unicast();
  const uint64_t now = monotonic_ns();
  if (!joined_sent_ && now >= beacon_deadline_ns_) send_joined(false);
  while (!pending_.empty()) {
    const Pending& p = pending_.front();
    const bool quiet = now - std::max(last_frame_ns_, p.since_ns) >= kDrainQuietNs;
    if (!(quiet && sockets_empty()) && now - p.since_ns < kDrainMaxNs) break;
    report(p);
    pending_.erase(pending_.begin());
  }
  if (poll_mode_) {
    arm(kPollTickNs);
  } else if (!pending_.empty()) {
    arm(kDrainTickNs);
  } else if (!joined_sent_) {
    arm(beacon_deadline_ns_ - std::min(now, beacon_deadline_ns_));
  }
}

int ProbeReceiver::finish(const std::string& failure) const {
  if (finished_) {
    spdlog::info("probe finished: {}", summary_.empty() ? "the sender gave no summary" : summary_);
    return 0;
  }
  spdlog::error("probe ended early: {}", failure.empty() ? "no reason known" : failure);
  return 1;
}

}  // namespace shoal::probe
