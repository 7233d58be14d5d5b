#include "engine/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string_view>
#include <vector>

#include "engine/crc32c.h"

namespace shoal::engine {
namespace {

using Bytes = std::vector<uint8_t>;

// Bit-at-a-time CRC32C straight from the definition (reflected polynomial 0x82F63B78, init and
// final XOR 0xFFFFFFFF): an independent reference for the ISA-L based implementation.
uint32_t reference_crc32c(std::span<const uint8_t> bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be(Bytes& f, size_t off, uint64_t v, size_t n) {
  ASSERT_LE(off + n, f.size());
  for (size_t i = 0; i < n; ++i) f[off + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

// Recomputes the CRC field of a raw frame with the reference CRC (field zero while hashing).
void reseal(Bytes& f) {
  put_be(f, 28, 0, 4);
  put_be(f, 28, reference_crc32c(f), 4);
}

Bytes random_bytes(std::mt19937_64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

FrameHeader random_valid_header(std::mt19937_64& rng, size_t max_payload) {
  FrameHeader h;
  h.type = static_cast<uint8_t>(1 + rng() % 3);
  if (h.type == kFrameData) {
    h.k = static_cast<uint8_t>(1 + rng() % 255);
    h.esi = static_cast<uint8_t>(rng() % 255);
    if (h.esi >= h.k) h.flags |= kFlagRepair;
  }
  if (rng() % 2) {
    h.flags |= kFlagAuth;
    if (rng() % 2) h.flags |= kFlagEncrypted;
    h.tag_len = static_cast<uint8_t>(1 + rng() % kMaxTag);
  }
  h.session = rng();
  h.block = static_cast<uint32_t>(rng());
  h.object = static_cast<uint16_t>(rng());
  h.payload_len = static_cast<uint16_t>(1 + rng() % max_payload);
  h.sequence = static_cast<uint32_t>(rng());
  return h;
}

struct Frame {
  FrameHeader header;
  Bytes payload, tag, wire;
};

Frame make_frame(const FrameHeader& h, std::mt19937_64& rng) {
  Frame f{h, random_bytes(rng, h.payload_len), random_bytes(rng, h.tag_len), Bytes(kMaxFrame)};
  const size_t n = encode_frame(h, f.payload, f.tag, f.wire);
  EXPECT_EQ(n, kHeaderSize + h.payload_len + h.tag_len);
  f.wire.resize(n);
  return f;
}

// A frame with AUTH and a tag, so every header field and region is populated.
FrameHeader sample_header() {
  FrameHeader h;
  h.type = kFrameData;
  h.flags = kFlagAuth | kFlagRepair;
  h.k = 10;
  h.esi = 12;
  h.tag_len = 16;
  h.session = 0x0102030405060708ull;
  h.block = 0x11223344u;
  h.object = 0x5566u;
  h.payload_len = 64;
  h.sequence = 0x99AABBCCu;
  return h;
}

ParseError parse_error_of(const Bytes& wire) {
  return parse_frame(wire).error();
}

TEST(Crc32c, StandardCheckValue) {
  const std::string_view check = "123456789";
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(check.data()),
                                       check.size());
  EXPECT_EQ(crc32c(bytes), 0xE3069283u);
  EXPECT_EQ(reference_crc32c(bytes), 0xE3069283u);
}

TEST(Crc32c, MatchesReferenceAndChainsAcrossBuffers) {
  std::mt19937_64 rng(1);
  for (size_t len : {0, 1, 7, 8, 31, 32, 33, 255, 1408, 4099, 9064}) {
    const Bytes data = random_bytes(rng, len);
    EXPECT_EQ(crc32c(data), reference_crc32c(data)) << "len " << len;
    const size_t cut = len / 3;
    Crc32c chained;
    chained.update(std::span(data).first(cut));
    chained.update(std::span(data).subspan(cut));
    EXPECT_EQ(chained.value(), crc32c(data)) << "len " << len;
  }
}

TEST(Wire, LayoutFollowsTheSpec) {
  std::mt19937_64 rng(2);
  const Frame f = make_frame(sample_header(), rng);
  ASSERT_EQ(f.wire.size(), 32u + 64u + 16u);
  Bytes expected(32);
  const uint8_t fixed[] = {0x53, 0x48, 1, 1, 0x03, 10, 12, 16};
  std::memcpy(expected.data(), fixed, sizeof fixed);
  put_be(expected, 8, 0x0102030405060708ull, 8);
  put_be(expected, 16, 0x11223344u, 4);
  put_be(expected, 20, 0x5566u, 2);
  put_be(expected, 22, 64, 2);
  put_be(expected, 24, 0x99AABBCCu, 4);
  expected.insert(expected.end(), f.payload.begin(), f.payload.end());
  expected.insert(expected.end(), f.tag.begin(), f.tag.end());
  reseal(expected);
  EXPECT_EQ(f.wire, expected);
}

TEST(Wire, RoundTripsRandomFrames) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const size_t max_payload = i % 10 == 0 ? kMaxPayload : 256;
    const Frame f = make_frame(random_valid_header(rng, max_payload), rng);
    const ParseResult r = parse_frame(f.wire);
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    EXPECT_EQ(r->header, f.header);
    EXPECT_EQ(Bytes(r->payload.begin(), r->payload.end()), f.payload);
    EXPECT_EQ(Bytes(r->tag.begin(), r->tag.end()), f.tag);
    EXPECT_EQ(r->payload.data(), f.wire.data() + kHeaderSize);  // views, not copies
  }
}

TEST(Wire, LargestFrameRoundTrips) {
  std::mt19937_64 rng(4);
  FrameHeader h = sample_header();
  h.payload_len = kMaxPayload;
  h.tag_len = kMaxTag;
  const Frame f = make_frame(h, rng);
  ASSERT_EQ(f.wire.size(), kMaxFrame);
  EXPECT_TRUE(parse_frame(f.wire).ok());
}

TEST(Wire, EncodeHeaderPlusPayloadEqualsEncodeFrame) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 500; ++i) {
    const Frame f = make_frame(random_valid_header(rng, 2000), rng);
    uint8_t header[kHeaderSize];
    encode_header(f.header, f.payload, f.tag, header);
    Bytes gathered(header, header + kHeaderSize);
    gathered.insert(gathered.end(), f.payload.begin(), f.payload.end());
    gathered.insert(gathered.end(), f.tag.begin(), f.tag.end());
    EXPECT_EQ(gathered, f.wire);
  }
}

TEST(Wire, EveryPrefixIsRejected) {
  std::mt19937_64 rng(6);
  const Frame f = make_frame(sample_header(), rng);
  for (size_t len = 0; len < f.wire.size(); ++len) {
    // An exactly sized heap copy, so a sanitizer build catches any read past the end.
    const Bytes prefix(f.wire.begin(), f.wire.begin() + static_cast<ptrdiff_t>(len));
    const ParseError want = len < kHeaderSize ? ParseError::Truncated : ParseError::LengthMismatch;
    EXPECT_EQ(parse_error_of(prefix), want) << "len " << len;
  }
}

TEST(Wire, TrailingBytesAreRejected) {
  std::mt19937_64 rng(7);
  Frame f = make_frame(sample_header(), rng);
  f.wire.push_back(0);
  EXPECT_EQ(parse_error_of(f.wire), ParseError::LengthMismatch);
  f.wire.resize(kMaxFrame + 100);
  EXPECT_EQ(parse_error_of(f.wire), ParseError::LengthMismatch);
}

TEST(Wire, EverySingleBitFlipIsRejected) {
  std::mt19937_64 rng(8);
  std::vector<Frame> frames = {make_frame(sample_header(), rng)};
  for (int i = 0; i < 4; ++i) frames.push_back(make_frame(random_valid_header(rng, 100), rng));
  for (const Frame& f : frames) {
    for (size_t bit = 0; bit < f.wire.size() * 8; ++bit) {
      Bytes bad = f.wire;
      bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(parse_frame(bad).ok()) << "bit " << bit;
    }
  }
}

TEST(Wire, ChecksumMismatchIsReported) {
  std::mt19937_64 rng(9);
  const Frame f = make_frame(sample_header(), rng);
  for (size_t off : {size_t{8}, size_t{29}, kHeaderSize + 5, f.wire.size() - 1}) {
    Bytes bad = f.wire;
    bad[off] ^= 0x40;  // session / CRC / payload / tag: fields that no rule constrains
    EXPECT_EQ(parse_error_of(bad), ParseError::BadChecksum) << "offset " << off;
  }
}

TEST(Wire, SkippingTheChecksumStillChecksFields) {
  std::mt19937_64 rng(10);
  const Frame f = make_frame(sample_header(), rng);
  Bytes corrupt = f.wire;
  corrupt[kHeaderSize] ^= 1;
  EXPECT_EQ(parse_frame(corrupt, CrcCheck::Verify).error(), ParseError::BadChecksum);
  const ParseResult skipped = parse_frame(corrupt, CrcCheck::Skip);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->header, f.header);
  Bytes bad_version = f.wire;
  bad_version[2] = 2;
  EXPECT_EQ(parse_frame(bad_version, CrcCheck::Skip).error(), ParseError::BadVersion);
  Bytes short_frame(f.wire.begin(), f.wire.end() - 1);
  EXPECT_EQ(parse_frame(short_frame, CrcCheck::Skip).error(), ParseError::LengthMismatch);
}

