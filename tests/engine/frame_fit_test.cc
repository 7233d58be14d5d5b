#include "engine/frame_fit.h"

#include <gtest/gtest.h>

namespace shoal::engine {
namespace {

TEST(FrameFit, ADataFrameIsHeaderSymbolAndTag) {
  EXPECT_EQ(data_frame_bytes(1408, true), 1456u);
  EXPECT_EQ(data_frame_bytes(8960, true), 9008u);
  EXPECT_EQ(data_frame_bytes(8960, false), 8992u);
}

TEST(FrameFit, TheLargestSymbolForCommonMtus) {
  EXPECT_EQ(largest_symbol_size_for_mtu(1500, true), 1408u);
  EXPECT_EQ(largest_symbol_size_for_mtu(9000, true), 8896u);  // 8896 + 48 + 28 = 8972 <= 9000
  EXPECT_EQ(largest_symbol_size_for_mtu(9000, false), 8896u);
  EXPECT_EQ(largest_symbol_size_for_mtu(65536, true), 8960u);  // the wire format's own limit
  EXPECT_EQ(largest_symbol_size_for_mtu(100, true), 0u);
}

// Issue #15 item 8: 32 + 8960 + 16 = 9008 bytes of UDP payload exceed the 8972 a 9000 MTU carries.
TEST(FrameFit, EightThousandNineHundredSixtyDoesNotFitANineThousandMtu) {
  const Status s = check_symbol_size_fits_mtu(8960, true, 9000, "interface eth0");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("9000-byte MTU of interface eth0"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("= 9008 bytes of UDP payload, 9036 bytes"), std::string::npos)
      << s.error();
  EXPECT_NE(s.error().find("use --symbol-size 8896 or less"), std::string::npos) << s.error();
}

TEST(FrameFit, SizesThatFitPassAndAnUnknownMtuIsNotChecked) {
  EXPECT_TRUE(check_symbol_size_fits_mtu(8896, true, 9000, "eth0").ok());
  EXPECT_TRUE(check_symbol_size_fits_mtu(1408, true, 1500, "eth0").ok());
  EXPECT_FALSE(check_symbol_size_fits_mtu(1472, true, 1500, "eth0").ok());
  EXPECT_TRUE(check_symbol_size_fits_mtu(8960, true, 0, "eth0").ok());
}

}  // namespace
}  // namespace shoal::engine
