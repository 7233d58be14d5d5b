#include "object/resume_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fec/layout.h"
#include "object/manifest.h"
#include "object/object_sink.h"

namespace shoal::object {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char t[] = "/tmp/shoal-resume-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

control::Session session(uint64_t size) {
  control::Session s;
  s.object_size = size;
  s.symbol_size = 1408;
  s.k = 64;
  s.block_count = 3;
  s.object_sha256[0] = 7;
  return s;
}

TEST(ResumeState, RoundTripsAndIsAbsentWhenMissing) {
  TempDir d;
  std::string p = (d.path / "x.state").string();
  auto none = load_resume_state(p);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ResumeState st;
  std::vector<control::Digest> hashes(3);
  st.id = object_id(session(1000), hashes);
  st.object_size = 1000;
  st.block_count = 11;
  st.verified.assign(2, 0);
  st.set(0);
  st.set(10);
  ASSERT_TRUE(save_resume_state(p, st).ok());
  auto back = load_resume_state(p);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->id, st.id);
  EXPECT_EQ((*back)->block_count, 11u);
  EXPECT_TRUE((*back)->has(0));
  EXPECT_TRUE((*back)->has(10));
  EXPECT_FALSE((*back)->has(5));
  EXPECT_EQ((*back)->count(), 2u);
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
}

TEST(ResumeState, CorruptionIsAnErrorNamingTheFile) {
  TempDir d;
  std::string p = (d.path / "x.state").string();
  ResumeState st;
  st.block_count = 8;
  st.verified.assign(1, 0xFF);
  ASSERT_TRUE(save_resume_state(p, st).ok());
  for (size_t at : {0u, 20u, 52u}) {
    ASSERT_TRUE(save_resume_state(p, st).ok());
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(0x5A));
    f.close();
    auto r = load_resume_state(p);
    ASSERT_FALSE(r.ok()) << "byte " << at;
    EXPECT_NE(r.error().find(p), std::string::npos);
    EXPECT_NE(r.error().find("corrupt"), std::string::npos);
  }
  std::filesystem::resize_file(p, 10);
  EXPECT_FALSE(load_resume_state(p).ok());
}

TEST(ResumeState, ObjectIdChangesWithTheObjectOrItsLayout) {
  std::vector<control::Digest> hashes(3);
  auto base = object_id(session(1000), hashes);
  EXPECT_NE(base, object_id(session(1001), hashes));
  auto other = session(1000);
  other.k = 32;
  EXPECT_NE(base, object_id(other, hashes));
  hashes[2][5] = 1;
  EXPECT_NE(base, object_id(session(1000), hashes));
}

TEST(ResumeState, SavingReplacesASymlinkedTemporaryFileWithoutFollowingIt) {
  TempDir d;
  const std::filesystem::path victim = d.path / "victim";
  std::ofstream(victim) << "precious";
  const std::string p = (d.path / "x.state").string();
  std::filesystem::create_symlink(victim, p + ".tmp");
  ResumeState st;
  st.block_count = 8;
  st.verified.assign(1, 0x0F);
  ASSERT_TRUE(save_resume_state(p, st).ok());
  std::ifstream v(victim);
  std::string text;
  std::getline(v, text);
  EXPECT_EQ(text, "precious");
  auto back = load_resume_state(p);
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->count(), 4u);
}

// Issue #15 item 3: a state whose data changed or went since it was saved forgets those blocks.
class RecheckResumedBlocks : public ::testing::Test {
 protected:
  void SetUp() override {
    data_.resize(3 * 4 * 512 - 100);  // three blocks of k = 4 x 512, the last one short
    std::mt19937 rng(5);
    for (auto& b : data_) b = static_cast<uint8_t>(rng());
    auto layout = fec::BlockLayout::make(data_.size(), 512, 4);
    ASSERT_TRUE(layout.ok()) << layout.error();
    layout_ = *layout;
    manifest_ = build_manifest(data_, layout_);
    state_.block_count = 3;
    state_.verified.assign(1, 0);
    for (uint32_t b = 0; b < 3; ++b) state_.set(b);
  }
  // The partial data an earlier run left: `data` as `.out.shoal-part`, reopened for a resume.
  ObjectSink reopen(const std::vector<uint8_t>* data) {
    const std::string out = (dir_.path / "out").string();
    if (data != nullptr) {
      std::ofstream(dir_.path / ".out.shoal-part", std::ios::binary)
          .write(reinterpret_cast<const char*>(data->data()),
                 static_cast<std::streamsize>(data->size()));
    }
    auto sink = ObjectSink::create(out, data_.size(), false, /*reuse=*/true);
    EXPECT_TRUE(sink.ok()) << sink.error();
    return std::move(*sink);
  }

  TempDir dir_;
  std::vector<uint8_t> data_;
  fec::BlockLayout layout_;
  Manifest manifest_;
  ResumeState state_;
};

TEST_F(RecheckResumedBlocks, KeepsBlocksThatStillHashRight) {
  ObjectSink sink = reopen(&data_);
  auto forgotten = recheck_resumed_blocks(state_, sink, layout_, manifest_.block_sha256);
  ASSERT_TRUE(forgotten.ok()) << forgotten.error();
  EXPECT_EQ(*forgotten, 0u);
  EXPECT_EQ(state_.count(), 3u);
}

TEST_F(RecheckResumedBlocks, ForgetsABlockWhoseDataChanged) {
  std::vector<uint8_t> changed = data_;
  changed[layout_.block_offset(1) + 7] ^= 0x01;
  ObjectSink sink = reopen(&changed);
  auto forgotten = recheck_resumed_blocks(state_, sink, layout_, manifest_.block_sha256);
  ASSERT_TRUE(forgotten.ok()) << forgotten.error();
  EXPECT_EQ(*forgotten, 1u);
  EXPECT_TRUE(state_.has(0));
  EXPECT_FALSE(state_.has(1));
  EXPECT_TRUE(state_.has(2));
}

TEST_F(RecheckResumedBlocks, ForgetsEveryBlockWhenThePartialDataIsGone) {
  ObjectSink sink = reopen(nullptr);  // the state outlived its part file: a fresh, empty one
  auto forgotten = recheck_resumed_blocks(state_, sink, layout_, manifest_.block_sha256);
  ASSERT_TRUE(forgotten.ok()) << forgotten.error();
  EXPECT_EQ(*forgotten, 3u);
  EXPECT_EQ(state_.count(), 0u);
}

}  // namespace
}  // namespace shoal::object
