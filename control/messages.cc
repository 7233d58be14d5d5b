#include "control/messages.h"

#include "common/byte_codec.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace shoal::control {
namespace {

using Writer = ByteWriter;
using Reader = ByteReader<Message>;

// --- per-type body encoders ---

void put(Writer& w, const Hello& m) {
  w.bytes(m.client_nonce);
  w.u8(m.flags);
  w.str(m.receiver_name, kMaxNameLength);
  w.u8(0);  // extension count (none defined in version 1)
}
void put(Writer& w, const Challenge& m) {
  w.bytes(m.server_nonce);
  w.u8(m.flags);
  w.bytes(m.server_proof);
}
void put(Writer& w, const Auth& m) {
  w.bytes(m.client_proof);
}
void put(Writer& w, const Accept& m) {
  w.u32(m.receiver_id);
}
void put(Writer& w, const Reject& m) {
  w.str(m.reason, kMaxReasonLength);
}
void put(Writer& w, const Session& m) {
  w.u64(m.session_id);
  w.u32(m.group_ipv4);
  w.u16(m.port);
  w.u8(m.ttl);
  w.u64(m.rate_bps);
  w.u16(m.symbol_size);
  w.u8(m.k);
  w.u8(m.proactive_repair);
  w.u64(m.object_size);
  w.u32(m.block_count);
  w.str(m.object_name, kMaxNameLength);
  w.u8(m.object_format);
  w.u16(m.progress_interval_ms);
}
void put(Writer& w, const Manifest& m) {
  if (m.block_hashes.size() > kMaxManifestHashes) {
    throw std::length_error("Manifest with " + std::to_string(m.block_hashes.size()) +
                            " hashes exceeds " + std::to_string(kMaxManifestHashes) +
                            "; use split_manifest()");
  }
  w.u32(m.first_block);
  w.u32(static_cast<uint32_t>(m.block_hashes.size()));
  for (const Digest& d : m.block_hashes) w.bytes(d);
  w.bytes(m.tag);
}
void put(Writer& w, const ManifestEnd& m) {
  w.bytes(m.object_sha256);
  w.bytes(m.tag);
}
void put(Writer& w, const Horizon& m) {
  w.u32(m.next_sequence);
}
void put(Writer& w, const Fetch& m) {
  if (m.blocks.empty() || m.blocks.size() > kMaxFetchBlocks) {
    throw std::length_error("Fetch of " + std::to_string(m.blocks.size()) + " blocks (1.." +
                            std::to_string(kMaxFetchBlocks) + ")");
  }
  w.u32(static_cast<uint32_t>(m.blocks.size()));
  for (const uint32_t b : m.blocks) w.u32(b);
}
void put(Writer& w, const Relaying& m) {
  w.str(m.segment, kMaxReasonLength);
}
void put(Writer& w, const Downstream& m) {
  w.str(m.name, kMaxNameLength);
  w.str(m.address, kMaxNameLength);
  w.u8(m.ok ? 1 : 0);
  w.str(m.reason, kMaxReasonLength);
}
void put(Writer& w, const PeerOffer& m) {
  w.str(m.address, kMaxNameLength);
}
void put(Writer& w, const PeerAssign& m) {
  if (m.ranges.empty() || m.ranges.size() > kMaxPeerRanges) {
    throw std::length_error("PeerAssign of " + std::to_string(m.ranges.size()) + " ranges (1.." +
                            std::to_string(kMaxPeerRanges) + ")");
  }
  w.u64(m.session_id);
  w.u32(m.pass);
  w.str(m.address, kMaxNameLength);
  w.u32(static_cast<uint32_t>(m.ranges.size()));
  for (const PeerRange& range : m.ranges) {
    w.u32(range.block);
    w.u8(range.first_esi);
    w.u8(range.count);
  }
}
void put(Writer& w, const PeerFailed& m) {
  w.str(m.address, kMaxNameLength);
  w.str(m.reason, kMaxReasonLength);
}
void put(Writer& w, const Ready& m) {
  w.u64(m.beacon_echo);
}
void put(Writer& w, const PassEnd& m) {
  w.u32(m.pass);
  w.u64(m.frames_sent);
}
void put_runs(Writer& w, std::span<const NakRun> runs, size_t max_runs, const char* what) {
  if (runs.size() > max_runs) {
    throw std::length_error(std::string(what) + " with " + std::to_string(runs.size()) +
                            " runs exceeds " + std::to_string(max_runs) + "; use build_nak()");
  }
  w.u32(static_cast<uint32_t>(runs.size()));
  for (const NakRun& r : runs) {
    w.u32(r.first_block);
    w.u32(r.count);
    w.u8(r.missing);
  }
}
void put(Writer& w, const Nak& m) {
  w.u32(m.pass);
  put_runs(w, m.runs, kMaxNakRuns, "Nak");
  w.u64(m.frames_received);
  w.u64(m.frames_rejected);
}
void put(Writer& w, const Progress& m) {
  w.u32(m.highest_sequence);
  w.u64(m.data_frames);
  put_runs(w, m.runs, kMaxProgressRuns, "Progress");
  w.u32(m.complete_below);
}
void put(Writer& w, const Repair& m) {
  if (m.payload.size() > kMaxRepairPayload) {
    throw std::length_error("Repair payload of " + std::to_string(m.payload.size()) +
                            " bytes exceeds " + std::to_string(kMaxRepairPayload));
  }
  w.u32(m.block);
  w.u8(m.esi);
  w.u16(static_cast<uint16_t>(m.payload.size()));
  w.bytes(m.payload);
}
void put(Writer& w, const Done& m) {
  w.u8(m.ok ? 1 : 0);
  w.str(m.reason, kMaxReasonLength);
  w.u64(m.bytes_written);
  w.u64(m.frames_received);
  w.u64(m.frames_rejected);
  w.u64(m.symbols_lost);
  w.u64(m.repair_symbols_multicast);
  w.u64(m.repair_symbols_unicast);
  w.u64(m.elapsed_ns);
}
void put(Writer& w, const Bye& m) {
  w.u8(static_cast<uint8_t>(m.code));
  w.str(m.reason, kMaxReasonLength);
}
void put(Writer& w, const KeyGrant& m) {
  w.u8(static_cast<uint8_t>(m.suite));
  w.u8(static_cast<uint8_t>(m.wrap));
  w.bytes(m.iv);
  w.bytes(m.key);
  w.bytes(m.tag);
}
void put(Writer& w, const Feedback& m) {
  w.u64(m.data_frames);
  w.u32(m.highest_sequence);
  w.u64(m.frames_rejected);
}
void put(Writer& w, const Probe& m) {
  if (m.body.size() > kMaxProbeBody) {
    throw std::length_error("Probe body of " + std::to_string(m.body.size()) + " bytes exceeds " +
                            std::to_string(kMaxProbeBody));
  }
  w.u8(m.kind);
  w.u32(static_cast<uint32_t>(m.body.size()));
  w.bytes(m.body);
}

// --- per-type body decoders ---

Result<Message> get_hello(Reader& r) {
  Hello m;
  r.array(m.client_nonce, "client_nonce");
  m.flags = r.u8("flags");
  m.receiver_name = r.str("receiver_name", kMaxNameLength);
  uint8_t extensions = r.u8("extension count");
  if (!r.failed() && (m.flags & ~kFlagInsecure) != 0) r.fail("undefined flag bits set");
  if (!r.failed() && extensions != 0) {
    r.fail(std::to_string(extensions) + " extensions present; protocol version 1 defines none");
  }
  return r.finish(std::move(m));
}
Result<Message> get_challenge(Reader& r) {
  Challenge m;
  r.array(m.server_nonce, "server_nonce");
  m.flags = r.u8("flags");
  r.array(m.server_proof, "server_proof");
  if (!r.failed() && (m.flags & ~kFlagInsecure) != 0) r.fail("undefined flag bits set");
  return r.finish(std::move(m));
}
Result<Message> get_auth(Reader& r) {
  Auth m;
  r.array(m.client_proof, "client_proof");
  return r.finish(std::move(m));
}
Result<Message> get_accept(Reader& r) {
  Accept m;
  m.receiver_id = r.u32("receiver_id");
  return r.finish(std::move(m));
}
Result<Message> get_reject(Reader& r) {
  Reject m;
  m.reason = r.str("reason", kMaxReasonLength);
  return r.finish(std::move(m));
}
Result<Message> get_session(Reader& r) {
  Session m;
  m.session_id = r.u64("session_id");
  m.group_ipv4 = r.u32("group");
  m.port = r.u16("port");
  m.ttl = r.u8("ttl");
  m.rate_bps = r.u64("rate_bps");
  m.symbol_size = r.u16("symbol_size");
  m.k = r.u8("k");
  m.proactive_repair = r.u8("proactive_repair");
  m.object_size = r.u64("object_size");
  m.block_count = r.u32("block_count");
  m.object_name = r.str("object_name", kMaxNameLength);
  m.object_format = r.u8("object_format");
  m.progress_interval_ms = r.u16("progress_interval_ms");
  return r.finish(std::move(m));
}
Result<Message> get_manifest(Reader& r) {
  Manifest m;
  m.first_block = r.u32("first_block");
  uint32_t n = r.count("hash count", kDigestSize, kMaxManifestHashes);
  m.block_hashes.resize(n);
  for (Digest& d : m.block_hashes) r.array(d, "block hash");
  r.array(m.tag, "tag");
  if (!r.failed() && n != 0 && uint64_t{m.first_block} + n - 1 > UINT32_MAX) {
    r.fail("blocks run past block number 2^32-1");
  }
  return r.finish(std::move(m));
}
Result<Message> get_manifest_end(Reader& r) {
  ManifestEnd m;
  r.array(m.object_sha256, "object_sha256");
  r.array(m.tag, "tag");
  return r.finish(std::move(m));
}
Result<Message> get_horizon(Reader& r) {
  Horizon m;
  m.next_sequence = r.u32("next_sequence");
  return r.finish(std::move(m));
}
Result<Message> get_fetch(Reader& r) {
  Fetch m;
  const uint32_t n = r.count("block count", 4, kMaxFetchBlocks);
  if (!r.failed() && n == 0) r.fail("asks for no block");
  m.blocks.resize(n);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) m.blocks[i] = r.u32("block");
  return r.finish(std::move(m));
}
Result<Message> get_relaying(Reader& r) {
  Relaying m;
  m.segment = r.str("segment", kMaxReasonLength);
  return r.finish(std::move(m));
}
Result<Message> get_downstream(Reader& r) {
  Downstream m;
  m.name = r.str("name", kMaxNameLength);
  m.address = r.str("address", kMaxNameLength);
  const uint8_t ok = r.u8("ok");
  if (!r.failed() && ok > 1) r.fail("ok is " + std::to_string(ok) + ", expected 0 or 1");
  m.ok = ok == 1;
  m.reason = r.str("reason", kMaxReasonLength);
  return r.finish(std::move(m));
}
Result<Message> get_peer_offer(Reader& r) {
  PeerOffer m;
  m.address = r.str("address", kMaxNameLength);
  return r.finish(std::move(m));
}
Result<Message> get_peer_assign(Reader& r) {
  PeerAssign m;
  m.session_id = r.u64("session_id");
  m.pass = r.u32("pass");
  m.address = r.str("address", kMaxNameLength);
  const uint32_t n = r.count("range count", kPeerRangeWireSize, kMaxPeerRanges);
  if (!r.failed() && n == 0) r.fail("assigns no range");
  m.ranges.resize(n);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    PeerRange& range = m.ranges[i];
    range.block = r.u32("range block");
    range.first_esi = r.u8("range first_esi");
    range.count = r.u8("range count");
    if (!r.failed() && range.count == 0) r.fail("range " + std::to_string(i) + " has no row");
  }
  return r.finish(std::move(m));
}
Result<Message> get_peer_failed(Reader& r) {
  PeerFailed m;
  m.address = r.str("address", kMaxNameLength);
  m.reason = r.str("reason", kMaxReasonLength);
  return r.finish(std::move(m));
}
Result<Message> get_ready(Reader& r) {
  Ready m;
  m.beacon_echo = r.u64("beacon_echo");
  return r.finish(std::move(m));
}
Result<Message> get_pass_end(Reader& r) {
  PassEnd m;
  m.pass = r.u32("pass");
  m.frames_sent = r.u64("frames_sent");
  return r.finish(std::move(m));
}
// Runs of a Nak or a Progress: non-empty, ascending, not overlapping (the planner relies on it).
void get_runs(Reader& r, std::vector<NakRun>& runs, size_t max_runs) {
  uint32_t n = r.count("run count", kNakRunWireSize, max_runs);
  runs.resize(n);
  uint64_t next_free = 0;  // first block a following run may start at
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    NakRun& run = runs[i];
    run.first_block = r.u32("run first_block");
    run.count = r.u32("run count");
    run.missing = r.u8("run missing");
    if (r.failed()) break;
    // The message text is built only for a bad run: NAKs are the sender's hottest control input.
    const char* bad = run.count == 0                ? "covers no blocks"
                      : run.missing == 0            ? "says 0 symbols missing"
                      : run.first_block < next_free ? "overlaps or precedes the previous run"
                      : uint64_t{run.first_block} + run.count - 1 > UINT32_MAX
                          ? "runs past block number 2^32-1"
                          : nullptr;
    if (bad) r.fail("run " + std::to_string(i) + " " + bad);
    next_free = uint64_t{run.first_block} + run.count;
  }
}
Result<Message> get_nak(Reader& r) {
  Nak m;
  m.pass = r.u32("pass");
  get_runs(r, m.runs, kMaxNakRuns);
  m.frames_received = r.u64("frames_received");
  m.frames_rejected = r.u64("frames_rejected");
  return r.finish(std::move(m));
}
Result<Message> get_progress(Reader& r) {
  Progress m;
  m.highest_sequence = r.u32("highest_sequence");
  m.data_frames = r.u64("data_frames");
  get_runs(r, m.runs, kMaxProgressRuns);
  m.complete_below = r.u32("complete_below");
  if (!r.failed() && !m.runs.empty() && m.complete_below > m.runs.front().first_block) {
    r.fail("complete_below " + std::to_string(m.complete_below) +
           " is past the first run's block " + std::to_string(m.runs.front().first_block));
  }
  return r.finish(std::move(m));
}
Result<Message> get_repair(Reader& r) {
  Repair m;
  m.block = r.u32("block");
  m.esi = r.u8("esi");
  uint16_t n = r.u16("payload length");
  if (!r.failed() && n > kMaxRepairPayload) {
    r.fail("payload is " + std::to_string(n) + " bytes, limit " +
           std::to_string(kMaxRepairPayload));
  }
  m.payload = r.view(n, "payload");
  return r.finish(std::move(m));
}
Result<Message> get_done(Reader& r) {
  Done m;
  uint8_t ok = r.u8("ok");
  if (!r.failed() && ok > 1) r.fail("ok is " + std::to_string(ok) + ", expected 0 or 1");
  m.ok = ok == 1;
  m.reason = r.str("reason", kMaxReasonLength);
  m.bytes_written = r.u64("bytes_written");
  m.frames_received = r.u64("frames_received");
  m.frames_rejected = r.u64("frames_rejected");
  m.symbols_lost = r.u64("symbols_lost");
  m.repair_symbols_multicast = r.u64("repair_symbols_multicast");
  m.repair_symbols_unicast = r.u64("repair_symbols_unicast");
  m.elapsed_ns = r.u64("elapsed_ns");
  return r.finish(std::move(m));
}
Result<Message> get_bye(Reader& r) {
  Bye m;
  uint8_t code = r.u8("code");
  if (!r.failed() && code > static_cast<uint8_t>(ByeCode::kFailedReceiver)) {
    r.fail("unknown code " + std::to_string(code));
  }
  m.code = static_cast<ByeCode>(code);
  m.reason = r.str("reason", kMaxReasonLength);
  return r.finish(std::move(m));
}
Result<Message> get_key_grant(Reader& r) {
  KeyGrant m;
  uint8_t suite = r.u8("suite");
  uint8_t wrap = r.u8("wrap");
  r.array(m.iv, "iv");
  r.array(m.key, "key");
  r.array(m.tag, "tag");
  if (!r.failed() && suite > static_cast<uint8_t>(FrameSuite::kAeadGcm)) {
    r.fail("unknown suite " + std::to_string(suite));
  }
  if (!r.failed() && wrap > static_cast<uint8_t>(KeyWrap::kChannel)) {
    r.fail("unknown wrap " + std::to_string(wrap));
  }
  m.suite = static_cast<FrameSuite>(suite);
  m.wrap = static_cast<KeyWrap>(wrap);
  return r.finish(std::move(m));
}
Result<Message> get_feedback(Reader& r) {
  Feedback m;
  m.data_frames = r.u64("data_frames");
  m.highest_sequence = r.u32("highest_sequence");
  m.frames_rejected = r.u64("frames_rejected");
  return r.finish(std::move(m));
}
Result<Message> get_probe(Reader& r) {
  Probe m;
  m.kind = r.u8("kind");
  uint32_t n = r.count("body length", 1, kMaxProbeBody);
  auto v = r.view(n, "body");
  m.body.assign(v.begin(), v.end());
  return r.finish(std::move(m));
}

}  // namespace

