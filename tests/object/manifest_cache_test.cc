// ManifestCache: a hit only for the same file, unchanged, at the same layout; anything else, and
// any damaged entry, is a miss; the directory stays bounded.
#include "object/manifest_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/fd.h"

namespace shoal::object {
namespace {

namespace fs = std::filesystem;

class ManifestCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shoal-mc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ / "object.bin";
    write_file(200'000, 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_file(size_t size, unsigned seed) {
    std::vector<char> data(size);
    std::mt19937 rng(seed);
    for (char& c : data) c = static_cast<char>(rng());
    std::ofstream(file_, std::ios::binary | std::ios::trunc).write(data.data(), data.size());
    bytes_.assign(data.begin(), data.end());
  }
  FileIdentity identity() const {
    Fd fd(::open(file_.c_str(), O_RDONLY));
    auto id = ManifestCache::identify(fd.get());
    EXPECT_TRUE(id);
    return id.value_or(FileIdentity{});
  }
  fec::BlockLayout layout(unsigned k = 16) const {
    return *fec::BlockLayout::make(bytes_.size(), 1024, k);
  }
  Manifest manifest(const fec::BlockLayout& l) const { return build_manifest(bytes_, l); }
  std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_ / "cache")) out.push_back(e.path());
    return out;
  }

  fs::path dir_, file_;
  std::vector<uint8_t> bytes_;
};

TEST_F(ManifestCacheTest, TheSameFileAtTheSameLayoutIsAHit) {
  ManifestCache cache((dir_ / "cache").string());
  const auto l = layout();
  EXPECT_FALSE(cache.load(identity(), l)) << "empty cache";
  const Manifest m = manifest(l);
  ASSERT_TRUE(cache.store(identity(), l, m).ok());
  auto hit = cache.load(identity(), l);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->object_sha256, m.object_sha256);
  EXPECT_EQ(hit->block_sha256, m.block_sha256);
  EXPECT_EQ(fs::status(dir_ / "cache").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST_F(ManifestCacheTest, AnotherLayoutOrAChangedFileIsAMiss) {
  ManifestCache cache((dir_ / "cache").string());
  ASSERT_TRUE(cache.store(identity(), layout(), manifest(layout())).ok());
  EXPECT_FALSE(cache.load(identity(), layout(32))) << "another k";
  const FileIdentity before = identity();
  write_file(200'000, 2);  // rewritten in place, same size
  // Even with the old modification time given back, the change time differs.
  struct timespec times[2] = {{0, UTIME_OMIT},
                              {before.mtime_ns / 1'000'000'000, before.mtime_ns % 1'000'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file_.c_str(), times, 0), 0);
  const FileIdentity after = identity();
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_EQ(after.ino, before.ino);
  EXPECT_FALSE(cache.load(after, layout())) << "same mtime, new ctime";
}

TEST_F(ManifestCacheTest, ADamagedOrTruncatedEntryIsAMiss) {
  ManifestCache cache((dir_ / "cache").string());
  const auto l = layout();
  ASSERT_TRUE(cache.store(identity(), l, manifest(l)).ok());
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries()[0];
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(100);
    c = static_cast<char>(c ^ 0x01);
    f.write(&c, 1);
  }
  EXPECT_FALSE(cache.load(identity(), l)) << "one flipped bit in a block hash";
  ASSERT_TRUE(cache.store(identity(), l, manifest(l)).ok());
  ASSERT_TRUE(cache.load(identity(), l));
  fs::resize_file(entry, fs::file_size(entry) - 1);
  EXPECT_FALSE(cache.load(identity(), l)) << "truncated";
}

TEST_F(ManifestCacheTest, OnlyRegularFilesAreCacheable) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Fd r(p[0]), w(p[1]);
  EXPECT_FALSE(ManifestCache::identify(r.get()));
}

TEST_F(ManifestCacheTest, TheDirectoryKeepsAtMostMaxEntries) {
  ManifestCache cache((dir_ / "cache").string());
  FileIdentity id = identity();
  const auto l = layout();
  const Manifest m = manifest(l);
  for (size_t i = 0; i < ManifestCache::kMaxEntries + 5; ++i) {
    id.ino = 1000 + i;  // as many different files
    ASSERT_TRUE(cache.store(id, l, m).ok());
  }
  EXPECT_EQ(entries().size(), ManifestCache::kMaxEntries);
}

}  // namespace
}  // namespace shoal::object
