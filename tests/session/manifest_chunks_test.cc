// How block hashes are cut into Manifest messages: small first, so the first data waits for few
// blocks, then 512 per message; every block in exactly one message, in order.
#include "session/manifest_chunks.h"

#include <gtest/gtest.h>

namespace shoal::session {
namespace {

TEST(ManifestChunks, GrowFromSixteenToFiveHundredTwelve) {
  const uint64_t sizes[] = {16, 32, 64, 128, 256, 512, 512, 512};
  for (uint32_t c = 0; c < 8; ++c) {
    EXPECT_EQ(chunk_end(c) - chunk_first(c), sizes[c]) << c;
  }
  EXPECT_EQ(chunk_first(0), 0u);
}

TEST(ManifestChunks, EveryBlockIsInTheChunkThatCoversIt) {
  for (uint32_t b = 0; b < 5000; ++b) {
    const uint32_t c = chunk_of(b);
    EXPECT_LE(chunk_first(c), b) << b;
    EXPECT_LT(b, chunk_end(c)) << b;
    EXPECT_EQ(chunk_first(c + 1), chunk_end(c));
  }
  // The first data waits for 16 blocks' hashes, not 512.
  EXPECT_EQ(chunk_end(chunk_of(0)), 16u);
}

TEST(ManifestChunks, LargeObjectsDoNotOverflow) {
  const uint32_t last = UINT32_MAX - 1;
  const uint32_t c = chunk_of(last);
  EXPECT_LE(chunk_first(c), last);
  EXPECT_GT(chunk_end(c), uint64_t{last});
}

}  // namespace
}  // namespace shoal::session
