// VerifyWorker: block checks on a thread of their own, verdicts back through an eventfd.
#include "session/verify_worker.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <vector>

#include "object/manifest.h"

namespace shoal::session {
namespace {

// Takes verdicts until `n` arrived (bounded: 100 waits of up to 100 ms each).
std::vector<VerifyWorker::Verdict> take_all(VerifyWorker& w, size_t n) {
  std::vector<VerifyWorker::Verdict> all, some;
  for (int i = 0; i < 100 && all.size() < n; ++i) {
    pollfd p{w.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    w.take(some);
    all.insert(all.end(), some.begin(), some.end());
  }
  return all;
}

TEST(VerifyWorker, SaysWhichBlocksMatchTheirDigests) {
  auto w = VerifyWorker::start();
  ASSERT_TRUE(w.ok()) << w.error();
  std::vector<uint8_t> a(100'000, 0x5a), b(70'000, 0xa5);
  const control::Digest da = object::sha256(a);
  control::Digest wrong = object::sha256(b);
  wrong[31] ^= 0x80;
  (*w)->submit(7, a, da);
  (*w)->submit(9, b, wrong);
  EXPECT_EQ((*w)->pending(), 2u);
  auto v = take_all(**w, 2);
  ASSERT_EQ(v.size(), 2u);
  std::sort(v.begin(), v.end(), [](auto x, auto y) { return x.block < y.block; });
  EXPECT_EQ(v[0].block, 7u);
  EXPECT_TRUE(v[0].match);
  EXPECT_EQ(v[1].block, 9u);
  EXPECT_FALSE(v[1].match);
  EXPECT_EQ((*w)->pending(), 0u);
  std::vector<VerifyWorker::Verdict> none;
  (*w)->take(none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace shoal::session
