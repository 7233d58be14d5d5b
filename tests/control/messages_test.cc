#include "control/messages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <stdexcept>

#include "tests/control/samples.h"

namespace shoal::control {
namespace {

using testing::pattern32;
using testing::sample_messages;

std::vector<uint8_t> framed(const Message& m) {
  std::vector<uint8_t> out;
  encode(m, out);
  return out;
}

// The body (version + type + fields) of one encoded message.
std::vector<uint8_t> body_of(const Message& m) {
  std::vector<uint8_t> f = framed(m);
  return {f.begin() + 4, f.end()};
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

TEST(Messages, SamplesCoverEveryType) {
  std::set<int> types;
  for (const Message& m : sample_messages()) {
    types.insert(std::visit([](const auto& x) { return static_cast<int>(x.kType); }, m));
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

TEST(Messages, RoundTripEveryType) {
  for (const Message& m : sample_messages()) {
    SCOPED_TRACE(type_name(m));
    std::vector<uint8_t> f = framed(m);
    ASSERT_GE(f.size(), 6u);
    EXPECT_EQ(be32(f.data()), f.size() - 4) << "length prefix counts the bytes that follow";
    EXPECT_EQ(f[4], kProtocolVersion);
    Result<Message> d = decode_body(std::span(f).subspan(4));
    ASSERT_TRUE(d.ok()) << d.error();
    EXPECT_EQ(d->index(), m.index());
    EXPECT_TRUE(*d == m);
    EXPECT_EQ(framed(*d), f) << "re-encoding the decoded message gives the same bytes";
  }
}

TEST(Messages, EncodeAppendsToExistingBytes) {
  std::vector<uint8_t> out = {0xaa, 0xbb};
  encode(Ready{}, out);
  encode(Accept{5}, out);
  ASSERT_EQ(out.size(), 2u + 14u + 10u);
  EXPECT_EQ(out[0], 0xaa);
  EXPECT_EQ(be32(&out[2]), 10u);
  EXPECT_EQ(be32(&out[16]), 6u);
}

// Byte layouts written out by hand from the protocol description.
TEST(Messages, WireLayoutIsBigEndianInFieldOrder) {
  EXPECT_EQ(framed(Accept{0x01020304}),
            (std::vector<uint8_t>{0, 0, 0, 6, 1, 4, 0x01, 0x02, 0x03, 0x04}));
  EXPECT_EQ(framed(PassEnd{0x0a0b0c0d, 0x1122334455667788ULL}),
            (std::vector<uint8_t>{0, 0, 0, 14, 1, 9, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44,
                                  0x55, 0x66, 0x77, 0x88}));
  EXPECT_EQ(framed(Reject{"no"}), (std::vector<uint8_t>{0, 0, 0, 6, 1, 5, 0, 2, 'n', 'o'}));
  EXPECT_EQ(framed(Bye{ByeCode::kAborted, ""}), (std::vector<uint8_t>{0, 0, 0, 5, 1, 13, 1, 0, 0}));
  EXPECT_EQ(framed(Progress{7, 8, {{2, 3, 4}}, 1}),
            (std::vector<uint8_t>{0, 0, 0, 31, 1, 17, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 8,
                                  0, 0, 0, 1,  0, 0,  0, 2, 0, 0, 0, 3, 4, 0, 0, 0, 1}));
  EXPECT_EQ(framed(Horizon{0x01020304}),
            (std::vector<uint8_t>{0, 0, 0, 6, 1, 19, 0x01, 0x02, 0x03, 0x04}));
  EXPECT_EQ(
      framed(Fetch{{5, 0x0a0b0c0d}}),
      (std::vector<uint8_t>{0, 0, 0, 14, 1, 20, 0, 0, 0, 2, 0, 0, 0, 5, 0x0a, 0x0b, 0x0c, 0x0d}));
  EXPECT_EQ(framed(Relaying{"ab"}), (std::vector<uint8_t>{0, 0, 0, 6, 1, 21, 0, 2, 'a', 'b'}));
  EXPECT_EQ(framed(Downstream{"n", "a", true, "r"}),
            (std::vector<uint8_t>{0, 0, 0, 12, 1, 22, 0, 1, 'n', 0, 1, 'a', 1, 0, 1, 'r'}));
  EXPECT_EQ(framed(PeerOffer{"ab"}), (std::vector<uint8_t>{0, 0, 0, 6, 1, 23, 0, 2, 'a', 'b'}));
  EXPECT_EQ(framed(PeerAssign{9, 2, "a", {{5, 1, 3}}}),
            (std::vector<uint8_t>{0, 0, 0, 27, 1,   24, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0,
                                  0, 2, 0, 1,  'a', 0,  0, 0, 1, 0, 0, 0, 5, 1, 3}));
  EXPECT_EQ(framed(PeerFailed{"a", "r"}),
            (std::vector<uint8_t>{0, 0, 0, 8, 1, 25, 0, 1, 'a', 0, 1, 'r'}));
  EXPECT_EQ(framed(Nak{1, {{2, 3, 4}}, 5, 6}),
            (std::vector<uint8_t>{0, 0, 0, 35, 1, 10, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
                                  0, 3, 4, 0,  0, 0,  0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6}));
  std::vector<uint8_t> hello = framed(Hello{pattern32(0), kFlagInsecure, "ab"});
  ASSERT_EQ(hello.size(), 4u + 2 + 32 + 1 + 2 + 2 + 1);
  EXPECT_EQ(hello[5], 1);                   // type Hello
  EXPECT_EQ(hello[6 + 32], kFlagInsecure);  // flags after the nonce
  EXPECT_EQ(hello[6 + 33], 0);              // name length, high byte
  EXPECT_EQ(hello[6 + 34], 2);
  EXPECT_EQ(hello.back(), 0);  // extension count
}

TEST(Messages, EveryTruncationIsRejected) {
  for (const Message& m : sample_messages()) {
    SCOPED_TRACE(type_name(m));
    std::vector<uint8_t> b = body_of(m);
    for (size_t n = 0; n < b.size(); ++n) {
      Result<Message> d = decode_body(std::span(b).first(n));
      EXPECT_FALSE(d.ok()) << "decoded a " << n << "-byte prefix of " << b.size();
    }
  }
}

TEST(Messages, TrailingBytesAreRejected) {
  for (const Message& m : sample_messages()) {
    std::vector<uint8_t> b = body_of(m);
    b.push_back(0);
    Result<Message> d = decode_body(b);
    ASSERT_FALSE(d.ok()) << type_name(m);
    EXPECT_NE(d.error().find("trailing"), std::string::npos) << d.error();
    EXPECT_NE(d.error().find(type_name(m)), std::string::npos) << d.error();
  }
}

TEST(Messages, WrongVersionAndUnknownTypeAreRejected) {
  std::vector<uint8_t> b = body_of(Ready{});
  b[0] = 2;
  Result<Message> d = decode_body(b);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("version 2"), std::string::npos) << d.error();
  for (int t : {0, 26, 99, 255}) {
    const auto type = static_cast<uint8_t>(t);
    std::vector<uint8_t> u = {kProtocolVersion, type};
    Result<Message> r = decode_body(u);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("unknown message type " + std::to_string(type)), std::string::npos)
        << r.error();
  }
}

TEST(Messages, OverLongStringsAreRejected) {
  // Reject with a reason length of kMaxReasonLength + 1, bytes present.
  std::vector<uint8_t> b = {kProtocolVersion, static_cast<uint8_t>(MessageType::kReject)};
  const uint16_t n = kMaxReasonLength + 1;
  b.push_back(static_cast<uint8_t>(n >> 8));
  b.push_back(static_cast<uint8_t>(n));
  b.resize(b.size() + n, 'x');
  Result<Message> d = decode_body(b);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("limit 1024"), std::string::npos) << d.error();

  // A Hello whose name is one byte over the cap.
  std::vector<uint8_t> h = {kProtocolVersion, static_cast<uint8_t>(MessageType::kHello)};
  h.resize(h.size() + 32 + 1);
  h.push_back(static_cast<uint8_t>((kMaxNameLength + 1) >> 8));
  h.push_back(static_cast<uint8_t>(kMaxNameLength + 1));
  h.resize(h.size() + kMaxNameLength + 1, 'n');
  h.push_back(0);
  Result<Message> hd = decode_body(h);
  ASSERT_FALSE(hd.ok());
  EXPECT_NE(hd.error().find("receiver_name"), std::string::npos) << hd.error();
}

TEST(Messages, EncoderCutsOverLongTextAtTheCap) {
  const std::string reason(3000, 'r');
  std::vector<uint8_t> f = framed(Reject{reason});
  Result<Message> d = decode_body(std::span(f).subspan(4));
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(std::get<Reject>(*d).reason, reason.substr(0, kMaxReasonLength));

  const std::string name(1000, 'n');
  std::vector<uint8_t> h = framed(Hello{{}, 0, name});
  Result<Message> hd = decode_body(std::span(h).subspan(4));
  ASSERT_TRUE(hd.ok()) << hd.error();
  EXPECT_EQ(std::get<Hello>(*hd).receiver_name, name.substr(0, kMaxNameLength));
}

TEST(Messages, EncoderRefusesOversizedArrays) {
  Manifest big;
  big.block_hashes.resize(kMaxManifestHashes + 1);
  std::vector<uint8_t> out;
  EXPECT_THROW(encode(big, out), std::length_error);
  big.block_hashes.resize(kMaxManifestHashes);
  out.clear();
  encode(big, out);
  EXPECT_LE(out.size(), kMaxMessageSize + 4);

  std::vector<uint8_t> payload(kMaxRepairPayload + 1);
  EXPECT_THROW(encode(Repair{1, 2, payload}, out), std::length_error);
  Nak nak;
  nak.runs.resize(kMaxNakRuns + 1, NakRun{0, 1, 1});
  EXPECT_THROW(encode(nak, out), std::length_error);
  Progress progress;
  progress.runs.resize(kMaxProgressRuns + 1, NakRun{0, 1, 1});
  EXPECT_THROW(encode(progress, out), std::length_error);
  Fetch fetch;
  EXPECT_THROW(encode(fetch, out), std::length_error);  // asks for nothing
  fetch.blocks.resize(kMaxFetchBlocks + 1);
  EXPECT_THROW(encode(fetch, out), std::length_error);
  PeerAssign assign;
  EXPECT_THROW(encode(assign, out), std::length_error);  // assigns nothing
  assign.ranges.resize(kMaxPeerRanges + 1, PeerRange{0, 0, 1});
  EXPECT_THROW(encode(assign, out), std::length_error);
  assign.ranges.resize(kMaxPeerRanges);
  out.clear();
  encode(assign, out);
  EXPECT_LE(out.size(), kMaxMessageSize + 4);
  progress.runs.resize(kMaxProgressRuns);
  out.clear();
  encode(progress, out);
  EXPECT_LE(out.size(), kMaxMessageSize + 4);
}

TEST(Messages, ReservedFieldsAndEnumerationsAreChecked) {
  std::vector<uint8_t> hello = body_of(Hello{pattern32(1), 0, "x"});
  hello.back() = 1;  // one extension announced
  EXPECT_FALSE(decode_body(hello).ok());
  std::vector<uint8_t> flags = body_of(Hello{pattern32(1), 0, "x"});
  flags[2 + 32] = 0x02;
  EXPECT_FALSE(decode_body(flags).ok());
  std::vector<uint8_t> challenge = body_of(Challenge{pattern32(1), 0, pattern32(2)});
  challenge[2 + 32] = 0x80;
  EXPECT_FALSE(decode_body(challenge).ok());

  std::vector<uint8_t> done = body_of(Done{});
  done[2] = 2;  // ok must be 0 or 1
  EXPECT_FALSE(decode_body(done).ok());
  std::vector<uint8_t> bye = body_of(Bye{ByeCode::kAborted, ""});
  bye[2] = 3;
  Result<Message> b = decode_body(bye);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().find("unknown code 3"), std::string::npos) << b.error();

