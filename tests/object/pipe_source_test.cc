// `send - --size` (#17 item 3): stdin read while sending, through a spool that holds only what the
// driver has not released. Bytes arrive in order and the mapping shows them; the reader waits
// while the spool is full; released bytes leave the disk; a pipe shorter or longer than --size is
// an error naming both lengths; and the manifest hashed from the pipe is the file's.
#include "object/pipe_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "fec/layout.h"
#include "object/manifest_stream.h"

namespace shoal::object {
namespace {

constexpr size_t kBlock = size_t{1} << 20;

struct Pipe {
  Pipe() { EXPECT_EQ(::pipe(fd), 0); }
  ~Pipe() {
    close_write();
    if (fd[0] >= 0) ::close(fd[0]);
  }
  void close_write() {
    if (fd[1] >= 0) ::close(fd[1]);
    fd[1] = -1;
  }
  int fd[2] = {-1, -1};
};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(1 + (i * 7 + i / 251) % 255);
  return v;
}

// Writes `data` into the pipe from a thread of its own (a pipe holds 64 KiB), then closes it.
struct Writer {
  Writer(Pipe& p, std::span<const uint8_t> data)
      : t([&p, data] {
          for (size_t at = 0; at < data.size();) {
            const ssize_t n = ::write(p.fd[1], data.data() + at, data.size() - at);
            if (n <= 0) break;
            at += size_t(n);
          }
          p.close_write();
        }) {}
  ~Writer() { t.join(); }
  std::thread t;
};

std::string spool_dir_for_tests() {
  return std::filesystem::temp_directory_path().string();
}

TEST(PipeSource, BlocksArriveInOrderAndTheMappingShowsThem) {
  const std::vector<uint8_t> object = pattern(3 * kBlock + 1000);
  Pipe p;
  auto src = PipeSource::create(p.fd[0], object.size(), spool_dir_for_tests(), 8 * kBlock);
  ASSERT_TRUE(src.ok()) << src.error();
  Writer w(p, object);
  std::stop_source stop;
  for (size_t at = 0; at < object.size(); at += kBlock) {
    const size_t len = std::min(kBlock, object.size() - at);
    auto got = (*src)->next(len, stop.get_token());
    ASSERT_TRUE(got.ok()) << got.error();
    ASSERT_EQ(got->size(), len);
    EXPECT_TRUE(std::equal(got->begin(), got->end(), object.begin() + long(at)));
    EXPECT_EQ(std::memcmp((*src)->bytes().data() + at, object.data() + at, len), 0);
  }
  EXPECT_EQ((*src)->peak_bytes(), object.size());
}

TEST(PipeSource, TheReaderWaitsWhileTheSpoolIsFullAndReleasedBytesLeaveTheDisk) {
  constexpr size_t kBlocks = 12;
  const std::vector<uint8_t> object = pattern(kBlocks * kBlock);
  Pipe p;
  auto src = PipeSource::create(p.fd[0], object.size(), spool_dir_for_tests(), 3 * kBlock);
  ASSERT_TRUE(src.ok()) << src.error();
  PipeSource& s = **src;
  Writer w(p, object);
  std::stop_source stop;
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(s.next(kBlock, stop.get_token()).ok());
  EXPECT_FALSE(s.full());
  std::atomic<bool> returned{false};
  std::thread fourth([&] {
    EXPECT_TRUE(s.next(kBlock, stop.get_token()).ok());
    returned = true;
  });
  while (!s.full()) std::this_thread::yield();  // it waits inside next() for room
  EXPECT_FALSE(returned);
  EXPECT_EQ(s.held_bytes(), 3 * kBlock);
  s.release_below(kBlock);
  fourth.join();
  EXPECT_TRUE(returned);
  // The rest, releasing as a driver would: the spool never holds more than its bound.
  for (size_t b = 4; b < kBlocks; ++b) {
    s.release_below((b - 2) * kBlock);
    ASSERT_TRUE(s.next(kBlock, stop.get_token()).ok());
  }
  EXPECT_EQ(s.peak_bytes(), 3 * kBlock);
  // Released bytes were punched out of the file: the mapping reads zeros where data was.
  const auto bytes = s.bytes();
  EXPECT_TRUE(std::all_of(bytes.begin(), bytes.begin() + long(4 * kBlock), [](uint8_t v) {
    return v == 0;
  })) << "the first 4 MiB were released and should be holes";
  EXPECT_EQ(std::memcmp(bytes.data() + (kBlocks - 1) * kBlock,
                        object.data() + (kBlocks - 1) * kBlock, kBlock),
            0)
      << "the last block is still held";
}

TEST(PipeSource, AWaitingReaderStopsWhenAsked) {
  const std::vector<uint8_t> object = pattern(4 * kBlock);
  Pipe p;
  auto src = PipeSource::create(p.fd[0], object.size(), spool_dir_for_tests(), kBlock);
  ASSERT_TRUE(src.ok()) << src.error();
  Writer w(p, object);
  std::stop_source stop;
  ASSERT_TRUE((*src)->next(kBlock, stop.get_token()).ok());
  std::thread second([&] {
    auto r = (*src)->next(kBlock, stop.get_token());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), "stopped");
  });
  while (!(*src)->full()) std::this_thread::yield();
  stop.request_stop();
  second.join();
  std::vector<uint8_t> rest(object.size());
  while (::read(p.fd[0], rest.data(), rest.size()) > 0) {
  }
}