bool Repair::operator==(const Repair& o) const {
  return block == o.block && esi == o.esi && std::ranges::equal(payload, o.payload);
}

void encode(const Message& message, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  Writer w(out);
  w.u32(0);  // length, patched below
  w.u8(kProtocolVersion);
  std::visit(
      [&](const auto& m) {
        w.u8(static_cast<uint8_t>(m.kType));
        put(w, m);
      },
      message);
  const size_t length = out.size() - start - kLengthPrefixSize;
  for (size_t i = 0; i < 4; ++i) {
    out[start + i] = static_cast<uint8_t>(length >> (8 * (3 - i)));
  }
}

Result<Message> decode_body(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinMessageSize) {
    return make_error("message of " + std::to_string(bytes.size()) +
                      " bytes is too short for version and type");
  }
  if (bytes.size() > kMaxMessageSize) {
    return make_error("message of " + std::to_string(bytes.size()) + " bytes exceeds the " +
                      std::to_string(kMaxMessageSize) + "-byte limit");
  }
  if (bytes[0] != kProtocolVersion) {
    return make_error("unsupported protocol version " + std::to_string(bytes[0]) +
                      " (this build speaks version " + std::to_string(kProtocolVersion) +
                      "; run the same shoal release on both sides)");
  }
  const auto type = static_cast<MessageType>(bytes[1]);
  Reader r(bytes.subspan(2), type_name(type));
  switch (type) {
    case MessageType::kHello:
      return get_hello(r);
    case MessageType::kChallenge:
      return get_challenge(r);
    case MessageType::kAuth:
      return get_auth(r);
    case MessageType::kAccept:
      return get_accept(r);
    case MessageType::kReject:
      return get_reject(r);
    case MessageType::kSession:
      return get_session(r);
    case MessageType::kManifest:
      return get_manifest(r);
    case MessageType::kReady:
      return get_ready(r);
    case MessageType::kPassEnd:
      return get_pass_end(r);
    case MessageType::kNak:
      return get_nak(r);
    case MessageType::kRepair:
      return get_repair(r);
    case MessageType::kDone:
      return get_done(r);
    case MessageType::kBye:
      return get_bye(r);
    case MessageType::kKeyGrant:
      return get_key_grant(r);
    case MessageType::kProbe:
      return get_probe(r);
    case MessageType::kFeedback:
      return get_feedback(r);
    case MessageType::kProgress:
      return get_progress(r);
    case MessageType::kManifestEnd:
      return get_manifest_end(r);
    case MessageType::kHorizon:
      return get_horizon(r);
    case MessageType::kFetch:
      return get_fetch(r);
    case MessageType::kRelaying:
      return get_relaying(r);
    case MessageType::kDownstream:
      return get_downstream(r);
    case MessageType::kPeerOffer:
      return get_peer_offer(r);
    case MessageType::kPeerAssign:
      return get_peer_assign(r);
    case MessageType::kPeerFailed:
      return get_peer_failed(r);
  }
  return make_error("unknown message type " + std::to_string(bytes[1]));
}

std::vector<Manifest> split_manifest(std::span<const Digest> block_hashes, uint32_t first_block,
                                     size_t max_per_message) {
  max_per_message = std::clamp<size_t>(max_per_message, 1, kMaxManifestHashes);
  std::vector<Manifest> out;
  for (size_t i = 0; i < block_hashes.size(); i += max_per_message) {
    const size_t n = std::min(max_per_message, block_hashes.size() - i);
    Manifest m;
    m.first_block = static_cast<uint32_t>(first_block + i);
    m.block_hashes.assign(block_hashes.begin() + static_cast<ptrdiff_t>(i),
                          block_hashes.begin() + static_cast<ptrdiff_t>(i + n));
    out.push_back(std::move(m));
  }
  return out;
}

NakBuild build_nak(uint32_t pass, std::span<const uint32_t> missing, uint64_t frames_received,
                   uint64_t frames_rejected, size_t max_runs) {
  return build_nak_from(
      pass, missing.size(), [&](uint32_t b) { return missing[b]; }, frames_received,
      frames_rejected, max_runs);
}

}  // namespace shoal::control
