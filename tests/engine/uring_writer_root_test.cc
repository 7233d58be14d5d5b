// UringWriter cases that need root (ctest label "root"): a loop block device as the output, and
// a 1 MiB tmpfs mounted in a temp dir to run out of space. Each skips loudly without root or
// without loop/tmpfs support.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fd.h"
#include "engine/uring_writer.h"

namespace shoal::engine {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> pread_all(int fd, size_t n) {
  std::vector<uint8_t> out(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(done));
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  out.resize(done);
  return out;
}

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return std::strerror(errno);
  }
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  *status = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = "/var/tmp/shoal-writer-root-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loop device over a file, detached on destruction.
class LoopDevice {
 public:
  // Returns "" on success, else why not.
  std::string attach(const std::string& backing) {
    int status = 0;
    std::string out = run("losetup --find --show '" + backing + "'", &status);
    if (status != 0 || out.rfind("/dev/loop", 0) != 0) return "losetup failed: " + out;
    dev_ = out;
    return "";
  }
  void detach() {
    if (dev_.empty()) return;
    int status = 0;
    run("losetup -d " + dev_, &status);
    dev_.clear();
  }
  ~LoopDevice() { detach(); }
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

struct Mode {
  bool direct;
  bool force_pwrite;
};

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  return std::string(info.param.direct ? "direct" : "buffered") +
         (info.param.force_pwrite ? "_pwrite" : "_uring");
}

class WriterAsRoot : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mount)";
  }
};

