// JoinServer over real TCP on 127.0.0.1, one thread: the test drives the EventLoop that serves
// both the server and its clients (control::ClientHandshake over a Connection, or raw sockets for
// hostile peers). Every wait polls the loop until an event happened; the iteration cap is only a
// safety net against a hang.
#include "control/join_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "control/auth.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "tests/control/samples.h"

namespace shoal::control {
namespace {

constexpr int kSafetyPolls = 3000;  // x 20 ms: never reached unless something hangs

class JoinServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.error();
    loop_ = std::move(*loop);
  }

  // A server on an ephemeral loopback port whose callbacks record what they see.
  void start(JoinServerOptions o) {
    o.listen = "127.0.0.1:0";
    JoinServer::Callbacks cb;
    cb.on_joined = [this](const JoinedPeer& p) {
      joined_.push_back(p.id);
      joined_names_.push_back(p.name);
      joined_conns_.push_back(p.conn);
      EXPECT_NE(p.conn, nullptr);
      EXPECT_TRUE(p.channel.has_value()) << "a PSK join has a channel key";
    };
    cb.on_message = [this](uint32_t id, const Message& m) { messages_.push_back({id, m}); };
    cb.on_closed = [this](uint32_t id, const std::string& why) { closed_[id] = why; };
    auto s = JoinServer::create(*loop_, o, std::move(cb));
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
  }

  // Polls the loop until done() holds; false if the safety cap ran out first.
  bool poll_until(const std::function<bool()>& done) {
    for (int i = 0; i < kSafetyPolls && !done(); ++i) loop_->poll_once(20);
    return done();
  }

