// TLS 1.3 control connections over socketpairs in one thread: certificates made by
// scripts/tls-certs.sh (the openssl command) in a temporary directory.
#include "control/tls.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>

#include "control/connection.h"
#include "control/event_loop.h"

namespace shoal::control {
namespace {

namespace fs = std::filesystem;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("shoal-tls-test-" + std::to_string(getpid())));
    fs::create_directories(*dir_ / "other");
    const std::string script = std::string(SHOAL_SOURCE_DIR) + "/scripts/tls-certs.sh";
    ASSERT_EQ(std::system((script + " " + dir_->string() + " sender rx1 >/dev/null").c_str()), 0);
    // A second CA and a receiver it signed: not trusted by the first.
    ASSERT_EQ(
        std::system((script + " " + (*dir_ / "other").string() + " intruder >/dev/null").c_str()),
        0);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static TlsFiles files(const std::string& name, const fs::path& ca_dir) {
    return {(*dir_ / (name + ".pem")).string(), (*dir_ / (name + ".key")).string(),
            (ca_dir / "ca.pem").string()};
  }
  static TlsFiles files_in(const fs::path& d, const std::string& name, const fs::path& ca_dir) {
    return {(d / (name + ".pem")).string(), (d / (name + ".key")).string(),
            (ca_dir / "ca.pem").string()};
  }
  static fs::path* dir_;
};
fs::path* Tls::dir_ = nullptr;

struct End {
  std::shared_ptr<Connection> conn;
  std::vector<Message> got;
  std::string closed;
};

// Two connections over a socketpair, both in `loop`.
void connect_pair(EventLoop& loop, std::shared_ptr<TlsContext> server,
                  std::shared_ptr<TlsContext> client, End& s, End& c) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto make = [&](int fd, std::shared_ptr<TlsContext> ctx, End& e) {
    Connection::Callbacks cb;
    cb.on_message = [&e](Connection&, const Message& m) { e.got.push_back(m); };
    cb.on_close = [&e](Connection&, const std::string& why) { e.closed = why; };
    auto conn = Connection::create(loop, Fd(fd), cb, Connection::Limits{}, std::move(ctx));
    ASSERT_TRUE(conn.ok()) << conn.error();
    e.conn = *conn;
  };
  make(sv[0], std::move(server), s);
  make(sv[1], std::move(client), c);
}

bool pump(EventLoop& loop, const std::function<bool()>& done) {
  for (int i = 0; i < 400 && !done(); ++i) loop.poll_once(20);
  return done();
}

TEST_F(Tls, MutualCertificatesCarryMessagesBothWaysAndAgreeOnAChannelKey) {
  auto loop = *EventLoop::create();
  auto server = TlsContext::create(TlsContext::Role::kServer, files("sender", *dir_));
  auto client = TlsContext::create(TlsContext::Role::kClient, files("rx1", *dir_));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(client.ok()) << client.error();
  End s, c;
  connect_pair(*loop, *server, *client, s, c);
  ASSERT_TRUE(c.conn->send(Hello{{}, kFlagInsecure, "rx1"}));
  ASSERT_TRUE(pump(*loop, [&] { return !s.got.empty(); })) << s.closed << " / " << c.closed;
  EXPECT_EQ(std::get<Hello>(s.got[0]).receiver_name, "rx1");
  // A large message crosses several TLS records.
  Manifest big;
  big.block_hashes.resize(5000);
  for (size_t i = 0; i < big.block_hashes.size(); ++i) big.block_hashes[i][0] = uint8_t(i);
  ASSERT_TRUE(s.conn->send(big));
  ASSERT_TRUE(pump(*loop, [&] { return !c.got.empty(); })) << c.closed;
  EXPECT_TRUE(std::get<Manifest>(c.got[0]) == big);
  ASSERT_TRUE(s.conn->tls() && c.conn->tls());
  auto ks = s.conn->tls()->channel_key(), kc = c.conn->tls()->channel_key();
  ASSERT_TRUE(ks && kc);
  EXPECT_EQ(*ks, *kc);
  EXPECT_EQ(s.conn->tls()->peer_common_name(), "rx1");
  EXPECT_EQ(c.conn->tls()->peer_common_name(), "sender");
}

TEST_F(Tls, ChannelKeysDifferPerConnection) {
  auto loop = *EventLoop::create();
  auto server = *TlsContext::create(TlsContext::Role::kServer, files("sender", *dir_));
  auto client = *TlsContext::create(TlsContext::Role::kClient, files("rx1", *dir_));
  End s1, c1, s2, c2;
  connect_pair(*loop, server, client, s1, c1);
  connect_pair(*loop, server, client, s2, c2);
  c1.conn->send(Ready{1});
  c2.conn->send(Ready{2});
  ASSERT_TRUE(pump(*loop, [&] { return !s1.got.empty() && !s2.got.empty(); }));
  EXPECT_NE(*s1.conn->tls()->channel_key(), *s2.conn->tls()->channel_key());
}

