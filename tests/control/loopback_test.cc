// The join over real TCP sockets on 127.0.0.1: one server thread running an EventLoop with a
// Listener, clients in their own threads (good ones, a wrong key, an insecure one, one speaking
// garbage, one that connects and stays silent). Waits use generous timeouts only as a safety net.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "control/auth.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "control/listener.h"
#include "tests/control/samples.h"

namespace shoal::control {
namespace {

using namespace std::chrono_literals;
constexpr auto kSafety = 60s;  // never reached unless something hangs

Key test_key(uint8_t seed) {
  return testing::pattern32(seed);
}

sockaddr_in loopback(uint16_t port) {
  auto a = parse_endpoint("127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(a.ok());
  return *a;
}

// The sender side: handshake per connection, then answers Ready with Bye.
class TestServer {
 public:
  TestServer(std::optional<Key> key, size_t max_connections) : key_(key) {
    auto loop = EventLoop::create();
    EXPECT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    auto l = Listener::create(*loop_, loopback(0), max_connections,
                              [this](Fd fd, const sockaddr_in&, ConnectionSlot slot) {
                                on_accept(std::move(fd), std::move(slot));
                              });
    EXPECT_TRUE(l.ok()) << l.error();
    listener_ = std::move(*l);
    thread_ = std::thread([this] {
      while (!stop_) loop_->poll_once(20);
      peers_.clear();
    });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
  }

  uint16_t port() const { return listener_->port(); }

  // Waits until `n` connections have ended; returns their close reasons by receiver name
  // (or by peer address for connections that never said Hello).
  std::map<std::string, std::string> wait_closed(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kSafety, [&] { return closed_.size() >= n; });
    return closed_;
  }
  std::vector<std::string> accepted() {
    std::lock_guard lock(mu_);
    return accepted_;
  }

 private:
  struct Peer {
    std::shared_ptr<Connection> conn;
    ServerHandshake handshake;
    ConnectionSlot slot;
  };

  void on_accept(Fd fd, ConnectionSlot slot) {
    const uint32_t id = next_id_++;
    Connection::Callbacks cb;
    cb.on_message = [this](Connection& c, const Message& m) { on_message(c, m); };
    cb.on_close = [this](Connection& c, const std::string& reason) {
      auto it = peers_.find(c.id);
      std::string who = c.peer();
      if (it != peers_.end() && !it->second.handshake.receiver_name().empty()) {
        who = it->second.handshake.receiver_name();
      }
      peers_.erase(c.id);
      std::lock_guard lock(mu_);
      closed_[who] = reason;
      cv_.notify_all();
    };
    auto conn = Connection::create(*loop_, std::move(fd), cb);
    ASSERT_TRUE(conn.ok()) << conn.error();
    (*conn)->id = id;
    peers_.emplace(id, Peer{*conn, ServerHandshake(key_, id, random_nonce()), std::move(slot)});
  }

  void on_message(Connection& c, const Message& m) {
    Peer& p = peers_.at(c.id);
    if (!p.handshake.accepted()) {
      Message reply = p.handshake.on_message(m);
      c.send(reply);
      if (auto* r = std::get_if<Reject>(&reply)) {
        c.finish("rejected: " + r->reason);
      } else if (p.handshake.accepted()) {
        std::lock_guard lock(mu_);
        accepted_.push_back(p.handshake.receiver_name());
      }
      return;
    }
    if (std::holds_alternative<Ready>(m)) c.send(Bye{ByeCode::kFinished, "test over"});
  }

  std::optional<Key> key_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Listener> listener_;
  std::map<uint64_t, Peer> peers_;  // server thread only
  uint32_t next_id_ = 1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> closed_;
  std::vector<std::string> accepted_;
};

struct ClientResult {
  bool joined = false;
  uint32_t receiver_id = 0;
  bool got_bye = false;
  std::string reason;  // why it did not join
};

// A receiver: connect, handshake, Ready, wait for Bye. Its own loop, in its own thread.
ClientResult run_client(uint16_t port, std::optional<Key> key, const std::string& name) {
  ClientResult res;
  Result<Fd> fd = connect_to(loopback(port), 10000);
  if (!fd) {
    res.reason = fd.error();
    return res;
  }
  auto loop = EventLoop::create();
  ClientHandshake hs(key, name, random_nonce());
  bool done = false;
  Connection::Callbacks cb;
  cb.on_message = [&](Connection& c, const Message& m) {
    if (!hs.joined()) {
      if (std::optional<Message> reply = hs.on_message(m)) c.send(*reply);
      if (hs.failed()) {
        res.reason = hs.failure_reason();
        c.close("handshake failed");
      } else if (hs.joined()) {
        res.joined = true;
        res.receiver_id = hs.receiver_id();
        c.send(Ready{});
      }
    } else if (std::holds_alternative<Bye>(m)) {
      res.got_bye = true;
      c.close("bye");
    }
  };
  cb.on_close = [&](Connection&, const std::string& why) {
    done = true;
    if (!res.joined && res.reason.empty()) res.reason = why;
  };
  auto conn = Connection::create(**loop, std::move(*fd), cb);
  if (!conn) {
    res.reason = conn.error();
    return res;
  }
  (*conn)->send(hs.start());
  const auto deadline = std::chrono::steady_clock::now() + kSafety;
  while (!done && std::chrono::steady_clock::now() < deadline) (*loop)->poll_once(50);
  return res;
}

// Sends bytes that are not the protocol, then waits for the server to hang up.
bool run_garbage_client(uint16_t port) {
  Result<Fd> fd = connect_to(loopback(port), 10000);
  if (!fd) return false;
  const char junk[] = "GET / HTTP/1.1\r\nHost: shoal\r\n\r\n";
  if (::send(fd->get(), junk, sizeof junk - 1, MSG_NOSIGNAL) < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + kSafety;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset: the server hung up
  }
  return false;
}

TEST(Loopback, GoodReceiversJoinWhileBadOnesAreRefused) {
  TestServer server(test_key(1), 64);
  const uint16_t port = server.port();

  // A client that connects and never speaks must not hold anyone up.
  Result<Fd> silent = connect_to(loopback(port), 10000);
  ASSERT_TRUE(silent.ok()) << silent.error();

  auto garbage = std::async(std::launch::async, run_garbage_client, port);
  auto wrong = std::async(std::launch::async, run_client, port, test_key(2), "wrong-key");
  auto insecure = std::async(std::launch::async, run_client, port, std::nullopt, "insecure");
  std::vector<std::future<ClientResult>> good;
  for (int i = 0; i < 4; ++i) {
    good.push_back(
        std::async(std::launch::async, run_client, port, test_key(1), "good-" + std::to_string(i)));
  }

  std::set<uint32_t> ids;
  for (auto& g : good) {
    ASSERT_EQ(g.wait_for(kSafety), std::future_status::ready);
    ClientResult r = g.get();
    EXPECT_TRUE(r.joined) << r.reason;
    EXPECT_TRUE(r.got_bye);
    ids.insert(r.receiver_id);
  }
  EXPECT_EQ(ids.size(), 4u) << "each receiver gets its own id";

  ASSERT_EQ(wrong.wait_for(kSafety), std::future_status::ready);
  ClientResult w = wrong.get();
  EXPECT_FALSE(w.joined);
  EXPECT_EQ(w.reason, kReasonSenderUnproven);

  ASSERT_EQ(insecure.wait_for(kSafety), std::future_status::ready);
  ClientResult in = insecure.get();
  EXPECT_FALSE(in.joined);
  EXPECT_EQ(in.reason, kReasonSenderNeedsKey);

  ASSERT_EQ(garbage.wait_for(kSafety), std::future_status::ready);
  EXPECT_TRUE(garbage.get()) << "the server must hang up on garbage";

  // 4 good + wrong key + insecure + garbage have ended; the silent one is still connected.
  std::map<std::string, std::string> closed = server.wait_closed(7);
  ASSERT_EQ(closed.size(), 7u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(closed["good-" + std::to_string(i)], "peer closed the connection");
  }
  EXPECT_EQ(closed["wrong-key"], "peer closed the connection");
  EXPECT_EQ(closed["insecure"], std::string("rejected: ") + kReasonSenderNeedsKey);
  size_t protocol_errors = 0;
  for (const auto& [who, why] : closed) {
    protocol_errors += why.rfind("protocol error: frame length", 0) == 0;
  }
  EXPECT_EQ(protocol_errors, 1u) << "the garbage client";
  std::vector<std::string> accepted = server.accepted();
  EXPECT_EQ(accepted.size(), 4u);

  silent->reset();
  EXPECT_EQ(server.wait_closed(8).size(), 8u);
}

TEST(Loopback, InsecureSenderAndReceiversAgree) {
  TestServer server(std::nullopt, 8);
  ClientResult ok = run_client(server.port(), std::nullopt, "lab");
  EXPECT_TRUE(ok.joined) << ok.reason;
  ClientResult keyed = run_client(server.port(), test_key(1), "keyed");
  EXPECT_FALSE(keyed.joined);
  EXPECT_EQ(keyed.reason, kReasonSenderInsecure);
}

TEST(Loopback, ConnectionsBeyondTheCapAreToldTheSenderIsFull) {
  TestServer server(test_key(1), 1);
  Result<Fd> first = connect_to(loopback(server.port()), 10000);  // holds the only slot
  ASSERT_TRUE(first.ok());
  ClientResult second = run_client(server.port(), test_key(1), "second");
  EXPECT_FALSE(second.joined);
  EXPECT_EQ(second.reason.rfind("sender is full (1 receivers connected)", 0), 0u) << second.reason;
  first->reset();
  // Once the slot is free, joining works again (the server sees the close first).
  server.wait_closed(1);
  ClientResult third = run_client(server.port(), test_key(1), "third");
  EXPECT_TRUE(third.joined) << third.reason;
}

TEST(Listener, PortInUseSaysWhereAndSuggestsAnotherPort) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  auto first =
      Listener::create(**loop, loopback(0), 4, [](Fd, const sockaddr_in&, ConnectionSlot) {});
  ASSERT_TRUE(first.ok()) << first.error();
  const uint16_t port = (*first)->port();
  EXPECT_NE(port, 0);
  auto second =
      Listener::create(**loop, loopback(port), 4, [](Fd, const sockaddr_in&, ConnectionSlot) {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << second.error();
  EXPECT_NE(second.error().find("--listen"), std::string::npos) << second.error();
}

// --- endpoints ---

TEST(Endpoint, ParsesIpv4AndPort) {
  auto a = parse_endpoint("198.18.0.1:9100");
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->sin_family, AF_INET);
  EXPECT_EQ(ntohs(a->sin_port), 9100);
  EXPECT_EQ(ntohl(a->sin_addr.s_addr), 0xc6120001u);
  EXPECT_EQ(format_endpoint(*a), "198.18.0.1:9100");
  EXPECT_TRUE(parse_endpoint("0.0.0.0:0").ok());
}

TEST(Endpoint, RejectsMalformedInputWithAnExample) {
  for (const char* bad :
       {"", "198.18.0.1", "198.18.0.1:", ":9100", "198.18.0.1:65536", "198.18.0.1:91a0",
        "198.18.0:9100", "host.example:9100", "198.18.0.1:-1"}) {
    auto a = parse_endpoint(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_NE(a.error().find(bad), std::string::npos) << a.error();
  }
  EXPECT_NE(parse_endpoint("1.2.3:80").error().find("e.g. 198.18.0.1:9100"), std::string::npos);
}

TEST(Endpoint, ResolvesLocalhost) {
  auto a = resolve_endpoint("localhost:9100");
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(ntohl(a->sin_addr.s_addr) >> 24, 127u);
}

TEST(Endpoint, ConnectRefusedSaysWhatToCheck) {
  // A port that was just free: bind, read the port, close.
  Fd probe(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr = loopback(0);
  ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  probe.reset();
  Result<Fd> fd = connect_to(addr, 5000);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().find(format_endpoint(addr)), std::string::npos) << fd.error();
  EXPECT_NE(fd.error().find("is the sender running"), std::string::npos) << fd.error();
}

TEST(Endpoint, ConnectedSocketIsNonBlocking) {
  auto loop = EventLoop::create();
  auto l = Listener::create(**loop, loopback(0), 1, [](Fd, const sockaddr_in&, ConnectionSlot) {});
  ASSERT_TRUE(l.ok());
  Result<Fd> fd = connect_to(loopback((*l)->port()), 5000);
  ASSERT_TRUE(fd.ok()) << fd.error();
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK);
}

}  // namespace
}  // namespace shoal::control
