#include "probe/probe_protocol.h"

#include "common/byte_codec.h"

#include <algorithm>
#include <cstring>

namespace shoal::probe {
namespace {

constexpr uint8_t kMagic[4] = {'S', 'H', 'P', '1'};

using Writer = ByteWriter;
using Reader = ByteReader<ProbeMessage>;

uint8_t kind_of(const ProbeMessage& m) {
  static constexpr ProbeKind kinds[] = {ProbeKind::kStart, ProbeKind::kJoined, ProbeKind::kStepEnd,
                                        ProbeKind::kReport, ProbeKind::kEnd};
  return static_cast<uint8_t>(kinds[m.index()]);
}

void put(Writer& w, const ProbeStart& m) {
  w.u64(m.probe_id);
  w.u32(m.group_ipv4);
  w.u16(m.port);
}
void put(Writer& w, const ProbeJoined& m) {
  w.u8(m.heard ? 1 : 0);
  w.u16(m.unicast_port);
  w.u32(m.iface_ipv4);
  w.u32(m.iface_mtu);
  w.str(m.iface, kMaxProbeText);
}
void put(Writer& w, const ProbeStepEnd& m) {
  w.u32(m.step);
  w.u64(m.frames_sent);
}
void put(Writer& w, const ProbeReport& m) {
  w.u32(m.step);
  w.u64(m.received);
  w.u64(m.duplicated);
  w.u64(m.reordered);
  w.u8(m.has_delay ? 1 : 0);
  w.u64(static_cast<uint64_t>(m.delay_min_ns));
  w.u64(static_cast<uint64_t>(m.delay_max_ns));
  w.u64(m.socket_drops);
  w.u64(m.rejected);
}
void put(Writer& w, const ProbeEnd& m) {
  w.str(m.summary, kMaxProbeText);
}

Result<ProbeMessage> get_start(Reader& r) {
  ProbeStart m;
  m.probe_id = r.u64("probe_id");
  m.group_ipv4 = r.u32("group");
  m.port = r.u16("port");
  if (m.port == 0) r.fail("port is 0");
  return r.finish(m);
}
Result<ProbeMessage> get_joined(Reader& r) {
  ProbeJoined m;
  m.heard = r.flag("heard");
  m.unicast_port = r.u16("unicast_port");
  m.iface_ipv4 = r.u32("iface_ipv4");
  m.iface_mtu = r.u32("iface_mtu");
  m.iface = r.str("iface", kMaxProbeText);
  if (m.unicast_port == 0) r.fail("unicast_port is 0");
  return r.finish(m);
}
Result<ProbeMessage> get_step_end(Reader& r) {
  ProbeStepEnd m;
  m.step = r.u32("step");
  m.frames_sent = r.u64("frames_sent");
  return r.finish(m);
}
Result<ProbeMessage> get_report(Reader& r) {
  ProbeReport m;
  m.step = r.u32("step");
  m.received = r.u64("received");
  m.duplicated = r.u64("duplicated");
  m.reordered = r.u64("reordered");
  m.has_delay = r.flag("has_delay");
  m.delay_min_ns = static_cast<int64_t>(r.u64("delay_min"));
  m.delay_max_ns = static_cast<int64_t>(r.u64("delay_max"));
  m.socket_drops = r.u64("socket_drops");
  m.rejected = r.u64("rejected");
  if (m.delay_min_ns > m.delay_max_ns) r.fail("delay_min is above delay_max");
  if (!m.has_delay && (m.delay_min_ns != 0 || m.delay_max_ns != 0))
    r.fail("delays given without has_delay");
  if (m.has_delay && m.received == 0) r.fail("has_delay with no frame received");
  return r.finish(m);
}
Result<ProbeMessage> get_end(Reader& r) {
  ProbeEnd m;
  m.summary = r.str("summary", kMaxProbeText);
  return r.finish(m);
}

}  // namespace

control::Probe encode_probe(const ProbeMessage& message) {
  control::Probe p;
  p.kind = kind_of(message);
  Writer w(p.body);
  std::visit([&](const auto& m) { put(w, m); }, message);
  return p;
}

Result<ProbeMessage> decode_probe(const control::Probe& probe) {
  return decode_probe(probe.kind, probe.body);
}

Result<ProbeMessage> decode_probe(uint8_t kind, std::span<const uint8_t> body) {
  Reader r(body, std::string("Probe ") + probe_kind_name(kind));
  switch (static_cast<ProbeKind>(kind)) {
    case ProbeKind::kStart:
      return get_start(r);
    case ProbeKind::kJoined:
      return get_joined(r);
    case ProbeKind::kStepEnd:
      return get_step_end(r);
    case ProbeKind::kReport:
      return get_report(r);
    case ProbeKind::kEnd:
      return get_end(r);
  }
  return make_error("Probe: unknown kind " + std::to_string(kind));
}

const char* probe_kind_name(uint8_t kind) {
  switch (static_cast<ProbeKind>(kind)) {
    case ProbeKind::kStart:
      return "Start";
    case ProbeKind::kJoined:
      return "Joined";
    case ProbeKind::kStepEnd:
      return "StepEnd";
    case ProbeKind::kReport:
      return "Report";
    case ProbeKind::kEnd:
      return "End";
  }
  return "unknown";
}

bool encode_probe_payload(const ProbePayload& payload, std::span<uint8_t> out) noexcept {
  if (out.size() < kProbePayloadMin) return false;
  std::memcpy(out.data(), kMagic, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(payload.send_ns >> (56 - 8 * i));
  out[12] = static_cast<uint8_t>(payload.kind);
  out[13] = out[14] = out[15] = 0;
  return true;
}

bool decode_probe_payload(std::span<const uint8_t> payload, ProbePayload& out) noexcept {
  if (payload.size() < kProbePayloadMin) return false;
  if (std::memcmp(payload.data(), kMagic, 4) != 0) return false;
  if (payload[12] > static_cast<uint8_t>(ProbeFrameKind::kMtu)) return false;
  if (payload[13] != 0 || payload[14] != 0 || payload[15] != 0) return false;
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | payload[4 + i];
  out.send_ns = t;
  out.kind = static_cast<ProbeFrameKind>(payload[12]);
  return true;
}

}  // namespace shoal::probe
