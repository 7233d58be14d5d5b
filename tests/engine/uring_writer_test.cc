// UringWriter: random extents written in random order read back byte-equal, on the disk and on
// tmpfs, buffered and O_DIRECT, io_uring and forced pwrite; back-pressure with more writes than
// buffers; errors surface as a Status. Cases that need something this machine lacks skip loudly.
// Root-only cases (loop device, full tmpfs) are in uring_writer_root_test.cc.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fd.h"
#include "engine/uring_writer.h"

namespace shoal::engine {
namespace {

namespace fs = std::filesystem;

// A private directory under `base`, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& base) {
    std::string tmpl = base + "/shoal-writer-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

struct Extent {
  uint64_t offset;
  size_t length;
};

// Cuts [0, size) into pieces of 1..max_len bytes (multiples of `align` except the last), shuffled.
std::vector<Extent> random_extents(uint64_t size, size_t max_len, size_t align, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Extent> out;
  for (uint64_t off = 0; off < size;) {
    size_t len = std::uniform_int_distribution<size_t>(1, max_len)(rng);
    if (align > 1) len = std::max(align, len / align * align);
    len = static_cast<size_t>(std::min<uint64_t>(len, size - off));
    out.push_back({off, len});
    off += len;
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<uint8_t> out;
  if (!fd) return out;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

// First differing offset, or -1 when equal (gives a readable failure instead of a byte dump).
int64_t first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return static_cast<int64_t>(std::min(a.size(), b.size()));
  auto m = std::mismatch(a.begin(), a.end(), b.begin());
  return m.first == a.end() ? -1 : m.first - a.begin();
}

std::string base_dir(const std::string& kind) {
  if (kind == "shm") return "/dev/shm";
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/var/tmp";  // /var/tmp: a disk, not tmpfs, usually
}

// Writes `image` as the given extents through a writer on `path`, polling between writes.
Status write_image(UringWriter& w, const std::vector<uint8_t>& image,
                   const std::vector<Extent>& extents) {
  for (const Extent& e : extents) {
    Status s = w.write(e.offset, {image.data() + e.offset, e.length});
    if (!s) return s;
    if (Status p = w.poll(); !p) return p;
  }
  return w.sync();
}

struct Case {
  const char* dir;  // "disk" or "shm"
  bool direct;
  bool force_pwrite;
};

class WriterReadBack : public ::testing::TestWithParam<Case> {};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.dir) + (info.param.direct ? "_direct" : "_buffered") +
         (info.param.force_pwrite ? "_pwrite" : "_uring");
}

// Opens a writer for the case or explains why the case cannot run here ("" = ok).
std::string open_for_case(const Case& c, int fd, UringWriterOptions o,
                          std::unique_ptr<UringWriter>* out) {
  o.direct = c.direct;
  o.force_pwrite = c.force_pwrite;
  auto w = UringWriter::open(fd, o);
  if (!w) return "open failed: " + w.error();
  if (c.direct && !(*w)->direct()) return "the filesystem refuses O_DIRECT";
  if (!c.force_pwrite && std::string((*w)->backend()).rfind("io_uring", 0) != 0) {
    return std::string("io_uring unusable here: backend is ") + (*w)->backend();
  }
  *out = std::move(*w);
  return "";
}

TEST_P(WriterReadBack, RandomExtentsInRandomOrder) {
  const Case c = GetParam();
  TempDir dir(base_dir(c.dir));
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp in " << base_dir(c.dir) << ": " << strerror(errno);
  const std::string path = dir.path() + "/object";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid()) << strerror(errno);

  const uint64_t size = (8u << 20) + 12345;  // not page-aligned: exercises the buffered tail
  const std::vector<uint8_t> image = random_bytes(size, 7);
  // Unaligned extents up to 600 KiB against 256 KiB buffers: writes span several buffers, and
  // in direct mode each has an unaligned head and tail.
  const std::vector<Extent> extents = random_extents(size, 600 << 10, 1, 11);

  UringWriterOptions o;
  o.queue_depth = 8;
  o.buffer_size = 256 << 10;
  o.label = path;
  std::unique_ptr<UringWriter> w;
  if (std::string why = open_for_case(c, fd.get(), o, &w); !why.empty()) GTEST_SKIP() << why;

  Status s = write_image(*w, image, extents);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(w->bytes_written(), size);
  EXPECT_EQ(w->in_flight(), 0u);
  w.reset();
  const std::vector<uint8_t> back = read_file(path);
  EXPECT_EQ(back.size(), size) << "file size changed: the tail was padded or lost";
  EXPECT_EQ(first_difference(back, image), -1);
}