TEST(PipeSource, APipeShorterOrLongerThanItsSizeIsAnErrorNamingBoth) {
  for (const long diff : {-10L, 1L}) {
    const std::vector<uint8_t> object = pattern(2 * kBlock);
    const size_t size = 2 * kBlock;
    Pipe p;
    auto src = PipeSource::create(p.fd[0], size, spool_dir_for_tests(), 4 * kBlock);
    ASSERT_TRUE(src.ok()) << src.error();
    std::vector<uint8_t> fed(object.begin(), object.end());
    fed.resize(size_t(long(size) + diff), 7);
    Writer w(p, fed);
    std::stop_source stop;
    ASSERT_TRUE((*src)->next(kBlock, stop.get_token()).ok());
    auto last = (*src)->next(kBlock, stop.get_token());
    ASSERT_FALSE(last.ok()) << "fed " << fed.size() << " bytes for --size " << size;
    const std::string want =
        diff < 0 ? "stdin ended after " + std::to_string(fed.size()) + " bytes; --size says " +
                       std::to_string(size)
                 : "stdin carries more than --size " + std::to_string(size) + " bytes";
    EXPECT_NE(last.error().find(want), std::string::npos) << last.error();
  }
}

TEST(PipeSource, ASizeOfZeroIsRefused) {
  Pipe p;
  auto src = PipeSource::create(p.fd[0], 0, spool_dir_for_tests(), kBlock);
  ASSERT_FALSE(src.ok());
  EXPECT_NE(src.error().find("--size"), std::string::npos) << src.error();
}

TEST(ManifestStreamHashRead, HashesWhatThePipeDeliversAsTheFileWouldBe) {
  const std::vector<uint8_t> object = pattern(5 * 64 * 1408 + 333);
  auto layout = fec::BlockLayout::make(object.size(), 1408, 64);
  ASSERT_TRUE(layout.ok());
  Pipe p;
  auto src = PipeSource::create(p.fd[0], object.size(), spool_dir_for_tests(), 64 * kBlock);
  ASSERT_TRUE(src.ok()) << src.error();
  Writer w(p, object);
  auto piped = ManifestStream::hash_read(*layout, [&](uint32_t b, std::stop_token stop) {
    return (*src)->next(layout->block_bytes(b), stop);
  });
  auto whole = ManifestStream::hash(object, *layout);
  piped->wait_complete();
  whole->wait_complete();
  EXPECT_FALSE(piped->failed());
  EXPECT_EQ(piped->object_sha256(), whole->object_sha256());
  for (uint32_t b = 0; b < layout->block_count(); ++b) {
    EXPECT_EQ(piped->hashes(b, 1)[0], whole->hashes(b, 1)[0]) << "block " << b;
  }
}

TEST(ManifestStreamHashRead, AReadErrorEndsTheStreamWithItsReason) {
  auto layout = fec::BlockLayout::make(4 * 64 * 1408, 1408, 64);
  ASSERT_TRUE(layout.ok());
  const std::vector<uint8_t> block(64 * 1408, 1);
  auto s = ManifestStream::hash_read(
      *layout, [&](uint32_t b, std::stop_token) -> Result<std::span<const uint8_t>> {
        if (b == 2) return make_error("the pipe broke");
        return std::span<const uint8_t>(block);
      });
  while (!s->failed()) std::this_thread::yield();
  EXPECT_EQ(s->error(), "the pipe broke");
  EXPECT_EQ(s->ready(), 2u);
  EXPECT_FALSE(s->complete());
}

}  // namespace
}  // namespace shoal::object
