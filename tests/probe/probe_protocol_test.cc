#include "probe/probe_protocol.h"

#include <gtest/gtest.h>

#include <vector>

namespace shoal::probe {
namespace {

std::vector<ProbeMessage> samples() {
  ProbeReport rep;
  rep.step = 7;
  rep.received = 1000;
  rep.duplicated = 2;
  rep.reordered = 3;
  rep.has_delay = true;
  rep.delay_min_ns = -5'000'000'000'000;  // unaligned clocks: delays may be negative
  rep.delay_max_ns = -4'999'999'000'000;
  rep.socket_drops = 4;
  rep.rejected = 5;
  return {ProbeStart{0x0102030405060708, 0xEF010203, 9000},
          ProbeJoined{true, 40000, 0xC6120065, 1500, "v0"},
          ProbeJoined{false, 1, 0, 0, ""},
          ProbeStepEnd{42, 123456789},
          rep,
          ProbeReport{},
          ProbeEnd{"highest rate: 200 Mbit/s"}};
}

TEST(ProbeProtocol, EveryMessageRoundTrips) {
  for (const ProbeMessage& m : samples()) {
    control::Probe p = encode_probe(m);
    auto back = decode_probe(p);
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(*back, m);
    EXPECT_EQ(encode_probe(*back), p);  // canonical: the same bytes again
  }
}

TEST(ProbeProtocol, StepEndLayoutIsBigEndianStepThenCount) {
  // Written from the layout in probe_protocol.h, not from the encoder's output.
  const std::vector<uint8_t> body = {0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4};
  auto m = decode_probe(static_cast<uint8_t>(ProbeKind::kStepEnd), body);
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(std::get<ProbeStepEnd>(*m), (ProbeStepEnd{0x0102, 0x0304}));
  EXPECT_EQ(encode_probe(*m).body, body);
}

TEST(ProbeProtocol, EveryTruncationIsRejected) {
  for (const ProbeMessage& m : samples()) {
    control::Probe p = encode_probe(m);
    for (size_t n = 0; n < p.body.size(); ++n) {
      std::vector<uint8_t> cut(p.body.begin(), p.body.begin() + static_cast<std::ptrdiff_t>(n));
      auto r = decode_probe(p.kind, cut);
      EXPECT_FALSE(r.ok()) << probe_kind_name(p.kind) << " cut to " << n;
      if (!r.ok()) {
        EXPECT_NE(r.error().find("Probe"), std::string::npos);
      }
    }
  }
}

TEST(ProbeProtocol, TrailingBytesAreRejected) {
  for (const ProbeMessage& m : samples()) {
    control::Probe p = encode_probe(m);
    p.body.push_back(0);
    auto r = decode_probe(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("trailing"), std::string::npos) << r.error();
  }
}

TEST(ProbeProtocol, InvalidFieldsAreRejected) {
  EXPECT_FALSE(decode_probe(0, {}).ok());
  EXPECT_FALSE(decode_probe(6, std::vector<uint8_t>(12)).ok());

  control::Probe joined = encode_probe(ProbeJoined{true, 40000, 0, 0, "eth0"});
  joined.body[0] = 2;  // heard is a bool
  EXPECT_FALSE(decode_probe(joined).ok());
  joined = encode_probe(ProbeJoined{true, 40000, 0, 0, "eth0"});
  joined.body[1] = joined.body[2] = 0;  // unicast port 0
  EXPECT_FALSE(decode_probe(joined).ok());

  control::Probe start = encode_probe(ProbeStart{1, 0xEF000001, 9000});
  start.body[12] = start.body[13] = 0;  // port 0
  EXPECT_FALSE(decode_probe(start).ok());

  ProbeReport bad;
  bad.received = 1;
  bad.has_delay = true;
  bad.delay_min_ns = 10;
  bad.delay_max_ns = 5;  // min above max
  EXPECT_FALSE(decode_probe(encode_probe(bad)).ok());
  bad.delay_min_ns = 1;
  bad.delay_max_ns = 2;
  bad.has_delay = false;  // delays without has_delay
  EXPECT_FALSE(decode_probe(encode_probe(bad)).ok());
  bad.has_delay = true;
  bad.received = 0;  // a delay needs a frame
  EXPECT_FALSE(decode_probe(encode_probe(bad)).ok());
}

TEST(ProbeProtocol, OverlongStringsAreRejectedAndCutOnEncode) {
  // Hand-built End with a length field of kMaxProbeText + 1 and that many bytes.
  std::vector<uint8_t> body = {static_cast<uint8_t>((kMaxProbeText + 1) >> 8),
                               static_cast<uint8_t>((kMaxProbeText + 1) & 0xFF)};
  body.resize(2 + kMaxProbeText + 1, 'x');
  EXPECT_FALSE(decode_probe(static_cast<uint8_t>(ProbeKind::kEnd), body).ok());

  auto cut = decode_probe(encode_probe(ProbeEnd{std::string(kMaxProbeText + 50, 'y')}));
  ASSERT_TRUE(cut.ok()) << cut.error();
  EXPECT_EQ(std::get<ProbeEnd>(*cut).summary.size(), kMaxProbeText);
}

TEST(ProbePayload, RoundTripAndLayout) {
  std::vector<uint8_t> buf(64, 0xAA);
  ASSERT_TRUE(encode_probe_payload({0x1122334455667788, ProbeFrameKind::kUnicast}, buf));
  const std::vector<uint8_t> want = {'S',  'H',  'P',  '1',  0x11, 0x22, 0x33, 0x44,
                                     0x55, 0x66, 0x77, 0x88, 2,    0,    0,    0};
  EXPECT_TRUE(std::equal(want.begin(), want.end(), buf.begin()));
  EXPECT_EQ(buf[16], 0xAA);  // padding is the caller's
  ProbePayload out;
  ASSERT_TRUE(decode_probe_payload(buf, out));
  EXPECT_EQ(out, (ProbePayload{0x1122334455667788, ProbeFrameKind::kUnicast}));
}

TEST(ProbePayload, MalformedPayloadsAreRejected) {
  std::vector<uint8_t> good(kProbePayloadMin);
  ASSERT_TRUE(encode_probe_payload({5, ProbeFrameKind::kMulticast}, good));
  ProbePayload out;
  EXPECT_FALSE(encode_probe_payload({}, std::span<uint8_t>(good.data(), kProbePayloadMin - 1)));
  EXPECT_FALSE(decode_probe_payload({good.data(), kProbePayloadMin - 1}, out));
  auto bad = good;
  bad[0] = 'X';
  EXPECT_FALSE(decode_probe_payload(bad, out));
  bad = good;
  bad[12] = 4;  // unknown kind
  EXPECT_FALSE(decode_probe_payload(bad, out));
  bad = good;
  bad[14] = 1;  // reserved byte
  EXPECT_FALSE(decode_probe_payload(bad, out));
  EXPECT_TRUE(decode_probe_payload(good, out));
}

}  // namespace
}  // namespace shoal::probe