TEST_P(WriterReadBack, AlignedBlockLayoutWithPartialLastBlock) {
  // The receiver's case: 90112-byte blocks (64 x 1408), the last one partial, into a file
  // preallocated to the object's size.
  const Case c = GetParam();
  TempDir dir(base_dir(c.dir));
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/object";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid()) << strerror(errno);
  const size_t block = 64 * 1408;
  const uint64_t size = 70 * block + 5000;
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);

  UringWriterOptions o;
  o.queue_depth = 4;
  o.buffer_size = block;
  std::unique_ptr<UringWriter> w;
  if (std::string why = open_for_case(c, fd.get(), o, &w); !why.empty()) GTEST_SKIP() << why;

  const std::vector<uint8_t> image = random_bytes(size, 3);
  std::vector<Extent> blocks;
  for (uint64_t off = 0; off < size; off += block) {
    blocks.push_back({off, static_cast<size_t>(std::min<uint64_t>(block, size - off))});
  }
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(5));
  Status s = write_image(*w, image, blocks);
  ASSERT_TRUE(s.ok()) << s.error();

  if (c.direct && std::string(c.dir) == "disk") {
    // O_DIRECT bypasses the page cache: whole pages must not be resident, the buffered tail must.
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(map, MAP_FAILED) << strerror(errno);
    std::vector<unsigned char> resident((size + 4095) / 4096);
    ASSERT_EQ(::mincore(map, size, resident.data()), 0) << strerror(errno);
    size_t cached_whole_pages = 0;
    for (size_t p = 0; p + 1 < resident.size(); ++p) cached_whole_pages += resident[p] & 1;
    EXPECT_EQ(cached_whole_pages, 0u) << "whole pages went through the page cache";
    EXPECT_EQ(resident.back() & 1, 1) << "the partial last page was not written buffered";
    ::munmap(map, size);
  }
  w.reset();
  const std::vector<uint8_t> back = read_file(path);
  EXPECT_EQ(back.size(), size);
  EXPECT_EQ(first_difference(back, image), -1);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, WriterReadBack,
                         ::testing::Values(Case{"disk", false, false}, Case{"disk", true, false},
                                           Case{"disk", false, true}, Case{"disk", true, true},
                                           Case{"shm", false, false}, Case{"shm", true, false},
                                           Case{"shm", false, true}, Case{"shm", true, true}),
                         case_name);

class UringWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/object";
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd_.valid()) << strerror(errno);
  }
  std::unique_ptr<UringWriter> open_uring(UringWriterOptions o) {
    auto w = UringWriter::open(fd_.get(), o);
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error());
    if (!w.ok()) return nullptr;
    if (std::string((*w)->backend()).rfind("io_uring", 0) != 0) {
      skip_ = std::string("io_uring unusable here: backend is ") + (*w)->backend();
      return nullptr;
    }
    return std::move(*w);
  }
  std::string skip_;  // why open_uring returned nullptr

  TempDir dir_{base_dir("disk")};
  std::string path_;
  Fd fd_;
};

TEST_F(UringWriterTest, MoreWritesThanBuffersInFlight) {
  for (unsigned batch : {1u, 2u, 64u}) {
    SCOPED_TRACE("submit_batch " + std::to_string(batch));
    ASSERT_EQ(::ftruncate(fd_.get(), 0), 0);
    UringWriterOptions o;
    o.queue_depth = 2;
    o.buffer_size = 64 << 10;
    o.submit_batch = batch;
    auto w = open_uring(o);
    if (!w) GTEST_SKIP() << skip_;
    const uint64_t size = 200 * (64 << 10);
    const std::vector<uint8_t> image = random_bytes(size, batch);
    for (const Extent& e : random_extents(size, 64 << 10, 64 << 10, batch)) {
      Status s = w->write(e.offset, {image.data() + e.offset, e.length});
      ASSERT_TRUE(s.ok()) << s.error();
      ASSERT_LE(w->in_flight(), w->queue_depth());
    }
    EXPECT_EQ(w->stats().writes, 200u);
    ASSERT_TRUE(w->drain().ok());
    EXPECT_EQ(w->in_flight(), 0u);
    EXPECT_EQ(first_difference(read_file(path_), image), -1);
  }
}

TEST_F(UringWriterTest, OneWriteLargerThanTheWholeRing) {
  UringWriterOptions o;
  o.queue_depth = 2;
  o.buffer_size = 64 << 10;
  auto w = open_uring(o);
  if (!w) GTEST_SKIP() << skip_;
  const std::vector<uint8_t> image = random_bytes((5u << 20) + 17, 9);  // 81 buffers' worth
  ASSERT_TRUE(w->write(0, image).ok());
  ASSERT_TRUE(w->drain().ok());
  EXPECT_EQ(w->stats().writes, 81u);  // 81 buffers' worth through 2 buffers
  EXPECT_EQ(first_difference(read_file(path_), image), -1);
}