  // A Fetch asks for 1..kMaxFetchBlocks blocks.
  std::vector<uint8_t> fetch = {1, 20, 0, 0, 0, 0};
  Result<Message> none = decode_body(fetch);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("asks for no block"), std::string::npos) << none.error();
  fetch[5] = kMaxFetchBlocks + 1;
  fetch.resize(fetch.size() + 4 * (kMaxFetchBlocks + 1));
  Result<Message> many = decode_body(fetch);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().find("block count"), std::string::npos) << many.error();

  // A PeerAssign assigns 1..kMaxPeerRanges ranges, each of at least one row.
  std::vector<uint8_t> empty = body_of(PeerAssign{1, 2, "a", {{0, 0, 1}}});
  empty.resize(empty.size() - kPeerRangeWireSize);
  empty[empty.size() - 1] = 0;  // count 0
  Result<Message> no_range = decode_body(empty);
  ASSERT_FALSE(no_range.ok());
  EXPECT_NE(no_range.error().find("assigns no range"), std::string::npos) << no_range.error();
  std::vector<uint8_t> zero = body_of(PeerAssign{1, 2, "a", {{0, 0, 1}}});
  zero.back() = 0;
  Result<Message> no_row = decode_body(zero);
  ASSERT_FALSE(no_row.ok());
  EXPECT_NE(no_row.error().find("has no row"), std::string::npos) << no_row.error();
}

