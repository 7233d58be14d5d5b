// ReceiverCore with tagged frames: what it accepts, what it counts and drops, and what ends the
// session. Multicast frames failing a check are counted and dropped (anyone on the segment can
// send them); a frame failing a check over the control connection can only come from the sender
// itself, so there it fails the session.
#include "session/receiver_core.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "engine/frame_builder.h"
#include "object/manifest.h"

namespace shoal::session {
namespace {

constexpr uint32_t kSym = 64;
constexpr unsigned kK = 4;
constexpr uint32_t kBlocks = 2;
constexpr uint64_t kSessionId = 0x5eed0001;

class ReceiverCoreTest : public ::testing::TestWithParam<control::FrameSuite> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("shoal-core-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    object_.resize(size_t{kBlocks} * kK * kSym);
    std::mt19937 rng(7);
    for (auto& b : object_) b = static_cast<uint8_t>(rng());
    auto layout = fec::BlockLayout::make(object_.size(), kSym, kK);
    ASSERT_TRUE(layout.ok()) << layout.error();
    const Manifest m = build_manifest(object_, *layout);
    session_.session_id = kSessionId;
    session_.symbol_size = kSym;
    session_.k = kK;
    session_.object_size = object_.size();
    session_.block_count = kBlocks;
    session_.object_sha256 = m.object_sha256;
    session_.object_name = "object.bin";
    auto sink = ObjectSink::create(final_path(), object_.size(), false, false);
    ASSERT_TRUE(sink.ok()) << sink.error();
    auto core = ReceiverCore::make(session_, m.block_sha256, std::move(*sink), 16);
    ASSERT_TRUE(core.ok()) << core.error();
    core_ = std::move(*core);
    key_ = make_data_key(GetParam());
    ASSERT_TRUE(core_->protect(key_).ok());
    sender_.emplace(builder(key_, kSessionId));
  }
  void TearDown() override {
    core_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string final_path() const { return (dir_ / "object.bin").string(); }

  static engine::FrameBuilder builder(const DataKey& key, uint64_t session_id) {
    auto crypto = engine::FrameCrypto::create(key.key, protection_of(key.suite));
    EXPECT_TRUE(crypto.ok());
    return engine::FrameBuilder(session_id, std::move(*crypto));
  }

  // Symbol `esi` of `block` as a whole frame from `fb` (which numbers its frames in sequence).
  std::vector<uint8_t> frame(engine::FrameBuilder& fb, uint32_t block, uint8_t esi) {
    uint8_t header[engine::kHeaderSize], tag[engine::kFrameTagSize], cipher[kSym];
    engine::TxFrame out;
    const uint8_t* payload = object_.data() + (size_t{block} * kK + esi) * kSym;
    EXPECT_TRUE(fb.data(block, kK, esi, payload, kSym, header, tag, cipher, out).ok());
    std::vector<uint8_t> f(out.header, out.header + out.header_len);
    f.insert(f.end(), out.payload, out.payload + out.payload_len);
    f.insert(f.end(), out.tail, out.tail + out.tail_len);
    return f;
  }
  // From the session's own sender.
  std::vector<uint8_t> frame(uint32_t block, uint8_t esi) { return frame(*sender_, block, esi); }

  static control::Repair repair_of(const std::vector<uint8_t>& f, uint32_t block, uint8_t esi) {
    control::Repair r;
    r.block = block;
    r.esi = esi;
    r.payload = f;
    return r;
  }

  std::filesystem::path dir_;
  std::vector<uint8_t> object_;
  control::Session session_;
  DataKey key_;
  std::unique_ptr<ReceiverCore> core_;
  std::optional<engine::FrameBuilder> sender_;
};

TEST_P(ReceiverCoreTest, TaggedFramesMakeTheVerifiedObject) {
  for (uint32_t b = 0; b < kBlocks; ++b) {
    for (uint8_t e = 0; e < kK; ++e) ASSERT_TRUE(core_->on_datagram(frame(b, e)).ok());
  }
  EXPECT_EQ(core_->stats().data_frames, uint64_t{kBlocks} * kK);
  EXPECT_EQ(core_->stats().dropped(), 0u);
  ASSERT_TRUE(core_->complete());
  ASSERT_TRUE(core_->commit().ok());
  std::ifstream in(final_path(), std::ios::binary);
  std::vector<uint8_t> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, object_);
}

TEST_P(ReceiverCoreTest, AMulticastFrameWithAWrongTagIsCountedAndDropped) {
  auto f = frame(0, 0);
  f.back() ^= 0x01;  // the last byte of the tag
  EXPECT_TRUE(core_->on_datagram(f).ok());
  EXPECT_EQ(core_->stats().frames_unauthenticated, 1u);
  // A frame under another key: the same.
  engine::FrameBuilder stranger = builder(make_data_key(GetParam()), kSessionId);
  EXPECT_TRUE(core_->on_datagram(frame(stranger, 0, 1)).ok());
  EXPECT_EQ(core_->stats().frames_unauthenticated, 2u);
  EXPECT_EQ(core_->stats().data_frames, 0u);
  // Neither reached the block: all k genuine symbols are still needed to finish it.
  for (uint8_t e = 0; e < kK - 1; ++e) ASSERT_TRUE(core_->on_datagram(frame(0, e)).ok());
  EXPECT_EQ(core_->blocks_done(), 0u);
  ASSERT_TRUE(core_->on_datagram(frame(0, kK - 1)).ok());
  EXPECT_EQ(core_->blocks_done(), 1u);
}

TEST_P(ReceiverCoreTest, UnicastRepairIsTakenWhenAuthentic) {
  const auto f = frame(1, 2);
  ASSERT_TRUE(core_->on_repair(repair_of(f, 1, 2)).ok());
  EXPECT_EQ(core_->stats().symbols_unicast_repair, 1u);
  EXPECT_EQ(core_->stats().dropped(), 0u);
}

TEST_P(ReceiverCoreTest, AUnicastFrameWithAWrongTagFailsTheSession) {
  auto f = frame(1, 2);
  f[engine::kHeaderSize] ^= 0x80;  // a payload (or ciphertext) byte
  const Status s = core_->on_repair(repair_of(f, 1, 2));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("unicast repair failed its checks"), std::string::npos) << s.error();
  EXPECT_EQ(core_->stats().frames_unauthenticated, 1u);
  EXPECT_EQ(core_->stats().symbols_unicast_repair, 0u);
}

TEST_P(ReceiverCoreTest, AUnicastFrameOfAnotherSessionFailsTheSession) {
  engine::FrameBuilder other = builder(key_, kSessionId + 1);
  const auto f = frame(other, 0, 0);  // authentic under our key, of another session
  const Status s = core_->on_repair(repair_of(f, 0, 0));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("unicast repair failed its checks"), std::string::npos) << s.error();
  EXPECT_EQ(core_->stats().symbols_unicast_repair, 0u);
  // Truncated below a header: malformed.
  const std::vector<uint8_t> stub(f.begin(), f.begin() + 10);
  EXPECT_FALSE(core_->on_repair(repair_of(stub, 0, 0)).ok());
  EXPECT_EQ(core_->stats().frames_rejected, 1u);
}

INSTANTIATE_TEST_SUITE_P(Suites, ReceiverCoreTest,
                         ::testing::Values(control::FrameSuite::kGmac,
                                           control::FrameSuite::kAeadGcm),
                         [](const auto& param_info) {
                           return param_info.param == control::FrameSuite::kGmac ? "Gmac"
                                                                                 : "AeadGcm";
                         });

}  // namespace
}  // namespace shoal::session