// Mutates one byte of a valid frame, recomputes the CRC so only the field rule can object, and
// expects both the parser and check_header/encode_frame to reject the same way.
struct FieldCase {
  const char* what;
  size_t offset;
  uint8_t value;
  ParseError want;
};

TEST(Wire, FieldRulesAreEnforced) {
  FrameHeader base = sample_header();  // DATA, AUTH, k=10, esi=12, REPAIR, tag 16, payload 64
  const FieldCase cases[] = {
      {"magic 0", 0, 0x54, ParseError::BadMagic},
      {"magic 1", 1, 0x00, ParseError::BadMagic},
      {"version 0", 2, 0, ParseError::BadVersion},
      {"version 2", 2, 2, ParseError::BadVersion},
      {"type 0", 3, 0, ParseError::BadType},
      {"type 4", 3, 4, ParseError::BadType},
      {"type 255", 3, 255, ParseError::BadType},
      {"unknown flag bit 3", 4, 0x0B, ParseError::BadFlags},
      {"unknown flag bit 7", 4, 0x83, ParseError::BadFlags},
      {"REPAIR cleared with esi >= k", 4, kFlagAuth, ParseError::BadFlags},
      {"ENCRYPTED without AUTH", 4, kFlagRepair | kFlagEncrypted, ParseError::BadFlags},
      {"k 0", 5, 0, ParseError::BadK},
      {"REPAIR set with esi < k", 5, 13, ParseError::BadFlags},
      {"esi 255", 6, 255, ParseError::BadSymbol},
      {"REPAIR set with esi < k (esi)", 6, 9, ParseError::BadFlags},
      {"AUTH with tag_len 0", 7, 0, ParseError::BadTag},
      {"AUTH with tag_len 33", 7, 33, ParseError::BadTag},
  };
  std::mt19937_64 rng(11);
  const Frame f = make_frame(base, rng);
  for (const FieldCase& c : cases) {
    Bytes bad = f.wire;
    bad[c.offset] = c.value;
    reseal(bad);
    EXPECT_EQ(parse_error_of(bad), c.want) << c.what;
  }
}