  Fd connect_raw() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd.valid());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0)
        << strerror(errno);
    return fd;
  }

  // A receiver: ClientHandshake over a Connection on the same loop.
  struct Client {
    std::optional<ClientHandshake> hs;
    std::shared_ptr<Connection> conn;
    bool closed = false;
    std::string close_reason;
    std::vector<Message> received;
  };
  std::unique_ptr<Client> join(std::optional<Key> key, const std::string& name) {
    auto c = std::make_unique<Client>();
    c->hs.emplace(key, name, random_nonce());
    Client* cp = c.get();
    Connection::Callbacks cb;
    cb.on_message = [cp](Connection& conn, const Message& m) {
      cp->received.push_back(m);
      if (auto reply = cp->hs->on_message(m)) conn.send(*reply);
      if (cp->hs->failed()) conn.close(cp->hs->failure_reason());
    };
    cb.on_close = [cp](Connection&, const std::string& why) {
      cp->closed = true;
      cp->close_reason = why;
    };
    auto conn = Connection::create(*loop_, connect_raw(), cb);
    EXPECT_TRUE(conn.ok()) << conn.error();
    c->conn = std::move(*conn);
    c->conn->send(c->hs->start());
    return c;
  }

  // The peer closed the raw socket: recv sees EOF or a reset.
  static bool raw_closed(const Fd& fd) {
    uint8_t b[4096];
    for (;;) {
      const ssize_t n = ::recv(fd.get(), b, sizeof b, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
  }

  static JoinServerOptions psk(uint8_t seed) {
    JoinServerOptions o;
    o.key = testing::pattern32(seed);
    return o;
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<JoinServer> server_;
  std::vector<uint32_t> joined_;
  std::vector<std::string> joined_names_;
  std::vector<Connection*> joined_conns_;
  std::vector<std::pair<uint32_t, Message>> messages_;
  std::map<uint32_t, std::string> closed_;
};

TEST_F(JoinServerTest, PskReceiverJoinsAndItsMessagesAreForwarded) {
  start(psk(1));
  auto c = join(testing::pattern32(1), "rx-a");
  ASSERT_TRUE(poll_until([&] { return c->hs->joined() && !joined_.empty(); }));
  ASSERT_EQ(joined_.size(), 1u);
  EXPECT_EQ(joined_names_[0], "rx-a");
  EXPECT_EQ(c->hs->receiver_id(), joined_[0]);
  EXPECT_EQ(server_->joined(), 1u);
  EXPECT_EQ(server_->joining(), 0u);
  EXPECT_TRUE(messages_.empty()) << "handshake messages are the server's own";

  // A message too large for the join cap is accepted once joined.
  Nak nak;
  nak.pass = 7;
  for (uint32_t i = 0; i < 1000; ++i) nak.runs.push_back({i * 10, 3, 1});
  c->conn->send(nak);
  ASSERT_TRUE(poll_until([&] { return !messages_.empty(); }));
  EXPECT_EQ(messages_[0].first, joined_[0]);
  ASSERT_TRUE(std::holds_alternative<Nak>(messages_[0].second));
  EXPECT_EQ(std::get<Nak>(messages_[0].second), nak);

  // Its close is reported to the owner, which keeps the peer until it releases it.
  c->conn->close("receiver done");
  ASSERT_TRUE(poll_until([&] { return !closed_.empty(); }));
  EXPECT_EQ(closed_.count(joined_[0]), 1u);
  EXPECT_EQ(server_->joined(), 1u);
  server_->release(joined_[0], "bye");
  EXPECT_EQ(server_->joined(), 0u);
  EXPECT_EQ(server_->closing(), 0u);
}

TEST_F(JoinServerTest, AReceiverNameIsEscapedBeforeItIsShown) {
  start(psk(1));
  auto c = join(testing::pattern32(1), "rx-a\n[error] receiver rx-b failed");
  ASSERT_TRUE(poll_until([&] { return c->hs->joined() && !joined_.empty(); }));
  ASSERT_EQ(joined_names_.size(), 1u);
  EXPECT_EQ(joined_names_[0], "rx-a\\x0a[error] receiver rx-b failed");
}

TEST_F(JoinServerTest, WrongKeyIsRefusedAndNeverJoined) {
  start(psk(1));
  // A receiver with another key answers the Challenge with its own proof (a real ClientHandshake
  // would already stop at the server's proof; this one goes on, to see the server refuse it).
  const Key wrong = testing::pattern32(2);
  const Nonce client_nonce = random_nonce();
  std::vector<Message> received;
  bool closed = false;
  Connection::Callbacks cb;
  cb.on_message = [&](Connection& conn, const Message& m) {
    received.push_back(m);
    if (const auto* ch = std::get_if<Challenge>(&m))
      conn.send(Auth{client_proof(wrong, ch->server_nonce, client_nonce)});
  };
  cb.on_close = [&](Connection&, const std::string&) { closed = true; };
  auto conn = Connection::create(*loop_, connect_raw(), cb);
  ASSERT_TRUE(conn.ok()) << conn.error();
  (*conn)->send(Hello{client_nonce, 0, "rx-wrong"});
  ASSERT_TRUE(poll_until([&] { return closed; }));
  ASSERT_EQ(received.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<Reject>(received[1]));
  EXPECT_EQ(std::get<Reject>(received[1]).reason, kReasonWrongKey);
  EXPECT_TRUE(joined_.empty());
  EXPECT_TRUE(closed_.empty()) << "a peer that never joined is nobody's business";
  EXPECT_EQ(server_->joining(), 0u);
  EXPECT_EQ(server_->joined(), 0u);
}

TEST_F(JoinServerTest, AddressOutsideAllowIsClosedBeforeAnyByte) {
  JoinServerOptions o = psk(1);
  o.admission.allow = {"192.0.2.1"};  // TEST-NET-1: not 127.0.0.1
  start(o);
  auto c = join(testing::pattern32(1), "rx-outside");
  ASSERT_TRUE(poll_until([&] { return c->closed; }));
  EXPECT_TRUE(c->received.empty()) << "not even a Challenge or a Reject";
  EXPECT_TRUE(joined_.empty());
  EXPECT_EQ(server_->joining(), 0u);
}

TEST_F(JoinServerTest, OversizedMessageBeforeJoinClosesTheConnection) {
  start(psk(1));
  Fd raw = connect_raw();
  // A length prefix of 1 MiB (above Admission::kJoinMessageLimit), version 1, type Hello.
  const uint8_t head[] = {0x00, 0x10, 0x00, 0x00, 1, 1, 0, 0, 0, 0};
  ASSERT_EQ(::send(raw.get(), head, sizeof head, MSG_NOSIGNAL), ssize_t(sizeof head));
  ASSERT_TRUE(poll_until([&] { return raw_closed(raw); }));
  EXPECT_TRUE(joined_.empty());
  EXPECT_EQ(server_->joining(), 0u);
}

TEST_F(JoinServerTest, PeerThatNeverCompletesIsDroppedByExpire) {
  JoinServerOptions o = psk(1);
  o.admission.handshake_timeout_ns = 2'000'000'000;
  start(o);
  Fd idle = connect_raw();  // connects and says nothing
  ASSERT_TRUE(poll_until([&] { return server_->joining() == 1; }));
  server_->expire(monotonic_ns());  // within the deadline: kept
  EXPECT_EQ(server_->joining(), 1u);
  loop_->poll_once(0);
  EXPECT_FALSE(raw_closed(idle));
  server_->expire(monotonic_ns() + o.admission.handshake_timeout_ns + 1);
  EXPECT_EQ(server_->joining(), 0u);
  ASSERT_TRUE(poll_until([&] { return raw_closed(idle); }));
  EXPECT_TRUE(joined_.empty());
}

TEST_F(JoinServerTest, ReleaseFreesTheSlotForTheNextReceiver) {
  JoinServerOptions o = psk(1);
  o.admission.max_receivers = 1;
  start(o);
  auto a = join(testing::pattern32(1), "rx-a");
  ASSERT_TRUE(poll_until([&] { return joined_.size() == 1; }));

  // The one slot is taken: a second receiver is turned away by the listener.
  auto b = join(testing::pattern32(1), "rx-b");
  ASSERT_TRUE(poll_until([&] { return b->closed; }));
  EXPECT_FALSE(b->hs->joined());
  EXPECT_EQ(joined_.size(), 1u);

  // Released with a last message queued first: a gets it, its connection ends, the slot is free.
  joined_conns_[0]->send(Bye{ByeCode::kFinished, "done with you"});
  server_->release(joined_[0], "done with you");
  ASSERT_TRUE(poll_until([&] { return a->closed; }));
  ASSERT_FALSE(a->received.empty());
  ASSERT_TRUE(std::holds_alternative<Bye>(a->received.back()));
  EXPECT_EQ(std::get<Bye>(a->received.back()).reason, "done with you");
  EXPECT_EQ(server_->joined(), 0u);
  EXPECT_TRUE(closed_.empty()) << "no callback after release";
  auto c = join(testing::pattern32(1), "rx-c");
  ASSERT_TRUE(poll_until([&] { return joined_.size() == 2 && c->hs->joined(); }));
  EXPECT_EQ(joined_names_[1], "rx-c");
}

}  // namespace
}  // namespace shoal::control
