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
  return s;
}

TEST(ResumeState, RoundTripsAndIsAbsentWhenMissing) {
  TempDir d;
  std::string p = (d.path / "x.state").string();
  auto none = load_resume_state(p);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ResumeState st;
  st.id = object_id(session(1000));
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

// The id names the size, layout and format; content is checked block by block as the hashes
// arrive (ReceiverCore: ResumedBlocks*), so the session id and name do not matter.
TEST(ResumeState, ObjectIdChangesWithTheSizeLayoutOrFormat) {
  auto base = object_id(session(1000));
  EXPECT_NE(base, object_id(session(1001)));
  auto other = session(1000);
  other.k = 32;
  EXPECT_NE(base, object_id(other));
  other = session(1000);
  other.symbol_size = 1024;
  EXPECT_NE(base, object_id(other));
  other = session(1000);
  other.object_format = control::kObjectFormatZstd;
  EXPECT_NE(base, object_id(other));
  other = session(1000);
  other.session_id = 99;
  other.object_name = "renamed.img";
  EXPECT_EQ(base, object_id(other));
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

}  // namespace
}  // namespace shoal::object