TEST(Messages, ArrayCountsBeyondTheBytesPresentAreRejected) {
  std::vector<uint8_t> m = body_of(Manifest{0, {}});
  // count field is bytes 6..9 of the body; claim 1000 hashes but provide none.
  m[8] = 0x03;
  m[9] = 0xe8;
  Result<Message> d = decode_body(m);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("hash count"), std::string::npos) << d.error();
  m[6] = m[7] = m[8] = m[9] = 0xff;
  EXPECT_FALSE(decode_body(m).ok());

  std::vector<uint8_t> nak = body_of(Nak{});
  nak[6] = nak[7] = nak[8] = nak[9] = 0xff;
  EXPECT_FALSE(decode_body(nak).ok());
}

TEST(Messages, InvalidNakRunsAreRejected) {
  const std::vector<std::vector<NakRun>> bad = {
      {{0, 0, 1}},             // empty run
      {{0, 1, 0}},             // nothing missing
      {{5, 2, 1}, {6, 1, 1}},  // overlap
      {{5, 1, 1}, {2, 1, 1}},  // descending
      {{0xffffffff, 2, 1}},    // past the last block number
  };
  for (const auto& runs : bad) {
    Result<Message> d = decode_body(body_of(Nak{1, runs, 0, 0}));
    EXPECT_FALSE(d.ok()) << "runs starting at " << runs[0].first_block;
    Result<Message> p = decode_body(body_of(Progress{1, 1, runs}));
    EXPECT_FALSE(p.ok()) << "Progress runs starting at " << runs[0].first_block;
  }
  // complete_below says every block below it is complete: a run below it contradicts it.
  EXPECT_FALSE(decode_body(body_of(Progress{1, 1, {{5, 1, 1}}, 6})).ok());
  EXPECT_TRUE(decode_body(body_of(Progress{1, 1, {{5, 1, 1}}, 5})).ok());
  EXPECT_TRUE(decode_body(body_of(Progress{1, 1, {}, 9})).ok());
  // Adjacent runs (different counts) and the very last block are fine.
  Nak ok{1, {{5, 2, 1}, {7, 1, 2}, {0xffffffff, 1, 255}}, 0, 0};
  Result<Message> d = decode_body(body_of(ok));
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_TRUE(*d == Message(ok));
}