TEST(Wire, LengthAndTagRulesAreEnforced) {
  std::mt19937_64 rng(12);
  FrameHeader plain = sample_header();
  plain.flags = kFlagRepair;
  plain.tag_len = 0;
  const Frame f = make_frame(plain, rng);
  auto with = [&](size_t off, uint64_t v, size_t n) {
    Bytes bad = f.wire;
    put_be(bad, off, v, n);
    reseal(bad);
    return parse_error_of(bad);
  };
  EXPECT_EQ(with(22, 0, 2), ParseError::BadLength);
  EXPECT_EQ(with(22, kMaxPayload + 1, 2), ParseError::BadLength);
  EXPECT_EQ(with(22, 0xFFFF, 2), ParseError::BadLength);
  EXPECT_EQ(with(7, 1, 1), ParseError::BadTag);  // tag_len without AUTH
  EXPECT_EQ(with(22, 63, 2), ParseError::LengthMismatch);
  EXPECT_EQ(with(22, 65, 2), ParseError::LengthMismatch);
}

TEST(Wire, BeaconAndProbeRules) {
  std::mt19937_64 rng(13);
  for (uint8_t type : {kFrameBeacon, kFrameProbe}) {
    FrameHeader h;
    h.type = type;
    h.payload_len = 20;
    const Frame f = make_frame(h, rng);
    ASSERT_TRUE(parse_frame(f.wire).ok());
    auto with_byte = [&](size_t off, uint8_t v) {
      Bytes bad = f.wire;
      bad[off] = v;
      reseal(bad);
      return parse_error_of(bad);
    };
    EXPECT_EQ(with_byte(5, 2), ParseError::BadK);
    EXPECT_EQ(with_byte(5, 0), ParseError::BadK);
    EXPECT_EQ(with_byte(6, 1), ParseError::BadSymbol);
    EXPECT_EQ(with_byte(4, kFlagRepair), ParseError::BadFlags);
  }
}

