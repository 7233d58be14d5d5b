// UdpTx -> UdpRx across the namespace test bed (scripts/testbed.sh): one sender namespace, several
// receiver namespaces on a snooping bridge. Needs root and `ip netns`; skips loudly otherwise.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/netns_harness.h"

namespace shoal::itest {
namespace {

#define SKIP_WITHOUT_BED()                                                 \
  do {                                                                     \
    const std::string why = bed_unavailable_reason();                      \
    if (!why.empty()) GTEST_SKIP() << "SKIPPED (netns test bed): " << why; \
  } while (0)

#define BRING_UP(bed)                                                                      \
  do {                                                                                     \
    if ((bed).up_status() == 77) GTEST_SKIP() << "SKIPPED: testbed.sh up reported a skip"; \
    ASSERT_EQ((bed).up_status(), 0) << "testbed.sh up " << (bed).prefix() << " failed";    \
  } while (0)

void expect_clean(const ReceiverReport& r, int k) {
  EXPECT_EQ(r.error, "") << "receiver " << k;
  EXPECT_EQ(r.corrupt, 0u) << "receiver " << k;
  EXPECT_EQ(r.duplicates, 0u) << "receiver " << k;
  EXPECT_EQ(r.kernel_drops, 0u) << "receiver " << k << ": its socket overflowed";
}

class NetnsUdpDelivery : public ::testing::TestWithParam<bool> {};

TEST_P(NetnsUdpDelivery, EveryReceiverGetsEveryFrame) {
  SKIP_WITHOUT_BED();
  const bool gso = GetParam();
  Testbed bed(unique_prefix("su"), 3);
  BRING_UP(bed);
  SessionConfig cfg;
  cfg.frames = 20000;
  cfg.gso = gso;
  const SessionReport rep = run_session(bed, cfg);
  ASSERT_EQ(rep.error, "");
  EXPECT_EQ(rep.gso, gso);
  EXPECT_EQ(rep.frames_sent, cfg.frames);
  if (gso) {
    EXPECT_LT(rep.tx_messages * 10, rep.frames_sent) << "GSO should batch 64 frames a message";
  }
  ASSERT_EQ(rep.receivers.size(), 3u);
  for (size_t k = 0; k < rep.receivers.size(); ++k) {
    const ReceiverReport& r = rep.receivers[k];
    expect_clean(r, static_cast<int>(k + 1));
    EXPECT_EQ(r.data_frames, cfg.frames) << "receiver " << k + 1 << " lost frames";
    size_t missing = 0;
    for (uint8_t s : r.seen) missing += s == 0;
    EXPECT_EQ(missing, 0u) << "receiver " << k + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(GsoOnOff, NetnsUdpDelivery, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "Gso" : "PlainSendmmsg");
                         });

TEST(NetnsUdp, FivePercentLossIsSeenAndPlausible) {
  SKIP_WITHOUT_BED();
  Testbed bed(unique_prefix("sl"), 4);
  BRING_UP(bed);
  ASSERT_EQ(bed.run("loss", "all 50"), 0);
  SessionConfig cfg;
  cfg.frames = 20000;
  const SessionReport rep = run_session(bed, cfg);
  ASSERT_EQ(rep.error, "");
  ASSERT_EQ(rep.frames_sent, cfg.frames);
  ASSERT_EQ(rep.receivers.size(), 4u);
  for (size_t k = 0; k < rep.receivers.size(); ++k) {
    const ReceiverReport& r = rep.receivers[k];
    expect_clean(r, static_cast<int>(k + 1));
    const double lost = 1.0 - static_cast<double>(r.data_frames) / cfg.frames;
    // Binomial(20000, 0.05): mean 1000 lost, sd ~31. [2%, 10%] is ~20 sd wide: only a wrong drop
    // rate (or loss from somewhere else) fails it.
    EXPECT_GT(lost, 0.02) << "receiver " << k + 1 << " lost " << lost * 100 << "%";
    EXPECT_LT(lost, 0.10) << "receiver " << k + 1 << " lost " << lost * 100 << "%";
    std::fprintf(stderr, "[netns_udp_test] receiver %zu lost %.2f%% of %u frames\n", k + 1,
                 lost * 100, cfg.frames);
  }
}

}  // namespace
}  // namespace shoal::itest