TEST(Messages, RepairPayloadIsAViewIntoTheBuffer) {
  std::vector<uint8_t> b = body_of(Repair{9, 3, testing::repair_payload()});
  Result<Message> d = decode_body(b);
  ASSERT_TRUE(d.ok()) << d.error();
  const Repair& r = std::get<Repair>(*d);
  EXPECT_GE(r.payload.data(), b.data());
  EXPECT_EQ(r.payload.data() + r.payload.size(), b.data() + b.size());

  // A declared payload length over the cap is rejected even when the bytes are there.
  std::vector<uint8_t> big = {
      kProtocolVersion, static_cast<uint8_t>(MessageType::kRepair), 0, 0, 0, 1, 0};
  const uint16_t n = kMaxRepairPayload + 1;
  big.push_back(static_cast<uint8_t>(n >> 8));
  big.push_back(static_cast<uint8_t>(n));
  big.resize(big.size() + n);
  EXPECT_FALSE(decode_body(big).ok());
}

TEST(Messages, OversizedBodyIsRejected) {
  std::vector<uint8_t> b(kMaxMessageSize + 1);
  b[0] = kProtocolVersion;
  b[1] = static_cast<uint8_t>(MessageType::kReady);
  EXPECT_FALSE(decode_body(b).ok());
}

