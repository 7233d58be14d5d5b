#include "common/printable.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(Printable, ALineBreakCannotStartAForgedLogLine) {
  EXPECT_EQ(printable("rx-1\n[error] sender: all receivers failed"),
            "rx-1\\x0a[error] sender: all receivers failed");
  EXPECT_EQ(printable("a\rb"), "a\\x0db");
}

TEST(Printable, TerminalControlsAreEscaped) {
  EXPECT_EQ(printable("\x1b[2J"), "\\x1b[2J");  // ESC: clear screen
  EXPECT_EQ(printable("a\x7f"), "a\\x7f");
  EXPECT_EQ(printable("\xc2\x9b"
                      "2J"),
            "\\xc2\\x9b2J");  // U+009B, a CSI in UTF-8
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
}

TEST(Printable, ABackslashIsEscapedSoEscapesCannotBeForged) {
  EXPECT_EQ(printable("a\\x0a"), "a\\\\x0a");
}

TEST(Printable, ValidUtf8StaysAndInvalidBytesAreEscaped) {
  EXPECT_EQ(printable("Müller-Ωmega"), "Müller-Ωmega");
  EXPECT_EQ(printable("a\xff"
                      "b"),
            "a\\xffb");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");  // overlong '/'
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");  // cut short
}

TEST(Printable, TheLengthIsBounded) {
  const std::string p = printable(std::string(300, 'x'));
  EXPECT_EQ(p, std::string(256, 'x') + "...");
  EXPECT_EQ(printable(std::string(10, '\n'), 8), "\\x0a\\x0a...");
  EXPECT_EQ(printable("short", 8), "short");
}

}  // namespace
}  // namespace shoal