TEST_F(UringWriterTest, ForcedPwriteWritesTheSameBytes) {
  const uint64_t size = (3u << 20) + 999;
  const std::vector<uint8_t> image = random_bytes(size, 21);
  const std::vector<Extent> extents = random_extents(size, 300 << 10, 1, 22);
  const std::string other = dir_.path() + "/object-pwrite";
  Fd fd2(::open(other.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd2.valid());
  UringWriterOptions o;
  o.direct = true;
  auto u = open_uring(o);
  if (!u) GTEST_SKIP() << skip_;
  o.force_pwrite = true;
  auto p = UringWriter::open(fd2.get(), o);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(std::string((*p)->backend()), "pwrite (forced)");
  ASSERT_TRUE(write_image(*u, image, extents).ok());
  ASSERT_TRUE(write_image(**p, image, extents).ok());
  const std::vector<uint8_t> a = read_file(path_), b = read_file(other);
  EXPECT_EQ(first_difference(a, b), -1);
  EXPECT_EQ(first_difference(a, image), -1);
}

TEST_F(UringWriterTest, StartsWritebackEveryWritebackBytesOfBufferedData) {
  for (bool force_pwrite : {false, true}) {
    for (bool direct : {false, true}) {
      SCOPED_TRACE(std::string(force_pwrite ? "pwrite" : "io_uring") +
                   (direct ? " direct" : " buffered"));
      ASSERT_EQ(::ftruncate(fd_.get(), 0), 0);
      UringWriterOptions o;
      o.buffer_size = 1 << 20;
      o.writeback_bytes = 1 << 20;
      o.direct = direct;
      o.force_pwrite = force_pwrite;
      auto w = UringWriter::open(fd_.get(), o);
      ASSERT_TRUE(w.ok()) << w.error();
      if (!force_pwrite && std::string((*w)->backend()).rfind("io_uring", 0) != 0) {
        GTEST_SKIP() << skip_;
      }
      if (direct && !(*w)->direct()) GTEST_SKIP() << "the filesystem refuses O_DIRECT";
      const std::vector<uint8_t> image = random_bytes(8u << 20, 8);
      for (uint64_t off = 0; off < image.size(); off += 1 << 20) {
        ASSERT_TRUE((*w)->write(off, {image.data() + off, size_t{1} << 20}).ok());
      }
      ASSERT_TRUE((*w)->sync().ok());
      // Whole aligned pages go O_DIRECT and dirty nothing: no writeback to start.
      EXPECT_EQ((*w)->stats().writeback_kicks, direct ? 0u : 8u);
      EXPECT_EQ(first_difference(read_file(path_), image), -1);
    }
  }
}

TEST_F(UringWriterTest, PwriteDirectFromAlignedAndUnalignedMemory) {
  // Aligned caller memory goes to the O_DIRECT descriptor as is; unaligned through the bounce
  // buffer. Same bytes either way.
  UringWriterOptions o;
  o.direct = true;
  o.force_pwrite = true;
  o.buffer_size = 64 << 10;
  auto w = UringWriter::open(fd_.get(), o);
  ASSERT_TRUE(w.ok()) << w.error();
  if (!(*w)->direct()) GTEST_SKIP() << "the filesystem refuses O_DIRECT";
  const size_t half = 1 << 20;
  const std::vector<uint8_t> image = random_bytes(2 * half, 31);
  AlignedBuffer aligned = AlignedBuffer::map(half);
  ASSERT_FALSE(aligned.empty());
  std::memcpy(aligned.data(), image.data(), half);
  std::vector<uint8_t> unaligned_store(half + 1);
  std::memcpy(unaligned_store.data() + 1, image.data() + half, half);
  ASSERT_TRUE((*w)->write(0, {aligned.data(), half}).ok());
  ASSERT_TRUE((*w)->write(half, {unaligned_store.data() + 1, half}).ok());
  ASSERT_TRUE((*w)->sync().ok());
  EXPECT_EQ((*w)->bytes_written(), 2 * half);
  EXPECT_EQ(first_difference(read_file(path_), image), -1);
}

TEST_F(UringWriterTest, WaitRangeMakesBytesReadableBeforeDrain) {
  UringWriterOptions o;
  o.submit_batch = 32;  // keep writes queued: only wait_range may push them out
  auto w = open_uring(o);
  if (!w) GTEST_SKIP() << skip_;
  const std::vector<uint8_t> image = random_bytes(1 << 20, 4);
  ASSERT_TRUE(w->write(0, image).ok());
  ASSERT_TRUE(w->wait_range(0, image.size()).ok());
  std::vector<uint8_t> back(image.size());
  ASSERT_EQ(::pread(fd_.get(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(first_difference(back, image), -1);
}

TEST_F(UringWriterTest, SyncReportsSuccessAndEmptyWritesAreNoOps) {
  UringWriterOptions o;
  auto w = open_uring(o);
  if (!w) GTEST_SKIP() << skip_;
  ASSERT_TRUE(w->write(123, {}).ok());
  EXPECT_EQ(w->stats().writes, 0u);
  ASSERT_TRUE(w->sync().ok());
  EXPECT_EQ(read_file(path_).size(), 0u);
}

// Preallocation runs beside the writes (on the ring) or inline (pwrite): either way the blocks are
// allocated once drain() returns, and the bytes written meanwhile are intact.
TEST_F(UringWriterTest, PreallocatesWhileWritesAreQueued) {
  if (::fallocate(fd_.get(), 0, 0, 4096) != 0) {
    GTEST_SKIP() << "the filesystem of " << path_ << " cannot preallocate: " << strerror(errno);
  }
  for (bool force_pwrite : {false, true}) {
    SCOPED_TRACE(force_pwrite ? "pwrite" : "io_uring");
    ASSERT_EQ(::ftruncate(fd_.get(), 0), 0);
    const uint64_t size = 8u << 20;
    ASSERT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(size)),
              0);  // sparse, as ObjectSink leaves it
    UringWriterOptions o;
    o.queue_depth = 4;
    o.buffer_size = 64 << 10;
    o.force_pwrite = force_pwrite;
    auto w = UringWriter::open(fd_.get(), o);
    ASSERT_TRUE(w.ok()) << w.error();
    const std::vector<uint8_t> head = random_bytes(1u << 20, 31);
    ASSERT_TRUE((*w)->preallocate(size).ok());
    ASSERT_TRUE((*w)->write(0, head).ok());
    ASSERT_TRUE((*w)->drain().ok());
    struct stat st {};
    ASSERT_EQ(::fstat(fd_.get(), &st), 0);
    EXPECT_EQ(uint64_t(st.st_size), size);
    EXPECT_GE(uint64_t(st.st_blocks) * 512, size) << "blocks not allocated";
    std::vector<uint8_t> back = read_file(path_);
    back.resize(head.size());
    EXPECT_EQ(first_difference(back, head), -1);
  }
}

TEST(UringWriterErrors, WriteErrorSurfacesAsStickyStatus) {
  // /dev/full fails every write with ENOSPC, no root needed.
  Fd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  if (!full) GTEST_SKIP() << "no /dev/full: " << strerror(errno);
  for (bool force_pwrite : {false, true}) {
    SCOPED_TRACE(force_pwrite ? "pwrite" : "io_uring");
    UringWriterOptions o;
    o.force_pwrite = force_pwrite;
    o.label = "/dev/full";
    auto w = UringWriter::open(full.get(), o);
    ASSERT_TRUE(w.ok()) << w.error();
    const std::vector<uint8_t> data(100000, 0xAB);
    Status first = (*w)->write(0, data);
    Status drained = (*w)->drain();
    ASSERT_FALSE(drained.ok());
    EXPECT_NE(drained.error().find(std::strerror(ENOSPC)), std::string::npos) << drained.error();
    EXPECT_NE(drained.error().find("/dev/full"), std::string::npos) << drained.error();
    if (force_pwrite) {
      EXPECT_FALSE(first.ok());  // synchronous backend: the write itself fails
    }
    Status later = (*w)->write(0, data);
    EXPECT_FALSE(later.ok());
    EXPECT_EQ(later.error(), drained.error());
    EXPECT_EQ((*w)->bytes_written(), 0u);
  }
}

TEST(UringWriterErrors, RejectsReadOnlyDescriptorAndBadOptions) {
  Fd ro(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro.valid());
  auto w = UringWriter::open(ro.get(), {});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().find("read-only"), std::string::npos) << w.error();

  Fd rw(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(rw.valid());
  UringWriterOptions o;
  o.queue_depth = 0;
  EXPECT_FALSE(UringWriter::open(rw.get(), o).ok());
  o.queue_depth = 4096;
  EXPECT_FALSE(UringWriter::open(rw.get(), o).ok());
  o.queue_depth = 4;
  o.buffer_size = 0;
  EXPECT_FALSE(UringWriter::open(rw.get(), o).ok());
  o.buffer_size = 4096;
  EXPECT_TRUE(UringWriter::open(rw.get(), o).ok());
}

TEST(UringWriterErrors, RejectsDescriptorAlreadyInDirectMode) {
  TempDir dir(base_dir("disk"));
  const std::string path = dir.path() + "/f";
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644));
  if (!fd) GTEST_SKIP() << "the filesystem refuses O_DIRECT: " << strerror(errno);
  auto w = UringWriter::open(fd.get(), {});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().find("O_DIRECT"), std::string::npos) << w.error();
}

}  // namespace
}  // namespace shoal::engine