TEST_F(Tls, ACertificateFromAnotherCaIsRefusedWithAReason) {
  auto loop = *EventLoop::create();
  const fs::path other = *dir_ / "other";
  auto server = *TlsContext::create(TlsContext::Role::kServer, files("sender", *dir_));
  auto intruder = TlsContext::create(TlsContext::Role::kClient, files_in(other, "intruder", *dir_));
  ASSERT_TRUE(intruder.ok()) << intruder.error();  // it trusts our CA, but we do not trust it
  End s, c;
  connect_pair(*loop, server, *intruder, s, c);
  c.conn->send(Hello{{}, kFlagInsecure, "intruder"});
  ASSERT_TRUE(pump(*loop, [&] { return !s.closed.empty(); }));
  EXPECT_TRUE(s.got.empty()) << "nothing may arrive from an unverified peer";
  EXPECT_NE(s.closed.find("TLS"), std::string::npos) << s.closed;
  EXPECT_NE(s.closed.find("--tls-ca"), std::string::npos) << s.closed;
}

TEST_F(Tls, BadFilesAreNamedInTheError) {
  auto missing = TlsContext::create(
      TlsContext::Role::kServer,
      {"/nonexistent/cert.pem", (*dir_ / "sender.key").string(), (*dir_ / "ca.pem").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/cert.pem"), std::string::npos) << missing.error();
  auto mismatch = TlsContext::create(
      TlsContext::Role::kServer,
      {(*dir_ / "sender.pem").string(), (*dir_ / "rx1.key").string(), (*dir_ / "ca.pem").string()});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().find("does not belong"), std::string::npos) << mismatch.error();
  auto partial = TlsContext::create(TlsContext::Role::kClient, {"a.pem", "", ""});
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.error().find("all of"), std::string::npos) << partial.error();
}

TEST(TlsKeys, CombinedChannelKeyNeedsBoth) {
  Key a{}, b{};
  a[0] = 1;
  b[0] = 2;
  EXPECT_EQ(channel_key_of(a, std::nullopt), a);
  EXPECT_EQ(channel_key_of(std::nullopt, b), b);
  EXPECT_FALSE(channel_key_of(std::nullopt, std::nullopt));
  const Key both = *channel_key_of(a, b);
  EXPECT_NE(both, a);
  EXPECT_NE(both, b);
  EXPECT_NE(both, combine_channel_keys(b, a)) << "the order of the inputs matters";
}

}  // namespace
}  // namespace shoal::control

namespace shoal::control {
namespace {

TEST(TlsOptions, NoFilesMeansNoContextAndAnEndNeedsSomeWayToAuthenticate) {
  auto none = tls_context_for(TlsContext::Role::kClient, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  auto partial = tls_context_for(TlsContext::Role::kClient, {"a.pem", "", ""});
  EXPECT_FALSE(partial.ok()) << "one file without the others is an error, not 'no TLS'";
  EXPECT_TRUE(require_authentication(true, false, false).ok());
  EXPECT_TRUE(require_authentication(false, true, false).ok());
  EXPECT_TRUE(require_authentication(false, false, true).ok());
  Status none_at_all = require_authentication(false, false, false);
  ASSERT_FALSE(none_at_all.ok());
  for (const char* hint : {"--key-file", "--tls-cert", "--insecure"}) {
    EXPECT_NE(none_at_all.error().find(hint), std::string::npos) << none_at_all.error();
  }
}

// A server without TLS reads the ClientHello as a bad frame and hangs up at once; when that beats
// the client's own read of the handshake, it used to fail Connection::create, so the receiver
// could not say "the sender does not speak TLS" (e2e recvd_tls). Here the peer has hung up before
// the client even starts: create() succeeds and the failure arrives through on_close.
TEST_F(Tls, AClientWhosePeerHungUpBeforeTheHandshakeHearsItThroughOnClose) {
  auto loop = *EventLoop::create();
  auto client = TlsContext::create(TlsContext::Role::kClient, files("rx1", *dir_));
  ASSERT_TRUE(client.ok()) << client.error();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // The "server" has said its last word (EOF) before a byte is exchanged, but still takes the
  // ClientHello: the client's handshake reads EOF at once, as it did against a plain sender.
  Fd server(sv[0]);
  ASSERT_EQ(::shutdown(server.get(), SHUT_WR), 0);
  End c;
  Connection::Callbacks cb;
  cb.on_message = [&c](Connection&, const Message& m) { c.got.push_back(m); };
  cb.on_close = [&c](Connection&, const std::string& why) { c.closed = why; };
  auto conn = Connection::create(*loop, Fd(sv[1]), cb, Connection::Limits{}, std::move(*client));
  ASSERT_TRUE(conn.ok()) << conn.error();
  c.conn = *conn;
  EXPECT_TRUE(c.closed.empty()) << "on_close ran inside create(): " << c.closed;
  ASSERT_TRUE(pump(*loop, [&] { return !c.closed.empty(); }));
  EXPECT_NE(c.closed.find("TLS"), std::string::npos) << c.closed;
  EXPECT_FALSE(c.conn->is_open());
  EXPECT_TRUE(c.got.empty());
}

}  // namespace
}  // namespace shoal::control