TEST_P(WriterAsRoot, LoopDeviceRandomExtentsReadBack) {
  const Mode m = GetParam();
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string backing = dir.path() + "/backing";
  const size_t size = 16u << 20;
  {
    Fd f(::open(backing.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(::ftruncate(f.get(), static_cast<off_t>(size)), 0);
  }
  LoopDevice loop;
  if (std::string why = loop.attach(backing); !why.empty()) GTEST_SKIP() << why;

  const std::vector<uint8_t> image = random_bytes(size, 17);
  {
    Fd dev(::open(loop.dev().c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(dev.valid()) << loop.dev() << ": " << strerror(errno);
    UringWriterOptions o;
    o.direct = m.direct;
    o.force_pwrite = m.force_pwrite;
    o.queue_depth = 8;
    o.buffer_size = 128 << 10;
    o.label = loop.dev();
    auto w = UringWriter::open(dev.get(), o);
    ASSERT_TRUE(w.ok()) << w.error();
    if (m.direct && !(*w)->direct()) GTEST_SKIP() << loop.dev() << " refuses O_DIRECT";
    if (!m.force_pwrite && std::string((*w)->backend()).rfind("io_uring", 0) != 0)
      GTEST_SKIP() << "io_uring unusable: " << (*w)->backend();

    // Unaligned random extents, random order, covering the whole device.
    std::mt19937 rng(23);
    std::vector<std::pair<size_t, size_t>> extents;
    for (size_t off = 0; off < size;) {
      size_t len = std::min(size - off, std::uniform_int_distribution<size_t>(1, 300000)(rng));
      extents.emplace_back(off, len);
      off += len;
    }
    std::shuffle(extents.begin(), extents.end(), rng);
    for (auto [off, len] : extents) {
      Status s = (*w)->write(off, {image.data() + off, len});
      ASSERT_TRUE(s.ok()) << s.error();
    }
    Status s = (*w)->sync();
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ((*w)->bytes_written(), size);

    // Past the device's end: the kernel writes what fits (a short write), the rest is ENOSPC.
    Status past = (*w)->write(size - 4096, {image.data(), 8192});
    if (past.ok()) past = (*w)->drain();
    ASSERT_FALSE(past.ok());
    EXPECT_NE(past.error().find(std::strerror(ENOSPC)), std::string::npos) << past.error();
    EXPECT_EQ((*w)->bytes_written(), size + 4096);
  }
  std::vector<uint8_t> expect = image;
  std::copy_n(image.begin(), 4096, expect.end() - 4096);  // what the past-the-end write left
  {
    Fd dev(::open(loop.dev().c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(dev.valid());
    EXPECT_TRUE(pread_all(dev.get(), size) == expect) << "device content differs";
    // The past-the-end write came after the writer's sync: flush the device's page cache into the
    // backing file before detaching, or the read below can race the loop driver's writeback.
    EXPECT_EQ(::fsync(dev.get()), 0);
  }
  loop.detach();
  Fd f(::open(backing.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(pread_all(f.get(), size) == expect) << "backing file content differs";
}

// A writer on a file in a 1 MiB tmpfs mounted in a scratch dir (unmounted on destruction).
struct SmallDiskWriter {
  ScratchDir dir;
  std::string path;
  std::string skip;  // why it could not be set up (the test skips)
  Fd fd;
  std::unique_ptr<UringWriter> writer;
  bool mounted = false;

  explicit SmallDiskWriter(const Mode& m) {
    if (dir.path().empty()) {
      skip = "mkdtemp failed";
      return;
    }
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m") != 0) {
      skip = std::string("cannot mount a tmpfs: ") + strerror(errno);
      return;
    }
    mounted = true;
    path = dir.path() + "/object";
    fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      skip = std::string("cannot create the object: ") + strerror(errno);
      return;
    }
    UringWriterOptions o;
    o.direct = m.direct;
    o.force_pwrite = m.force_pwrite;
    o.queue_depth = 4;
    o.buffer_size = 64 << 10;
    o.label = path;
    auto w = UringWriter::open(fd.get(), o);
    if (!w) {
      skip = "writer: " + w.error();
      return;
    }
    writer = std::move(*w);
    if (m.direct && !writer->direct()) skip = "this tmpfs refuses O_DIRECT";
  }
  ~SmallDiskWriter() {
    writer.reset();
    fd.reset();
    if (mounted) ::umount2(dir.path().c_str(), MNT_DETACH);
  }
};

TEST_P(WriterAsRoot, FullFilesystemSurfacesEnospc) {
  SmallDiskWriter d(GetParam());
  if (!d.skip.empty()) GTEST_SKIP() << d.skip;
  const std::vector<uint8_t> data = random_bytes(4u << 20, 1);
  Status s;
  for (size_t off = 0; off < data.size() && s.ok(); off += 100000) {
    s = d.writer->write(off, {data.data() + off, std::min<size_t>(100000, data.size() - off)});
  }
  if (s.ok()) s = d.writer->sync();
  ASSERT_FALSE(s.ok()) << "4 MiB fit in a 1 MiB tmpfs?";
  EXPECT_NE(s.error().find(std::strerror(ENOSPC)), std::string::npos) << s.error();
  EXPECT_NE(s.error().find(d.path), std::string::npos) << s.error();
  EXPECT_LE(d.writer->bytes_written(), 1u << 20);
}

// Preallocating more than the disk holds is an error like a write's, with the output named.
TEST_P(WriterAsRoot, PreallocatingMoreThanTheDiskHoldsIsAnError) {
  SmallDiskWriter d(GetParam());
  if (!d.skip.empty()) GTEST_SKIP() << d.skip;
  Status s = d.writer->preallocate(4u << 20);
  if (s.ok()) s = d.writer->drain();
  ASSERT_FALSE(s.ok()) << "4 MiB preallocated in a 1 MiB tmpfs?";
  EXPECT_NE(s.error().find(std::strerror(ENOSPC)), std::string::npos) << s.error();
  EXPECT_NE(s.error().find(d.path), std::string::npos) << s.error();
  EXPECT_FALSE(d.writer->write(0, std::vector<uint8_t>(4096, 1)).ok()) << "the error is sticky";
}

INSTANTIATE_TEST_SUITE_P(Modes, WriterAsRoot,
                         ::testing::Values(Mode{false, false}, Mode{true, false}, Mode{false, true},
                                           Mode{true, true}),
                         mode_name);

}  // namespace
}  // namespace shoal::engine
