// --hosts FILE: entries, comments and blank lines; the errors name the file and the line.
#include "cli/hosts_file.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

TEST(HostsFile, OneHostPerLineCommentsAndBlanksSkipped) {
  auto h = parse_hosts("# rack 12\nrx1\n  10.0.0.2  \n\nnode3.example # spare\r\n", "f");
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(*h, (std::vector<std::string>{"rx1", "10.0.0.2", "node3.example"}));
}

TEST(HostsFile, ErrorsNameTheLineAndTheFix) {
  auto two = parse_hosts("rx1\nrx2 rx3\n", "hosts file 'h'");
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().find("hosts file 'h' line 2"), std::string::npos) << two.error();
  EXPECT_NE(two.error().find("one name, address or certificate name per line"), std::string::npos);
  auto dup = parse_hosts("rx1\nrx2\nrx1\n", "f");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().find("line 3: rx1 is listed twice"), std::string::npos) << dup.error();
  auto none = parse_hosts("# nobody yet\n\n", "f");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("names no host"), std::string::npos) << none.error();
  auto missing = read_hosts_file("/nonexistent/shoal-hosts");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/shoal-hosts"), std::string::npos);
}

}  // namespace
}  // namespace shoal::cli
