// ObjectSink never writes through a symlink it did not expect (issue #15 item 4).
#include "object/object_sink.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace shoal::object {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/shoal-object-sink-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Some block device of this machine, or "" (the test is then skipped).
std::string any_block_device() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev", ec)) {
    if (e.is_block_file(ec)) return e.path().string();
  }
  return "";
}

TEST(ObjectSink, APartFileSymlinkIsReplacedNotFollowed) {
  TempDir d;
  const fs::path victim = d.path / "victim";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, d.path / ".out.shoal-part");
  {
    auto sink = ObjectSink::create((d.path / "out").string(), 4096, false, /*reuse=*/false);
    ASSERT_TRUE(sink.ok()) << sink.error();
    EXPECT_FALSE(fs::is_symlink(d.path / ".out.shoal-part"));
  }
  EXPECT_EQ(read_all(victim), "precious");
}

// Free space is checked when the sink opens (the blocks themselves are allocated in the
// background): an object larger than the disk is refused at once, and nothing is left behind.
TEST(ObjectSink, AnObjectLargerThanTheFreeSpaceIsRefusedAtOnce) {
  TempDir d;
  auto sink = ObjectSink::create((d.path / "out").string(), uint64_t{1} << 60, false, false);
  ASSERT_FALSE(sink.ok()) << "1 EiB fits in " << d.path;
  EXPECT_NE(sink.error().find("not enough disk space"), std::string::npos) << sink.error();
  EXPECT_TRUE(fs::is_empty(d.path)) << "a part file was left behind";
}

TEST(ObjectSink, AResumedPartFileThatIsASymlinkIsRefused) {
  TempDir d;
  const fs::path victim = d.path / "victim";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, d.path / ".out.shoal-part");
  auto sink = ObjectSink::create((d.path / "out").string(), 4096, false, /*reuse=*/true);
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.error().find("symbolic link"), std::string::npos) << sink.error();
  EXPECT_EQ(read_all(victim), "precious");
}

TEST(ObjectSink, OutThroughASymlinkOutsideDevToABlockDeviceIsRefused) {
  const std::string device = any_block_device();
  if (device.empty()) GTEST_SKIP() << "no block device under /dev";
  TempDir d;
  const fs::path out = d.path / "image.img";
  fs::create_symlink(device, out);
  auto sink = ObjectSink::create(out.string(), 1, false, /*reuse=*/false);
  ASSERT_FALSE(sink.ok()) << "wrote to " << device << " through " << out;
  EXPECT_NE(sink.error().find("symbolic link to the block device"), std::string::npos)
      << sink.error();
  EXPECT_NE(sink.error().find("--out " + fs::canonical(device).string()), std::string::npos)
      << sink.error();
  auto named = names_block_device(out.string());
  EXPECT_FALSE(named.ok());
}

TEST(ObjectSink, ALinkThatOnlySpellsDevInItsPathIsNotUnderDev) {
  const std::string device = any_block_device();
  if (device.empty()) GTEST_SKIP() << "no block device under /dev";
  TempDir d;
  fs::create_symlink(device, d.path / "image.img");
  const std::string out = "/dev/.." + (d.path / "image.img").string();  // lives in /tmp
  auto named = names_block_device(out);
  ASSERT_FALSE(named.ok()) << out << " taken for a udev link";
  EXPECT_NE(named.error().find("symbolic link to the block device"), std::string::npos)
      << named.error();
}

TEST(ObjectSink, ADeviceNamedDirectlyOrByAUdevLinkIsABlockDevice) {
  const std::string device = any_block_device();
  if (device.empty()) GTEST_SKIP() << "no block device under /dev";
  auto named = names_block_device(device);
  ASSERT_TRUE(named.ok()) << named.error();
  EXPECT_TRUE(*named);
  TempDir d;
  auto file = names_block_device((d.path / "new-file").string());
  ASSERT_TRUE(file.ok()) << file.error();
  EXPECT_FALSE(*file);
  // A link under /dev, as udev makes them (/dev/disk/by-id/...): needs root to create.
  const fs::path link = "/dev/shoal-test-link-" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_symlink(device, link, ec);
  if (ec) GTEST_SKIP() << "cannot create " << link << ": " << ec.message();
  auto linked = names_block_device(link.string());
  fs::remove(link);
  ASSERT_TRUE(linked.ok()) << linked.error();
  EXPECT_TRUE(*linked);
}

}  // namespace
}  // namespace shoal::object
