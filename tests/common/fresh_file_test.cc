#include "common/fresh_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace shoal {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/shoal-fresh-file-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(FreshFile, ASymlinkAtTheNameIsReplacedNotFollowed) {
  TempDir d;
  const fs::path victim = d.path / "victim";
  std::ofstream(victim) << "precious";
  const fs::path name = d.path / ".out.shoal-part";
  fs::create_symlink(victim, name);
  auto fd = create_fresh_file(name.string(), O_WRONLY);
  ASSERT_TRUE(fd.ok()) << fd.error();
  ASSERT_EQ(::write(fd->get(), "new", 3), 3);
  EXPECT_EQ(read_all(victim), "precious");
  EXPECT_FALSE(fs::is_symlink(name));
  EXPECT_EQ(read_all(name), "new");
}

TEST(FreshFile, AStaleFileIsReplacedByAnEmptyOne) {
  TempDir d;
  const fs::path name = d.path / "state.tmp";
  std::ofstream(name) << "stale";
  auto fd = create_fresh_file(name.string(), O_WRONLY, 0600);
  ASSERT_TRUE(fd.ok()) << fd.error();
  struct stat st {};
  ASSERT_EQ(::fstat(fd->get(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FreshFile, AMissingDirectoryIsAnErrorNamingThePath) {
  auto fd = create_fresh_file("/nonexistent-shoal-dir/x", O_WRONLY);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().find("/nonexistent-shoal-dir/x"), std::string::npos) << fd.error();
}

}  // namespace
}  // namespace shoal
