// One or more filled-in examples of every control message, for round-trip and truncation tests.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "control/messages.h"

namespace shoal::control::testing {

inline std::array<uint8_t, 32> pattern32(uint8_t seed) {
  std::array<uint8_t, 32> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(seed + 7 * i);
  return a;
}

// Backing storage for Repair payloads (a Repair only views its bytes).
inline const std::vector<uint8_t>& repair_payload() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> b(1400);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 31 + 5);
    return b;
  }();
  return bytes;
}

inline std::vector<Message> sample_messages() {
  std::vector<Message> out;
  out.push_back(Hello{pattern32(1), 0, "rack3-node17"});
  out.push_back(Hello{pattern32(2), kFlagInsecure, ""});
  out.push_back(Challenge{pattern32(3), 0, pattern32(4)});
  out.push_back(Challenge{pattern32(5), kFlagInsecure, {}});
  out.push_back(Auth{pattern32(6)});
  out.push_back(Accept{0xdeadbeef});
  out.push_back(Reject{"this sender requires a key"});
  out.push_back(Reject{""});
  Session s;
  s.session_id = 0x0123456789abcdefULL;
  s.group_ipv4 = 0xef010203;
  s.port = 9200;
  s.ttl = 4;
  s.rate_bps = 9'400'000'000ULL;
  s.symbol_size = 1400;
  s.k = 64;
  s.proactive_repair = 3;
  s.object_size = 21'474'836'480ULL;
  s.block_count = 239'675;
  s.object_name = "ubuntu-24.04.img";
  s.progress_interval_ms = 250;
  s.object_format = kObjectFormatTree | kObjectFormatZstd;
  out.push_back(s);
  {
    Manifest m{7, {pattern32(10), pattern32(11), pattern32(12)}, {}};
    for (size_t i = 0; i < m.tag.size(); ++i) m.tag[i] = static_cast<uint8_t>(0xa0 + i);
    out.push_back(m);
  }
  out.push_back(Manifest{0, {}, {}});
  {
    ManifestEnd e;
    e.object_sha256 = pattern32(9);
    for (size_t i = 0; i < e.tag.size(); ++i) e.tag[i] = static_cast<uint8_t>(0x50 + i);
    out.push_back(e);
  }
  out.push_back(Ready{});
  out.push_back(Ready{0x1122334455667788ULL});
  out.push_back(PassEnd{2, 123456789});
  out.push_back(Horizon{0xfffffff0u});
  out.push_back(Fetch{{7}});
  out.push_back(Fetch{{0, 9, 4'000'000'000u}});
  out.push_back(Relaying{"239.1.1.2:9000 via eth1"});
  out.push_back(Relaying{""});
  out.push_back(Downstream{"rack12-n07", "10.12.0.7:40112", true, ""});
  out.push_back(Downstream{"rack12-n08", "10.12.0.8:40113", false, "disk full"});
  out.push_back(PeerOffer{"10.12.0.7:41000"});
  out.push_back(PeerAssign{0x0102030405060708ULL, 3, "10.12.0.7:41000", {{0, 0, 64}, {9, 70, 2}}});
  out.push_back(PeerFailed{"10.12.0.7:41000", "connection refused"});
  out.push_back(Nak{3, {{0, 2, 1}, {5, 1, 255}, {9, 100, 7}}, 1000, 3});
  out.push_back(Nak{1, {}, 0, 0});
  out.push_back(Repair{42, 200, repair_payload()});
  out.push_back(Repair{0, 0, {}});
  Done d;
  d.ok = true;
  d.reason = "verified";
  d.bytes_written = 1 << 30;
  d.frames_received = 800000;
  d.frames_rejected = 12;
  d.symbols_lost = 4000;
  d.repair_symbols_multicast = 3500;
  d.repair_symbols_unicast = 500;
  d.elapsed_ns = 9'000'000'000ULL;
  out.push_back(d);
  Done failed;
  failed.reason = "disk full writing /data/img";
  out.push_back(failed);
  out.push_back(Bye{ByeCode::kFinished, ""});
  out.push_back(Bye{ByeCode::kFailedReceiver, "too slow: 40% of blocks missing after 5 passes"});
  KeyGrant g;
  g.suite = FrameSuite::kAeadGcm;
  g.wrap = KeyWrap::kChannel;
  for (size_t i = 0; i < g.iv.size(); ++i) g.iv[i] = static_cast<uint8_t>(i + 1);
  g.key = pattern32(13);
  for (size_t i = 0; i < g.tag.size(); ++i) g.tag[i] = static_cast<uint8_t>(0xa0 + i);
  out.push_back(g);
  out.push_back(KeyGrant{FrameSuite::kNone, KeyWrap::kClear, {}, {}, {}});
  out.push_back(Probe{1, {1, 2, 3, 4, 5}});
  out.push_back(Probe{7, {}});
  out.push_back(Feedback{123456, 130000, 7});
  out.push_back(Progress{4000, 3990, {{12, 1, 2}, {40, 3, 255}}});
  out.push_back(Progress{});
  return out;
}

}  // namespace shoal::control::testing