// Any input either fails or decodes to a message whose encoding is exactly that input.
void expect_consistent(std::span<const uint8_t> body) {
  Result<Message> d = decode_body(body);
  if (!d.ok()) {
    EXPECT_FALSE(d.error().empty());
    return;
  }
  std::vector<uint8_t> again;
  encode(*d, again);
  ASSERT_EQ(again.size(), body.size() + 4);
  EXPECT_TRUE(std::equal(body.begin(), body.end(), again.begin() + 4));
}

TEST(Messages, RandomGarbageIsRejectedOrDecodedConsistently) {
  std::mt19937 rng(12345);
  size_t decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b(rng() % 120);
    for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
    // Mostly valid headers so the body decoders get exercised, not just the version check.
    if (b.size() >= 2 && i % 4 != 0) {
      b[0] = kProtocolVersion;
      b[1] = static_cast<uint8_t>(1 + rng() % 17);
    }
    expect_consistent(b);
    decoded += decode_body(b).ok();
  }
  EXPECT_GT(decoded, 0u) << "garbage should sometimes form a valid message (e.g. Auth, Ready)";
}

TEST(Messages, MutatedMessagesAreRejectedOrDecodedConsistently) {
  std::mt19937 rng(777);
  for (const Message& m : sample_messages()) {
    const std::vector<uint8_t> b = body_of(m);
    for (int i = 0; i < 300; ++i) {
      std::vector<uint8_t> x = b;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) x[rng() % x.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      expect_consistent(x);
    }
  }
}

TEST(Messages, TypeNames) {
  EXPECT_STREQ(type_name(Message(Hello{})), "Hello");
  EXPECT_STREQ(type_name(Message(Nak{})), "Nak");
  EXPECT_STREQ(type_name(Message(Progress{})), "Progress");
  EXPECT_STREQ(type_name(Message(Bye{})), "Bye");
  EXPECT_STREQ(type_name(static_cast<MessageType>(77)), "unknown");
}

// --- helpers ---

TEST(SplitManifest, CoversAllHashesInOrderWithinTheCap) {
  std::vector<Digest> hashes(70000);
  for (size_t i = 0; i < hashes.size(); ++i) hashes[i] = pattern32(static_cast<uint8_t>(i));
  std::vector<Manifest> parts = split_manifest(hashes, 100);
  ASSERT_EQ(parts.size(), 3u);  // 70000 / 32767 rounded up
  std::vector<Digest> joined;
  uint32_t expect_first = 100;
  for (const Manifest& p : parts) {
    EXPECT_EQ(p.first_block, expect_first);
    expect_first += static_cast<uint32_t>(p.block_hashes.size());
    joined.insert(joined.end(), p.block_hashes.begin(), p.block_hashes.end());
    std::vector<uint8_t> f;
    encode(p, f);
    EXPECT_LE(f.size() - 4, kMaxMessageSize);
  }
  EXPECT_EQ(joined, hashes);

  EXPECT_EQ(split_manifest(std::span(hashes).first(25), 0, 10).size(), 3u);
  EXPECT_TRUE(split_manifest({}, 0).empty());
}

