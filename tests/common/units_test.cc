#include "common/units.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(Units, RatesUseDecimalSuffixes) {
  EXPECT_EQ(parse_rate("400M").value(), 400'000'000u);
  EXPECT_EQ(parse_rate("1.5G").value(), 1'500'000'000u);
  EXPECT_EQ(parse_rate("800k").value(), 800'000u);
  EXPECT_EQ(parse_rate("10Gbps").value(), 10'000'000'000u);
  EXPECT_EQ(parse_rate("2000000").value(), 2'000'000u);
}

TEST(Units, BadRatesNameTheProblem) {
  auto r = parse_rate("400X");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("unknown suffix 'X'"), std::string::npos);
  EXPECT_FALSE(parse_rate("").ok());
  EXPECT_FALSE(parse_rate("-5M").ok());
  EXPECT_FALSE(parse_rate("M").ok());
  EXPECT_FALSE(parse_rate("5").ok());  // below 1 kbit/s: surely a mistake
}

TEST(Units, SizesUseBinarySuffixes) {
  EXPECT_EQ(parse_size("4K").value(), 4096u);
  EXPECT_EQ(parse_size("256M").value(), 256u << 20);
  EXPECT_EQ(parse_size("1GiB").value(), 1u << 30);
  EXPECT_EQ(parse_size("100").value(), 100u);
  EXPECT_FALSE(parse_size("1Q").ok());
}

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration_ns("30s").value(), 30'000'000'000u);
  EXPECT_EQ(parse_duration_ns("500ms").value(), 500'000'000u);
  EXPECT_EQ(parse_duration_ns("2m").value(), 120'000'000'000u);
  EXPECT_EQ(parse_duration_ns("3").value(), 3'000'000'000u);
  EXPECT_FALSE(parse_duration_ns("3 days").ok());
}

}  // namespace
}  // namespace shoal
