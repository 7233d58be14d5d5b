#include "fec/gf256.h"

#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>

#include "fec_test_support.h"

namespace shoal::fec {
namespace {

using testing::ref_inv;
using testing::ref_mul;

TEST(Gf256, MultiplyMatchesBitwiseReferenceAndIsal) {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const auto x = static_cast<uint8_t>(a);
      const auto y = static_cast<uint8_t>(b);
      ASSERT_EQ(gf256::mul(x, y), ref_mul(x, y)) << a << " * " << b;
      ASSERT_EQ(gf256::mul(x, y), gf_mul(x, y)) << a << " * " << b;
    }
  }
}

TEST(Gf256, InverseMatchesSearchAndIsal) {
  for (unsigned a = 1; a < 256; ++a) {
    const auto x = static_cast<uint8_t>(a);
    EXPECT_EQ(gf256::inv(x), ref_inv(x)) << a;
    EXPECT_EQ(gf256::inv(x), gf_inv(x)) << a;
    EXPECT_EQ(ref_mul(x, gf256::inv(x)), 1) << a;
  }
}

TEST(Gf256, LogAndExpAreInverse) {
  for (unsigned a = 1; a < 256; ++a) {
    EXPECT_EQ(gf256::kTables.exp[gf256::kTables.log[a]], a);
  }
  for (unsigned i = 0; i < 765; ++i) {
    EXPECT_EQ(gf256::kTables.exp[i], gf256::kTables.exp[i % 255]) << i;
  }
}

}  // namespace
}  // namespace shoal::fec
