// `recv --out -` (#17 item 3): blocks verified in any order reach the pipe in order; what is only
// spilled never does; a reader that goes away is reported.
#include "object/pipe_sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <numeric>
#include <thread>
#include <vector>

namespace shoal::object {
namespace {

struct Pipe {
  Pipe() { EXPECT_EQ(::pipe(fd), 0); }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_read() {
    ::close(fd[0]);
    fd[0] = -1;
  }
  int fd[2] = {-1, -1};
};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + i / 251);
  return v;
}

TEST(PipeSink, BlocksVerifiedInAnyOrderReachThePipeInOrder) {
  constexpr size_t kBlock = 300 * 1024, kBlocks = 8;  // more than the pipe holds: the reader runs
  const std::vector<uint8_t> object = pattern(kBlock * kBlocks);
  Pipe p;
  auto sink = PipeSink::create(p.fd[1], object.size(), "");
  ASSERT_TRUE(sink.ok()) << sink.error();
  std::vector<uint8_t> got;
  std::thread reader([&] {
    uint8_t buf[65536];
    for (ssize_t n; (n = ::read(p.fd[0], buf, sizeof buf)) > 0;)
      got.insert(got.end(), buf, buf + n);
  });
  // A spill of block 0 (symbols parked at their place, not verified): never streamed as such.
  const std::vector<uint8_t> junk(kBlock, 0xee);
  ASSERT_TRUE((*sink)->write(0, junk).ok());
  for (size_t b : {5, 1, 7, 0, 3, 2, 6, 4}) {
    std::span<const uint8_t> block(object.data() + b * kBlock, kBlock);
    ASSERT_TRUE((*sink)->write(b * kBlock, block).ok());
    (*sink)->verified(b * kBlock, kBlock);
    if (b == 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // give the writer a chance
      EXPECT_EQ((*sink)->streamed(), 0u) << "nothing before block 0 is verified";
    }
  }
  EXPECT_TRUE((*sink)->commit(true).ok());
  EXPECT_TRUE((*sink)->drain().ok());
  EXPECT_EQ((*sink)->streamed(), object.size());
  sink->reset();
  ::close(p.fd[1]);
  p.fd[1] = -1;
  reader.join();
  EXPECT_EQ(got, object);
}

TEST(PipeSink, CommitBeforeEveryBlockIsAnError) {
  Pipe p;
  auto sink = PipeSink::create(p.fd[1], 1000, "");
  ASSERT_TRUE(sink.ok());
  (*sink)->verified(500, 500);
  EXPECT_FALSE((*sink)->commit(true).ok());
}

TEST(PipeSink, AReaderThatGoesAwayIsReported) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<uint8_t> object = pattern(1 << 20);
  Pipe p;
  p.close_read();
  auto sink = PipeSink::create(p.fd[1], object.size(), "");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->write(0, object).ok());
  (*sink)->verified(0, object.size());
  const Status d = (*sink)->drain();
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("the reader of the pipe went away"), std::string::npos) << d.error();
  EXPECT_FALSE((*sink)->poll().ok());
}

TEST(PipeSink, ASpoolDirectoryThatDoesNotExistIsNamed) {
  Pipe p;
  auto sink = PipeSink::create(p.fd[1], 10, "/nonexistent/shoal-spool");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.error().find("/nonexistent/shoal-spool"), std::string::npos) << sink.error();
  EXPECT_NE(sink.error().find("--spool"), std::string::npos) << sink.error();
}

}  // namespace
}  // namespace shoal::object