TEST(Wire, EncodeRefusesInvalidInput) {
  std::mt19937_64 rng(14);
  const FrameHeader good = sample_header();
  const Bytes payload = random_bytes(rng, good.payload_len);
  const Bytes tag = random_bytes(rng, good.tag_len);
  Bytes out(kMaxFrame);
  const size_t total = kHeaderSize + payload.size() + tag.size();
  EXPECT_EQ(encode_frame(good, payload, tag, out), total);
  EXPECT_EQ(encode_frame(good, payload, tag, std::span(out).first(total - 1)), 0u);
  EXPECT_EQ(encode_frame(good, std::span(payload).first(10), tag, out), 0u);
  EXPECT_EQ(encode_frame(good, payload, std::span(tag).first(3), out), 0u);

  auto refused = [&](FrameHeader h, ParseError want) {
    EXPECT_EQ(check_header(h), want);
    const Bytes p(h.payload_len), t(h.tag_len);
    EXPECT_EQ(encode_frame(h, p, t, out), 0u);
  };
  FrameHeader h = good;
  h.type = 9;
  refused(h, ParseError::BadType);
  h = good;
  h.flags = kFlagAuth;  // REPAIR missing while esi >= k
  refused(h, ParseError::BadFlags);
  h = good;
  h.flags = kFlagRepair | kFlagEncrypted;
  h.tag_len = 0;
  refused(h, ParseError::BadFlags);
  h = good;
  h.k = 0;
  refused(h, ParseError::BadK);
  h = good;
  h.esi = 255;
  refused(h, ParseError::BadSymbol);
  h = good;
  h.payload_len = kMaxPayload + 1;
  refused(h, ParseError::BadLength);
  h = good;
  h.tag_len = kMaxTag + 1;
  refused(h, ParseError::BadTag);
  EXPECT_EQ(check_header(good), ParseError::Ok);
}

TEST(Wire, ErrorNamesAreDistinct) {
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(ParseError::BadChecksum); ++e) {
    const char* name = to_string(static_cast<ParseError>(e));
    ASSERT_NE(name, nullptr);
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(ParseError::BadChecksum) + 1);
}

}  // namespace
}  // namespace shoal::engine