TEST(BuildNak, CollapsesEqualNeighboursAndCapsAt255) {
  const std::vector<uint32_t> missing = {0, 2, 2, 0, 300, 255, 1, 1, 1, 0};
  NakBuild b = build_nak(4, missing, 11, 22);
  EXPECT_FALSE(b.truncated);
  EXPECT_EQ(b.nak.pass, 4u);
  EXPECT_EQ(b.nak.frames_received, 11u);
  EXPECT_EQ(b.nak.frames_rejected, 22u);
  const std::vector<NakRun> expect = {{1, 2, 2}, {4, 2, 255}, {6, 3, 1}};
  EXPECT_EQ(b.nak.runs, expect);

  EXPECT_TRUE(build_nak(1, std::vector<uint32_t>(50, 0), 0, 0).nak.runs.empty());
  EXPECT_TRUE(build_nak(1, {}, 0, 0).nak.runs.empty());
}

TEST(BuildNak, RunsExpandBackToTheInput) {
  std::mt19937 rng(99);
  std::vector<uint32_t> missing(5000);
  for (uint32_t& m : missing) {
    m = static_cast<uint32_t>((rng() % 3 == 0) ? 0 : rng() % 4 == 0 ? 400 : rng() % 3);
  }
  NakBuild b = build_nak(1, missing, 0, 0);
  ASSERT_FALSE(b.truncated);
  std::vector<uint32_t> back(missing.size(), 0);
  for (const NakRun& r : b.nak.runs) {
    for (uint32_t i = 0; i < r.count; ++i) back[r.first_block + i] = r.missing;
  }
  for (size_t i = 0; i < missing.size(); ++i) {
    ASSERT_EQ(back[i], std::min<uint32_t>(missing[i], 255)) << "block " << i;
  }
  // And the decoder accepts what the builder makes.
  std::vector<uint8_t> f;
  encode(b.nak, f);
  EXPECT_TRUE(decode_body(std::span(f).subspan(4)).ok());
}

TEST(BuildNak, TruncatesAtTheRunLimitAndSaysWhere) {
  std::vector<uint32_t> missing = {1, 2, 1, 2, 1, 0, 0};
  NakBuild b = build_nak(1, missing, 0, 0, 2);
  EXPECT_TRUE(b.truncated);
  ASSERT_EQ(b.nak.runs.size(), 2u);
  EXPECT_EQ(b.next_block, 2u);

  // The largest possible NAK still fits one message.
  std::vector<uint32_t> alternating(kMaxNakRuns + 10);
  for (size_t i = 0; i < alternating.size(); ++i) alternating[i] = 1 + (i % 2);
  NakBuild full = build_nak(1, alternating, 0, 0);
  EXPECT_TRUE(full.truncated);
  EXPECT_EQ(full.nak.runs.size(), kMaxNakRuns);
  EXPECT_EQ(full.next_block, kMaxNakRuns);
  std::vector<uint8_t> f;
  encode(full.nak, f);
  EXPECT_LE(f.size() - 4, kMaxMessageSize);
  EXPECT_TRUE(decode_body(std::span(f).subspan(4)).ok());
}

// --- FrameSplitter ---

std::vector<uint8_t> stream_of_samples() {
  std::vector<uint8_t> s;
  for (const Message& m : sample_messages()) encode(m, s);
  return s;
}

// Feeds `stream` in chunks chosen by `chunk`, decoding every complete body.
template <class ChunkFn>
std::vector<Message> split_all(const std::vector<uint8_t>& stream, ChunkFn chunk) {
  FrameSplitter sp;
  std::vector<Message> got;
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t n = std::min(chunk(), stream.size() - pos);
    sp.feed(std::span(stream).subspan(pos, n));
    pos += n;
    for (;;) {
      auto f = sp.next();
      EXPECT_TRUE(f.ok()) << f.error();
      if (!f.ok() || !*f) break;
      Result<Message> m = decode_body(**f);
      EXPECT_TRUE(m.ok()) << m.error();
      if (!m.ok()) break;
      // Copy Repair payloads out of the splitter's buffer before it moves.
      if (auto* r = std::get_if<Repair>(&*m)) {
        EXPECT_TRUE(std::ranges::equal(r->payload, testing::repair_payload()) ||
                    r->payload.empty());
        r->payload = r->payload.empty() ? std::span<const uint8_t>()
                                        : std::span<const uint8_t>(testing::repair_payload());
      }
      got.push_back(*m);
    }
  }
  EXPECT_EQ(sp.buffered(), 0u);
  return got;
}

