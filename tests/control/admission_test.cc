// Admission: the --allow list, the join deadline and the connection cap of send and probe.
#include "control/admission.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "control/connection.h"
#include "control/event_loop.h"

namespace shoal::control {
namespace {

sockaddr_in addr(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &a.sin_addr), 1);
  return a;
}

Admission make(std::vector<std::string> allow, bool tls = false) {
  AdmissionOptions o;
  o.allow = std::move(allow);
  auto a = Admission::create(o, tls);
  EXPECT_TRUE(a.ok()) << a.error();
  return std::move(*a);
}

TEST(Admission, AnEmptyListAllowsEveryAddress) {
  Admission a = make({});
  EXPECT_TRUE(a.address_allowed(addr("198.18.0.1")));
  EXPECT_TRUE(a.address_allowed(addr("10.1.2.3")));
}

TEST(Admission, AddressesAndBlocksMatchByPrefix) {
  Admission a = make({"198.18.0.10", "198.18.4.0/22", "10.0.0.0/8"});
  EXPECT_TRUE(a.address_allowed(addr("198.18.0.10")));
  EXPECT_FALSE(a.address_allowed(addr("198.18.0.11")));
  EXPECT_TRUE(a.address_allowed(addr("198.18.4.0")));
  EXPECT_TRUE(a.address_allowed(addr("198.18.7.255")));
  EXPECT_FALSE(a.address_allowed(addr("198.18.8.0")));
  EXPECT_FALSE(a.address_allowed(addr("198.18.3.255")));
  EXPECT_TRUE(a.address_allowed(addr("10.200.0.1")));
  // A block written with host bits set still means the block.
  Admission b = make({"198.18.0.77/24"});
  EXPECT_TRUE(b.address_allowed(addr("198.18.0.1")));
  EXPECT_FALSE(b.address_allowed(addr("198.18.1.1")));
  Admission any = make({"0.0.0.0/0"});
  EXPECT_TRUE(any.address_allowed(addr("203.0.113.9")));
}

TEST(Admission, BadEntriesAreNamedWithTheExpectedForm) {
  for (const char* bad : {"198.18.0.300", "198.18.0.0/33", "198.18.0.0/", "198.18.0.0/8x", "host",
                          "198.18.0", "/24", "-1.0.0.0"}) {
    AdmissionOptions o;
    o.allow = {bad};
    auto a = Admission::create(o, false);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_NE(a.error().find(std::string("'") + bad + "'"), std::string::npos) << a.error();
    EXPECT_NE(a.error().find("CIDR"), std::string::npos) << a.error();
  }
}

TEST(Admission, CertificateNamesNeedTls) {
  AdmissionOptions o;
  o.allow = {"cn:node*"};
  auto a = Admission::create(o, false);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find("need TLS"), std::string::npos) << a.error();
  EXPECT_TRUE(Admission::create(o, true).ok());
  o.allow = {"cn:"};
  EXPECT_FALSE(Admission::create(o, true).ok());
}

TEST(Admission, ACertificateNameListRefusesAPeerWithoutOne) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd other(sv[1]);
  auto conn = Connection::create(**loop, Fd(sv[0]), {});
  ASSERT_TRUE(conn.ok()) << conn.error();
  // Only addresses listed: names are not checked.
  EXPECT_FALSE(make({"198.18.0.0/24"}).identity_refused(**conn).has_value());
  // Names listed: a connection without a certificate has no name that matches.
  auto why = make({"cn:rx*"}, true).identity_refused(**conn);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("not in --allow"), std::string::npos) << *why;
}

TEST(Admission, AJoinExpiresAfterTheHandshakeTimeout) {
  AdmissionOptions o;
  o.handshake_timeout_ns = 2'000'000'000;
  auto a = Admission::create(o, false);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->join_expired(1'000, 1'000 + 2'000'000'000));
  EXPECT_TRUE(a->join_expired(1'000, 1'000 + 2'000'000'001));
  EXPECT_DOUBLE_EQ(a->handshake_timeout_s(), 2.0);
}

TEST(Admission, TheConnectionCapIsAtLeastOne) {
  AdmissionOptions o;
  o.max_receivers = 0;
  EXPECT_FALSE(Admission::create(o, false).ok());
  o.max_receivers = 3;
  auto a = Admission::create(o, false);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->max_connections(), 3u);
}

}  // namespace
}  // namespace shoal::control
