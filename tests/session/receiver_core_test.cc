// ReceiverCore with tagged frames: what it accepts, what it counts and drops, and what ends the
// session. Multicast frames failing a check are counted and dropped (anyone on the segment can
// send them); a frame failing a check over the control connection can only come from the sender
// itself, so there it fails the session. The core writes through an injected sink: an
// object::ObjectSink on disk with the Checkpointer (the receiver's own pair), or one in memory.
#include "session/receiver_core.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "engine/frame_builder.h"
#include "engine/replay_window.h"
#include "object/manifest.h"
#include "session/checkpointer.h"

namespace shoal::session {
namespace {

constexpr uint32_t kSym = 64;
constexpr unsigned kK = 4;
constexpr uint32_t kBlocks = 2;
constexpr uint64_t kSessionId = 0x5eed0001;

class ReceiverCoreTest : public ::testing::TestWithParam<control::FrameSuite> {
 protected:
  void SetUp() override {
    // A parameterised test's name is "Name/N": flatten it, or the "/N" becomes a subdirectory and
    // TearDown removes only that, leaving the parent behind in /tmp.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');
    dir_ = std::filesystem::temp_directory_path() /
           ("shoal-core-test-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    object_.resize(size_t{kBlocks} * kK * kSym);
    std::mt19937 rng(7);
    for (auto& b : object_) b = static_cast<uint8_t>(rng());
    auto layout = fec::BlockLayout::make(object_.size(), kSym, kK);
    ASSERT_TRUE(layout.ok()) << layout.error();
    const object::Manifest m = object::build_manifest(object_, *layout);
    session_.session_id = kSessionId;
    session_.symbol_size = kSym;
    session_.k = kK;
    session_.object_size = object_.size();
    session_.block_count = kBlocks;
    session_.object_name = "object.bin";
    auto sink = object::ObjectSink::create(final_path(), object_.size(), false, false);
    ASSERT_TRUE(sink.ok()) << sink.error();
    sink_ = std::make_unique<object::ObjectSink>(std::move(*sink));
    checkpointer_ =
        std::make_unique<Checkpointer>(*sink_, "", object::object_id(session_),
                                       session_.object_size, kBlocks, nullptr, SyncPolicy::kEnd);
    auto core = ReceiverCore::make(session_, *sink_, 16);
    ASSERT_TRUE(core.ok()) << core.error();
    core_ = std::move(*core);
    ASSERT_TRUE(core_->add_hashes(0, m.block_sha256).ok());
    key_ = make_data_key(GetParam());
    ASSERT_TRUE(core_->protect(key_).ok());
    sender_.emplace(builder(key_, kSessionId));
  }
  void TearDown() override {
    core_.reset();
    checkpointer_.reset();
    sink_.reset();
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
  std::unique_ptr<object::ObjectSink> sink_;
  std::unique_ptr<Checkpointer> checkpointer_;
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
  ASSERT_TRUE(checkpointer_->commit(*core_).ok());
  std::ifstream in(final_path(), std::ios::binary);
  std::vector<uint8_t> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, object_);
}

// Issue #16: a tagged DATA frame carries no CRC32C (field 0): the tag covers all of it. An untagged
// one (--no-frame-auth) keeps it, and is verified by it.
TEST_P(ReceiverCoreTest, TaggedDataFramesCarryNoCrcUntaggedOnesDo) {
  const auto f = frame(0, 0);
  const bool tagged = GetParam() != control::FrameSuite::kNone;
  const bool crc_zero = f[28] == 0 && f[29] == 0 && f[30] == 0 && f[31] == 0;
  EXPECT_EQ(crc_zero, tagged);
  EXPECT_EQ(static_cast<bool>(engine::parse_frame(f, engine::CrcCheck::Verify)), !tagged);
  EXPECT_TRUE(static_cast<bool>(engine::parse_frame(f, engine::CrcCheck::Skip)));
  ASSERT_TRUE(core_->on_datagram(f).ok());
  EXPECT_EQ(core_->stats().data_frames, 1u) << "taken: checked by its tag or its CRC";
  EXPECT_EQ(core_->stats().dropped(), 0u);
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

// Unless the session encrypts, the sender's unicast repair is the bare symbol: its block's hash
// checks it. In an encrypted session a bare symbol would be plaintext nobody sealed: refused.
TEST_P(ReceiverCoreTest, ABareUnicastSymbolIsTakenUnlessTheSessionEncrypts) {
  std::vector<uint8_t> symbol(kSym, 0x5a);
  const Status s = core_->on_repair(control::Repair{1, 2, symbol});
  if (GetParam() == control::FrameSuite::kAeadGcm) {
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().find("unicast repair failed its checks"), std::string::npos) << s.error();
    EXPECT_EQ(core_->stats().symbols_unicast_repair, 0u);
  } else {
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(core_->stats().symbols_unicast_repair, 1u);
  }
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

// A sink in memory: what the core wrote, and what the Checkpointer asked of it.
class MemorySink final : public object::BlockSink {
 public:
  explicit MemorySink(size_t size) : bytes(size, 0) {}
  Status write(uint64_t offset, std::span<const uint8_t> data) override {
    if (fail_writes) return make_error("disk full");
    if (offset + data.size() > bytes.size()) return make_error("write beyond the object's end");
    std::copy(data.begin(), data.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
    ++writes;
    return {};
  }
  Status read(uint64_t offset, std::span<uint8_t> out) override {
    if (offset + out.size() > bytes.size()) return make_error("read beyond the object's end");
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    ++reads;
    return {};
  }
  Status poll() override { return {}; }
  bool ready(size_t) override { return disk_keeps_up; }
  Status flush() override {
    ++flushes;
    if (fail_flush) return make_error("No space left on device");
    return {};
  }
  Status commit(bool sync) override {
    committed = true;
    synced = sync;
    return {};
  }
  void abandon() override {
    abandoned = true;
    state_left_at_abandon = !watch_state.empty() && std::filesystem::exists(watch_state);
  }
  void keep() override { kept = true; }
  const char* backend() const override { return "memory"; }

  std::vector<uint8_t> bytes;
  bool fail_writes = false;
  bool fail_flush = false;
  bool disk_keeps_up = true;  // ready(): false = every write buffer in flight
  std::string watch_state;    // abandon() notes whether this file still existed then
  bool state_left_at_abandon = false;
  int writes = 0, reads = 0, flushes = 0;
  bool committed = false, synced = false, abandoned = false, kept = false;
};

// The core over an in-memory sink: frames and hashes in, blocks checked, bytes out.
class ReceiverCoreMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    object_.resize(size_t{kBlocks} * kK * kSym);
    std::mt19937 rng(11);
    for (auto& b : object_) b = static_cast<uint8_t>(rng());
    auto layout = fec::BlockLayout::make(object_.size(), kSym, kK);
    ASSERT_TRUE(layout.ok()) << layout.error();
    manifest_ = object::build_manifest(object_, *layout);
    session_.session_id = kSessionId;
    session_.symbol_size = kSym;
    session_.k = kK;
    session_.object_size = object_.size();
    session_.block_count = kBlocks;
    key_ = make_data_key(control::FrameSuite::kGmac);
    auto crypto = engine::FrameCrypto::create(key_.key, protection_of(key_.suite));
    ASSERT_TRUE(crypto.ok());
    sender_.emplace(kSessionId, std::move(*crypto));
  }

  // with_hashes: the whole manifest handed over at once (else the test streams it).
  std::unique_ptr<ReceiverCore> make_core(const object::ResumeState* resume = nullptr,
                                          bool with_hashes = true) {
    auto core = ReceiverCore::make(session_, sink_, 16, resume,
                                   [this](uint32_t b) { verified_.push_back(b); });
    EXPECT_TRUE(core.ok()) << core.error();
    if (!core.ok()) return nullptr;
    EXPECT_TRUE((*core)->protect(key_).ok());
    if (with_hashes) {
      EXPECT_TRUE((*core)->add_hashes(0, manifest_.block_sha256).ok());
    }
    return std::move(*core);
  }
  std::span<const control::Digest> hashes(uint32_t first, uint32_t count) const {
    return std::span<const control::Digest>(manifest_.block_sha256).subspan(first, count);
  }

  std::vector<uint8_t> frame(uint32_t block, uint8_t esi) {
    uint8_t header[engine::kHeaderSize], tag[engine::kFrameTagSize], cipher[kSym];
    engine::TxFrame out;
    const uint8_t* payload = object_.data() + (size_t{block} * kK + esi) * kSym;
    EXPECT_TRUE(sender_->data(block, kK, esi, payload, kSym, header, tag, cipher, out).ok());
    std::vector<uint8_t> f(out.header, out.header + out.header_len);
    f.insert(f.end(), out.payload, out.payload + out.payload_len);
    f.insert(f.end(), out.tail, out.tail + out.tail_len);
    return f;
  }

  // What an insider can send: a frame tagged with the group's data key, numbered `sequence`,
  // carrying symbol `esi` of `block` -- its true content, or that with a byte flipped.
  std::vector<uint8_t> insider_frame(uint32_t block, uint8_t esi, uint32_t sequence, bool corrupt) {
    engine::FrameHeader h;
    h.type = engine::kFrameData;
    h.flags = engine::protection_flags(protection_of(key_.suite));
    h.k = kK;
    h.esi = esi;
    h.tag_len = engine::kFrameTagSize;
    h.session = kSessionId;
    h.block = block;
    h.payload_len = kSym;
    h.sequence = sequence;
    std::vector<uint8_t> f(engine::kHeaderSize + kSym + engine::kFrameTagSize);
    uint8_t* body = f.data() + engine::kHeaderSize;
    std::copy_n(object_.data() + (size_t{block} * kK + esi) * kSym, kSym, body);
    if (corrupt) body[5] ^= 0x40;
    auto crypto = engine::FrameCrypto::create(key_.key, protection_of(key_.suite));
    EXPECT_TRUE(crypto.ok());
    engine::encode_header_fields(h, f.data());
    EXPECT_TRUE(crypto->seal(f.data(), {body, kSym}, body, body + kSym));
    engine::store_crc(f.data(), {body, kSym}, {body + kSym, engine::kFrameTagSize});
    return f;
  }

  void receive_block(ReceiverCore& core, uint32_t block) {
    for (uint8_t e = 0; e < kK; ++e) ASSERT_TRUE(core.on_datagram(frame(block, e)).ok());
  }

  std::vector<uint8_t> object_;
  object::Manifest manifest_;
  control::Session session_;
  DataKey key_;
  std::optional<engine::FrameBuilder> sender_;
  MemorySink sink_{size_t{kBlocks} * kK * kSym};
  std::vector<uint32_t> verified_;
};

TEST_F(ReceiverCoreMemoryTest, FramesMakeTheWholeObjectInTheSink) {
  auto core = make_core();
  ASSERT_TRUE(core);
  // The last block first: written at its offset, nothing read back at the end.
  receive_block(*core, 1);
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_FALSE(core->check_complete().ok());
  receive_block(*core, 0);
  ASSERT_TRUE(core->complete());
  EXPECT_TRUE(core->check_complete().ok());
  EXPECT_EQ(verified_, (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(sink_.bytes, object_);
  EXPECT_EQ(sink_.reads, 0);  // issue #14 item 3: every byte was verified in its block
  EXPECT_EQ(core->stats().bytes_written, object_.size());
  // Nothing is missing any more: the NAK names no block.
  EXPECT_TRUE(core->make_nak(0).runs.empty());
}

// Issue #14: hashes stream in while data flows. A block decoded before its hash waits in its
// slot (not written, not asked for again) and is verified and written once the hash arrives.
TEST_F(ReceiverCoreMemoryTest, ABlockDecodedBeforeItsHashIsParkedUntilTheHashArrives) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  receive_block(*core, 1);
  EXPECT_EQ(core->stats().blocks_parked, 1u);
  EXPECT_EQ(core->blocks_done(), 0u);
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_EQ(core->block_count() - core->make_nak(0).runs[0].count, 1u)
      << "a parked block is not asked for again";
  ASSERT_TRUE(core->add_hashes(0, hashes(0, 1)).ok());
  EXPECT_EQ(core->blocks_done(), 0u) << "block 1's hash is still to come";
  ASSERT_TRUE(core->add_hashes(1, hashes(1, 1)).ok());
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(verified_, (std::vector<uint32_t>{1}));
  receive_block(*core, 0);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(sink_.bytes, object_);
}

// Issue #14 item 4 (raw images): an all-zero block needs no data. Its hash alone makes it done:
// zeros are written over whatever the target held, or nothing where the target reads zeros
// already (a file this run created) -- unless symbols of the block were put there meanwhile.
class ZeroBlockTest : public ReceiverCoreMemoryTest {
 protected:
  void SetUp() override {
    ReceiverCoreMemoryTest::SetUp();
    std::fill_n(object_.begin(), size_t{kK} * kSym, uint8_t{0});  // block 0: all zeros
    auto layout = fec::BlockLayout::make(object_.size(), kSym, kK);
    ASSERT_TRUE(layout.ok());
    manifest_ = object::build_manifest(object_, *layout);
    std::fill(sink_.bytes.begin(), sink_.bytes.end(), uint8_t{0xff});  // what a used disk holds
  }
};

TEST_F(ZeroBlockTest, ItsHashAloneMakesItDoneWithZerosWrittenOverTheTarget) {
  auto core = make_core();
  ASSERT_TRUE(core);
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(core->stats().blocks_zero, 1u);
  EXPECT_EQ(verified_, (std::vector<uint32_t>{0})) << "the resume state hears of it too";
  EXPECT_EQ(sink_.writes, 1);
  const auto nak = core->make_nak(0);
  ASSERT_EQ(nak.runs.size(), 1u);
  EXPECT_EQ(nak.runs[0].first_block, 1u) << "block 0 is not asked for";
  receive_block(*core, 1);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(sink_.bytes, object_);
}

TEST_F(ZeroBlockTest, NothingIsWrittenWhereTheTargetReadsZerosAlready) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  core->set_target_reads_zero(true);
  ASSERT_TRUE(core->add_hashes(0, manifest_.block_sha256).ok());
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_EQ(core->stats().bytes_written, 0u);
}

TEST_F(ZeroBlockTest, SymbolsThatArrivedBeforeTheHashAreOverwrittenWithZeros) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  core->set_target_reads_zero(true);
  ASSERT_TRUE(core->on_datagram(frame(0, 0)).ok());  // one symbol of block 0, before its hash
  ASSERT_TRUE(core->add_hashes(0, manifest_.block_sha256).ok());
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(sink_.writes, 1) << "zeros written: the block was not untouched";
  EXPECT_TRUE(std::all_of(sink_.bytes.begin(), sink_.bytes.begin() + kK * kSym,
                          [](uint8_t b) { return b == 0; }));
}

// Issue #16: with a second CPU the block hashes are checked on a thread of their own. A decoded
// block is then written only once the receive thread took its verdict; until then it is neither
// done nor asked for again.
// Takes the worker's verdicts until done() holds (bounded: 100 waits of up to 100 ms each).
template <class Done>
bool collect_until(ReceiverCore& core, Done done) {
  for (int i = 0; i < 100 && !done(); ++i) {
    pollfd p{core.verify_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    if (!core.collect_verified().ok()) return false;
  }
  return done();
}

class OffThreadVerifyTest : public ReceiverCoreMemoryTest {
 protected:
  static bool collect_until_done(ReceiverCore& core, uint32_t blocks_done) {
    return collect_until(core, [&] { return core.blocks_done() >= blocks_done; }) &&
           core.blocks_done() == blocks_done;
  }
  static bool collect_failures(ReceiverCore& core, uint64_t failures) {
    return collect_until(core, [&] { return core.stats().block_hash_failures >= failures; }) &&
           core.stats().block_hash_failures == failures;
  }
};

TEST_F(OffThreadVerifyTest, BlocksAreWrittenOnceTheirVerdictIsTaken) {
  auto core = make_core();
  ASSERT_TRUE(core);
  EXPECT_EQ(core->verify_fd(), -1) << "inline until asked";
  ASSERT_TRUE(core->verify_off_thread().ok());
  ASSERT_GE(core->verify_fd(), 0);
  receive_block(*core, 1);
  receive_block(*core, 0);
  EXPECT_EQ(core->blocks_done(), 0u) << "verdicts are only taken by collect_verified";
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_TRUE(core->make_nak(0).runs.empty()) << "a block being checked is not asked for";
  ASSERT_TRUE(collect_until_done(*core, kBlocks));
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(sink_.bytes, object_);
  ASSERT_TRUE(core->collect_verified().ok());
  pollfd p{core->verify_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "nothing to take: the poll loop must not be woken again";
  std::sort(verified_.begin(), verified_.end());
  EXPECT_EQ(verified_, (std::vector<uint32_t>{0, 1}));
}

TEST_F(OffThreadVerifyTest, ABlockFailingItsHashIsReceivedAgain) {
  manifest_.block_sha256[0][0] ^= 0x01;
  auto core = make_core();
  ASSERT_TRUE(core);
  ASSERT_TRUE(core->verify_off_thread().ok());
  receive_block(*core, 0);
  receive_block(*core, 1);
  ASSERT_TRUE(collect_failures(*core, 1));
  ASSERT_TRUE(collect_until_done(*core, 1));
  EXPECT_FALSE(core->complete());
  EXPECT_EQ(verified_, (std::vector<uint32_t>{1}));
  const control::Nak nak = core->make_nak(0);
  ASSERT_EQ(nak.runs.size(), 1u);
  EXPECT_EQ(nak.runs[0].first_block, 0u);
  EXPECT_EQ(nak.runs[0].missing, kK) << "every symbol of it is wanted again";
}

// A zero block that arrived whole before its hash is being checked when the hash comes: it must
// not also be filled in (that would free the slot the worker reads).
TEST_F(ZeroBlockTest, AWholeZeroBlockParkedBeforeItsHashIsVerifiedOffThreadOnce) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  ASSERT_TRUE(core->verify_off_thread().ok());
  receive_block(*core, 0);
  ASSERT_TRUE(core->add_hashes(0, manifest_.block_sha256).ok());
  EXPECT_EQ(core->stats().blocks_zero, 0u);
  EXPECT_EQ(core->blocks_done(), 0u) << "its check is under way";
  ASSERT_TRUE(collect_until(*core, [&] { return core->blocks_done() >= 1; }));
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(verified_, (std::vector<uint32_t>{0}));
  EXPECT_TRUE(std::all_of(sink_.bytes.begin(), sink_.bytes.begin() + kK * kSym,
                          [](uint8_t b) { return b == 0; }));
}

TEST_F(ReceiverCoreMemoryTest, AParkedBlockFailingItsHashIsAskedForAgain) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  receive_block(*core, 0);
  std::vector<control::Digest> wrong(hashes(0, 1).begin(), hashes(0, 1).end());
  wrong[0][3] ^= 0x01;
  ASSERT_TRUE(core->add_hashes(0, wrong).ok());
  EXPECT_EQ(core->stats().block_hash_failures, 1u);
  EXPECT_EQ(core->blocks_done(), 0u);
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_EQ(core->make_nak(0).runs[0].first_block, 0u);
}

// Issue #16 item 2: the receive thread does not wait for the disk. A verified block the sink
// cannot take now stays in its slot (neither done nor asked for again) until write_deferred()
// finds room, in the order the blocks were verified.
TEST_F(ReceiverCoreMemoryTest, AVerifiedBlockWaitsInMemoryWhileTheDiskIsBehind) {
  auto core = make_core();
  ASSERT_TRUE(core);
  sink_.disk_keeps_up = false;
  receive_block(*core, 1);
  receive_block(*core, 0);
  EXPECT_EQ(core->blocks_done(), 0u);
  EXPECT_EQ(core->blocks_unwritten(), 2u);
  EXPECT_EQ(core->stats().writes_deferred, 2u);
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_TRUE(core->make_nak(0).runs.empty()) << "a block waiting for the disk is not asked for";
  ASSERT_TRUE(core->write_deferred().ok());
  EXPECT_EQ(sink_.writes, 0) << "the disk is still behind";
  sink_.disk_keeps_up = true;
  ASSERT_TRUE(core->write_deferred().ok());
  EXPECT_EQ(core->blocks_unwritten(), 0u);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(verified_, (std::vector<uint32_t>{1, 0})) << "written in the order verified";
  EXPECT_EQ(sink_.bytes, object_);
}

TEST_F(ReceiverCoreMemoryTest, HashesOutOfOrderOrBeyondTheObjectAreRefused) {
  auto core = make_core(nullptr, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  EXPECT_FALSE(core->add_hashes(1, hashes(1, 1)).ok()) << "a gap";
  ASSERT_TRUE(core->add_hashes(0, hashes(0, 2)).ok());
  const Status beyond = core->add_hashes(2, hashes(0, 1));
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.error().find("out of order"), std::string::npos) << beyond.error();
}

TEST_F(ReceiverCoreMemoryTest, ABlockFailingItsHashIsNotWrittenAndIsAskedForAgain) {
  manifest_.block_sha256[0][0] ^= 0x01;
  auto core = make_core();
  ASSERT_TRUE(core);
  receive_block(*core, 0);
  EXPECT_EQ(core->stats().block_hash_failures, 1u);
  EXPECT_EQ(core->blocks_done(), 0u);
  EXPECT_TRUE(verified_.empty());
  EXPECT_EQ(sink_.writes, 0);
  const control::Nak nak = core->make_nak(0);
  ASSERT_EQ(nak.runs.size(), 1u);  // both blocks, still wholly missing
  EXPECT_EQ(nak.runs[0].first_block, 0u);
  EXPECT_EQ(nak.runs[0].count, kBlocks);
}

TEST_F(ReceiverCoreMemoryTest, AFailedSinkWriteIsFatal) {
  sink_.fail_writes = true;
  auto core = make_core();
  ASSERT_TRUE(core);
  for (uint8_t e = 0; e + 1u < kK; ++e) ASSERT_TRUE(core->on_datagram(frame(0, e)).ok());
  const Status s = core->on_datagram(frame(0, kK - 1));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("disk full"), std::string::npos) << s.error();
}

// A resume state names blocks of an earlier run: each is read back and checked when its hash
// arrives (the state may be stale: issue #15 item 3), and taken as done only if it matches.
object::ResumeState resume_all(const control::Session& s) {
  object::ResumeState resume;
  resume.id = object::object_id(s);
  resume.object_size = s.object_size;
  resume.block_count = kBlocks;
  resume.verified.assign(1, 0);
  for (uint32_t b = 0; b < kBlocks; ++b) resume.set(b);
  return resume;
}

TEST_F(ReceiverCoreMemoryTest, ResumedBlocksAreDoneOnceTheirHashConfirmsTheData) {
  const object::ResumeState resume = resume_all(session_);
  sink_.bytes = object_;  // both blocks from before
  auto core = make_core(&resume, /*with_hashes=*/false);
  ASSERT_TRUE(core);
  EXPECT_EQ(core->blocks_done(), 0u) << "nothing is taken before its hash is in";
  ASSERT_TRUE(core->add_hashes(0, hashes(0, 1)).ok());
  EXPECT_EQ(core->resumed_blocks(), 1u);
  EXPECT_EQ(sink_.reads, 1);
  ASSERT_TRUE(core->add_hashes(1, hashes(1, 1)).ok());
  EXPECT_EQ(core->resumed_blocks(), 2u);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_TRUE(verified_.empty()) << "nothing had to be received";
  EXPECT_EQ(sink_.writes, 0);
}

TEST_F(ReceiverCoreMemoryTest, AResumedBlockWhoseDataChangedIsReceivedAgain) {
  const object::ResumeState resume = resume_all(session_);
  sink_.bytes = object_;
  sink_.bytes[size_t{kK} * kSym + 7] ^= 0x01;  // block 1 changed since the state was saved
  auto core = make_core(&resume);
  ASSERT_TRUE(core);
  EXPECT_EQ(core->resumed_blocks(), 1u);
  EXPECT_EQ(core->stats().resume_mismatches, 1u);
  EXPECT_EQ(core->make_nak(0).runs[0].first_block, 1u);
  receive_block(*core, 1);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(verified_, (std::vector<uint32_t>{1}));
  EXPECT_EQ(sink_.bytes, object_);
}

TEST_F(ReceiverCoreMemoryTest, ResumedBlocksWhosePartialDataIsGoneAreReceivedAgain) {
  const object::ResumeState resume = resume_all(session_);  // the part file is fresh: zeros
  auto core = make_core(&resume);
  ASSERT_TRUE(core);
  EXPECT_EQ(core->resumed_blocks(), 0u);
  EXPECT_EQ(core->stats().resume_mismatches, kBlocks);
  receive_block(*core, 0);
  receive_block(*core, 1);
  ASSERT_TRUE(core->check_complete().ok());
  EXPECT_EQ(sink_.bytes, object_);
}

// The Checkpointer around the same core: what is kept, committed or removed.
TEST_F(ReceiverCoreMemoryTest, CheckpointerKeepsCheckpointedDataWhenAbandoned) {
  const std::string state =
      (std::filesystem::temp_directory_path() / ("shoal-ckpt-commit-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove(state);
  Checkpointer ckpt(sink_, state, object::object_id(session_), session_.object_size, kBlocks,
                    nullptr, SyncPolicy::kNone);
  auto core =
      ReceiverCore::make(session_, sink_, 16, nullptr, [&](uint32_t b) { ckpt.verified(b); });
  ASSERT_TRUE(core.ok()) << core.error();
  ASSERT_TRUE((*core)->protect(key_).ok());
  ASSERT_TRUE((*core)->add_hashes(0, manifest_.block_sha256).ok());
  receive_block(**core, 0);
  ckpt.abandon();  // gives up after one block: the state names it, the data is kept
  EXPECT_TRUE(ckpt.kept());
  EXPECT_TRUE(sink_.kept);
  EXPECT_FALSE(sink_.abandoned);
  EXPECT_GE(sink_.flushes, 1);  // the data made durable before the state named it
  auto loaded = object::load_resume_state(state);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_TRUE((*loaded)->has(0));
  EXPECT_FALSE((*loaded)->has(1));
  std::filesystem::remove(state);
}

TEST_F(ReceiverCoreMemoryTest, CheckpointerCommitsWithTheSyncPolicyAndRemovesTheState) {
  const std::string state =
      (std::filesystem::temp_directory_path() / ("shoal-ckpt-sync-" + std::to_string(::getpid())))
          .string();
  std::ofstream(state) << "stale";
  Checkpointer ckpt(sink_, state, object::object_id(session_), session_.object_size, kBlocks,
                    nullptr, SyncPolicy::kNone);
  auto core = make_core();
  ASSERT_TRUE(core);
  receive_block(*core, 0);
  receive_block(*core, 1);
  const Status c = ckpt.commit(*core);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(sink_.committed);
  EXPECT_FALSE(sink_.synced);  // --sync none
  EXPECT_FALSE(std::filesystem::exists(state));
}

TEST_F(ReceiverCoreMemoryTest, CheckpointerWithNothingVerifiedRemovesThePartialData) {
  Checkpointer ckpt(sink_, "", object::object_id(session_), session_.object_size, kBlocks, nullptr,
                    SyncPolicy::kEnd);
  ckpt.abandon();
  EXPECT_FALSE(ckpt.kept());
  EXPECT_TRUE(sink_.abandoned);
  EXPECT_FALSE(sink_.kept);
}

TEST_F(ReceiverCoreMemoryTest, ProgressNamesIncompleteBlocksBelowTheNewestBlockSeen) {
  auto core = make_core();
  ASSERT_TRUE(core);
  EXPECT_FALSE(core->make_progress(16)) << "no data yet";
  ASSERT_TRUE(core->on_datagram(frame(0, 0)).ok());  // sequence 0
  EXPECT_FALSE(core->make_progress(16)) << "block 0 is the newest block seen: still arriving";
  ASSERT_TRUE(core->on_datagram(frame(1, 0)).ok());  // sequence 1
  auto p = core->make_progress(16);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->highest_sequence, 1u);
  EXPECT_EQ(p->data_frames, 2u);
  ASSERT_EQ(p->runs.size(), 1u);
  EXPECT_EQ(p->runs[0], (control::NakRun{0, 1, kK - 1}));
  EXPECT_EQ(p->complete_below, 0u);
  for (uint8_t e = 1; e < kK; ++e) ASSERT_TRUE(core->on_datagram(frame(0, e)).ok());
  p = core->make_progress(16);
  ASSERT_TRUE(p) << "block 0 is complete: the sender hears that once";
  EXPECT_TRUE(p->runs.empty());
  EXPECT_EQ(p->complete_below, 1u);
  EXPECT_FALSE(core->make_progress(16)) << "nothing new to say";
}

// Issue #15 item 2: every group member holds the data key. One tagged frame numbered 0xFFFFFFFF
// used to move the replay window past every genuine frame, so the receiver took nothing more
// from the group.
TEST_F(ReceiverCoreMemoryTest, AnInsidersFrameNumberedFarAheadDoesNotStallTheGenuineOnes) {
  auto core = make_core();
  ASSERT_TRUE(core);
  ASSERT_TRUE(core->on_datagram(insider_frame(1, 0, 0xffffffffu, false)).ok());
  EXPECT_EQ(core->stats().frames_ahead, 1u);
  receive_block(*core, 0);
  receive_block(*core, 1);
  EXPECT_EQ(core->stats().frames_replayed, 0u);
  ASSERT_TRUE(core->complete());
  EXPECT_EQ(sink_.bytes, object_);
  // What the receiver reports to the sender stays within what the sender said it sent.
  EXPECT_LE(core->stats().highest_sequence, engine::ReplayWindow::kLead);
  // Once the sender's horizon passes them, frames move the window again: replays are caught.
  core->set_horizon(1u << 20);
  ASSERT_TRUE(core->on_datagram(insider_frame(1, 1, 1u << 20, false)).ok());
  ASSERT_TRUE(core->on_datagram(insider_frame(1, 1, 1u << 20, false)).ok());
  EXPECT_EQ(core->stats().frames_replayed, 1u);
}

// Forged symbols make a block fail its hash; after kFetchAfterFailures failures it comes only
// over the receiver's own connection, where no insider can reach.
TEST_F(ReceiverCoreMemoryTest, ABlockPoisonedRepeatedlyIsFetchedOverTheConnectionOnly) {
  auto core = make_core();
  ASSERT_TRUE(core);
  uint32_t seq = 100;
  for (unsigned round = 0; round < ReceiverCore::kFetchAfterFailures; ++round) {
    EXPECT_FALSE(core->take_fetch()) << "not after " << round << " failures";
    ASSERT_TRUE(core->on_datagram(insider_frame(0, 0, seq++, true)).ok());
    for (uint8_t e = 1; e < kK; ++e) ASSERT_TRUE(core->on_datagram(frame(0, e)).ok());
  }
  EXPECT_EQ(core->stats().block_hash_failures, ReceiverCore::kFetchAfterFailures);
  EXPECT_EQ(core->stats().blocks_fetched, 1u);
  const auto fetch = core->take_fetch();
  ASSERT_TRUE(fetch);
  EXPECT_EQ(fetch->blocks, (std::vector<uint32_t>{0}));
  EXPECT_FALSE(core->take_fetch()) << "asked once";
  // From the group, even genuine symbols are not taken for it any more.
  receive_block(*core, 0);
  EXPECT_EQ(core->blocks_done(), 0u);
  // Over the connection: verified and written.
  for (uint8_t e = 0; e < kK; ++e) {
    const auto f = frame(0, e);
    ASSERT_TRUE(core->on_repair(control::Repair{0, e, f}).ok());
  }
  EXPECT_EQ(core->blocks_done(), 1u);
  EXPECT_EQ(verified_, (std::vector<uint32_t>{0}));
  // Other blocks still come from the group.
  receive_block(*core, 1);
  ASSERT_TRUE(core->complete());
  EXPECT_EQ(sink_.bytes, object_);
}

// A receiver on the unicast lane reports too: a piped object's spool waits for its complete_below.
TEST_F(ReceiverCoreMemoryTest, SymbolsOverTheConnectionMoveTheReportedCompleteBlocks) {
  auto core = make_core();
  ASSERT_TRUE(core);
  for (uint32_t b = 0; b < 2; ++b) {
    for (uint8_t e = 0; e < kK; ++e) {
      ASSERT_TRUE(core->on_repair(control::Repair{b, e, frame(b, e)}).ok());
    }
  }
  const auto p = core->make_progress(16);
  ASSERT_TRUE(p) << "block 0 is complete below block 1, the newest seen";
  EXPECT_EQ(p->complete_below, 1u);
  EXPECT_TRUE(p->runs.empty());
  EXPECT_EQ(p->data_frames, 0u) << "the delivery ratio counts the group's frames only";
}

TEST_F(ReceiverCoreMemoryTest, AFetchedBlockFailingOverTheConnectionEndsTheSession) {
  auto core = make_core();
  ASSERT_TRUE(core);
  for (unsigned round = 0; round < ReceiverCore::kFetchAfterFailures; ++round) {
    ASSERT_TRUE(core->on_datagram(insider_frame(1, 2, 50 + round, true)).ok());
    for (const uint8_t e : {uint8_t{0}, uint8_t{1}, uint8_t{3}})
      ASSERT_TRUE(core->on_datagram(frame(1, e)).ok());
  }
  ASSERT_TRUE(core->take_fetch());
  // The sender's own symbols do not match its manifest: its data changed while it sent.
  Status s;
  for (uint8_t e = 0; e < kK && s.ok(); ++e) {
    const auto f = insider_frame(1, e, 900 + e, e == 3);
    s = core->on_repair(control::Repair{1, e, f});
  }
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("block 1 failed verification even as the sender sent it"),
            std::string::npos)
      << s.error();
  EXPECT_TRUE(verified_.empty());
}

// Issue #15 item 3: a resume state never outlives its data, and never names bad data.
class CheckpointerStateTest : public ReceiverCoreMemoryTest {
 protected:
  void TearDown() override { std::filesystem::remove(state_); }
  // A core whose verified blocks go to `ckpt`.
  std::unique_ptr<ReceiverCore> make_core_for(Checkpointer& ckpt) {
    auto core =
        ReceiverCore::make(session_, sink_, 16, nullptr, [&ckpt](uint32_t b) { ckpt.verified(b); });
    EXPECT_TRUE(core.ok()) << core.error();
    if (!core.ok()) return nullptr;
    EXPECT_TRUE((*core)->protect(key_).ok());
    EXPECT_TRUE((*core)->add_hashes(0, manifest_.block_sha256).ok());
    return std::move(*core);
  }
  const std::string state_ =
      (std::filesystem::temp_directory_path() / ("shoal-ckpt-state-" + std::to_string(::getpid())))
          .string();
};

TEST_F(CheckpointerStateTest, NoStateIsSavedWhenTheCommittedObjectFailsLater) {
  Checkpointer ckpt(sink_, state_, object::object_id(session_), session_.object_size, kBlocks,
                    nullptr, SyncPolicy::kEnd);
  auto core = make_core_for(ckpt);
  ASSERT_TRUE(core);
  receive_block(*core, 0);
  receive_block(*core, 1);
  ASSERT_TRUE(ckpt.commit(*core).ok());
  ckpt.abandon();  // e.g. the tree did not unpack: the part file was already renamed away
  EXPECT_FALSE(std::filesystem::exists(state_));
  EXPECT_FALSE(ckpt.kept());
}

TEST_F(CheckpointerStateTest, AFailedLastCheckpointRemovesTheStateBeforeThePartialData) {
  std::ofstream(state_) << "from an earlier run";
  sink_.watch_state = state_;
  Checkpointer ckpt(sink_, state_, object::object_id(session_), session_.object_size, kBlocks,
                    nullptr, SyncPolicy::kEnd);
  auto core = make_core_for(ckpt);
  ASSERT_TRUE(core);
  receive_block(*core, 0);
  sink_.fail_flush = true;  // the disk is full: the last checkpoint cannot be made
  ckpt.abandon();
  EXPECT_FALSE(ckpt.kept());
  EXPECT_TRUE(sink_.abandoned);
  EXPECT_FALSE(sink_.state_left_at_abandon);  // removed before the part file
  EXPECT_FALSE(std::filesystem::exists(state_));
}

}  // namespace
}  // namespace shoal::session