TEST(FrameSplitter, ByteAtATime) {
  std::vector<Message> got = split_all(stream_of_samples(), [] { return size_t{1}; });
  EXPECT_EQ(got, sample_messages());
}

TEST(FrameSplitter, RandomChunks) {
  std::mt19937 rng(5);
  std::vector<Message> got =
      split_all(stream_of_samples(), [&] { return size_t{1} + rng() % 700; });
  EXPECT_EQ(got, sample_messages());
  std::vector<Message> whole = split_all(stream_of_samples(), [] { return size_t{1} << 30; });
  EXPECT_EQ(whole, sample_messages());
}

TEST(FrameSplitter, PrepareCommitMatchesFeed) {
  const std::vector<uint8_t> s = stream_of_samples();
  FrameSplitter sp;
  size_t pos = 0, frames = 0;
  while (pos < s.size()) {
    std::span<uint8_t> space = sp.prepare(100);
    ASSERT_GE(space.size(), 100u);
    const size_t n = std::min<size_t>(37, s.size() - pos);
    std::copy_n(s.begin() + static_cast<ptrdiff_t>(pos), n, space.begin());
    sp.commit(n);
    pos += n;
    for (auto f = sp.next(); f.ok() && *f; f = sp.next()) {
      ASSERT_TRUE(decode_body(**f).ok());
      ++frames;
    }
  }
  EXPECT_EQ(frames, sample_messages().size());
}

TEST(FrameSplitter, BadLengthsAreStickyErrors) {
  for (uint32_t len : {0u, 1u, static_cast<uint32_t>(kMaxMessageSize + 1), 0xffffffffu}) {
    FrameSplitter sp;
    std::vector<uint8_t> prefix = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                                   static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
    sp.feed(prefix);
    auto f = sp.next();
    ASSERT_FALSE(f.ok()) << len;
    EXPECT_NE(f.error().find("frame length " + std::to_string(len)), std::string::npos)
        << f.error();
    sp.feed(body_of(Ready{}));
    EXPECT_FALSE(sp.next().ok()) << "error must stay";
  }
  // A smaller limit applies too.
  FrameSplitter small(100);
  small.feed(framed(Repair{1, 1, testing::repair_payload()}));
  EXPECT_FALSE(small.next().ok());
}

TEST(FrameSplitter, WaitsForTheWholeFrame) {
  std::vector<uint8_t> f = framed(Session{});
  FrameSplitter sp;
  sp.feed(std::span(f).first(f.size() - 1));
  auto partial = sp.next();
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
  sp.feed(std::span(f).last(1));
  auto whole = sp.next();
  ASSERT_TRUE(whole.ok());
  ASSERT_TRUE(whole->has_value());
  EXPECT_EQ((*whole)->size(), f.size() - 4);
}

// The fuzzer's seed corpus must stay valid as the protocol evolves: every file is a stream of
// whole, decodable messages.
TEST(FuzzCorpus, EverySeedIsAValidMessageStream) {
  namespace fs = std::filesystem;
  const fs::path dir = SHOAL_CONTROL_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::set<int> types;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>()};
    FrameSplitter sp;
    sp.feed(bytes);
    size_t frames = 0;
    for (;;) {
      auto f = sp.next();
      ASSERT_TRUE(f.ok()) << entry.path() << ": " << f.error();
      if (!*f) break;
      Result<Message> m = decode_body(**f);
      ASSERT_TRUE(m.ok()) << entry.path() << ": " << m.error();
      types.insert(static_cast<int>((**f)[1]));
      ++frames;
    }
    EXPECT_GT(frames, 0u) << entry.path();
    EXPECT_EQ(sp.buffered(), 0u) << entry.path() << " ends mid-message";
    ++files;
  }
  EXPECT_GT(files, 0u);
  EXPECT_EQ(types.size(), std::variant_size_v<Message>) << "seeds cover every message type";
}

}  // namespace
}  // namespace shoal::control
