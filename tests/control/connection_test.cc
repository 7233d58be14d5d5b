// EventLoop and Connection over socketpairs, in one thread.
#include "control/connection.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include "control/event_loop.h"
#include "tests/control/samples.h"

namespace shoal::control {
namespace {

std::pair<Fd, Fd> socket_pair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {Fd(sv[0]), Fd(sv[1])};
}

std::unique_ptr<EventLoop> make_loop() {
  auto loop = EventLoop::create();
  EXPECT_TRUE(loop.ok());
  return std::move(*loop);
}

// Polls until `done` holds; the iteration cap is only a safety net against hanging.
bool pump(EventLoop& loop, const std::function<bool()>& done, int max_polls = 2000) {
  for (int i = 0; i < max_polls && !done(); ++i) loop.poll_once(50);
  return done();
}

// --- EventLoop ---

TEST(EventLoop, DispatchesReadyFdsAndTimesOut) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  int calls = 0;
  uint32_t seen = 0;
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN,
                        [&](uint32_t ev) {
                          ++calls;
                          seen = ev;
                        })
                  .ok());
  EXPECT_EQ(loop->poll_once(0), 0);
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  EXPECT_EQ(loop->poll_once(1000), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(seen & EPOLLIN);
  EXPECT_EQ(loop->watched(), 1u);
  loop->remove(a.get());
  EXPECT_EQ(loop->poll_once(0), 0);
  EXPECT_EQ(loop->watched(), 0u);
}

TEST(EventLoop, AgainCallsBackOnTheNextPollWithoutSocketEvents) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  auto [c, d] = socket_pair();
  int calls_a = 0, calls_c = 0;
  uint32_t seen = 0;
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN,
                        [&](uint32_t ev) {
                          ++calls_a;
                          seen = ev;
                        })
                  .ok());
  ASSERT_TRUE(loop->add(c.get(), EPOLLIN, [&](uint32_t) { ++calls_c; }).ok());
  loop->again(a.get());
  loop->again(a.get());  // asked twice before a poll: called once
  pollfd pfd{loop->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 1) << "a nesting poll must see the pending call";
  EXPECT_EQ(loop->poll_once(1000), 1);
  EXPECT_EQ(calls_a, 1);
  EXPECT_EQ(calls_c, 0);
  EXPECT_EQ(seen, uint32_t{EPOLLIN});
  // Only once: nothing is pending afterwards, and the loop's own fd is quiet again.
  EXPECT_EQ(loop->poll_once(0), 0);
  EXPECT_EQ(calls_a, 1);
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  // An fd removed before the poll is not called; an unknown fd is ignored.
  loop->again(a.get());
  loop->again(d.get());
  loop->remove(a.get());
  EXPECT_EQ(loop->poll_once(0), 0);
  EXPECT_EQ(calls_a, 1);
}

TEST(EventLoop, RejectsDuplicatesAndUnknownFds) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN, [](uint32_t) {}).ok());
  EXPECT_FALSE(loop->add(a.get(), EPOLLIN, [](uint32_t) {}).ok());
  EXPECT_FALSE(loop->modify(b.get(), EPOLLIN).ok());
  loop->remove(b.get());  // no-op
  EXPECT_TRUE(loop->modify(a.get(), EPOLLOUT).ok());
}

TEST(EventLoop, EventsOfAnFdRemovedDuringTheBatchAreDropped) {
  auto loop = make_loop();
  auto [a1, a2] = socket_pair();
  auto [b1, b2] = socket_pair();
  ASSERT_EQ(::write(a2.get(), "x", 1), 1);
  ASSERT_EQ(::write(b2.get(), "x", 1), 1);
  Fd replacement_peer;
  Fd replacement;
  int first = 0, second = 0, replacement_calls = 0;
  // Whichever callback runs first removes and closes the other fd, then watches a new socket
  // that most likely reuses the closed number: its stale event must not reach the new callback.
  auto make_cb = [&](Fd& self, Fd& other) {
    return [&](uint32_t) {
      if (first == 0) {
        first = self.get();
        const int other_number = other.get();
        loop->remove(other_number);
        other.reset();
        auto [n1, n2] = socket_pair();
        replacement = std::move(n1);
        replacement_peer = std::move(n2);
        EXPECT_TRUE(
            loop->add(replacement.get(), EPOLLIN, [&](uint32_t) { ++replacement_calls; }).ok());
        (void)other_number;
      } else {
        second = self.get();
      }
    };
  };
  ASSERT_TRUE(loop->add(a1.get(), EPOLLIN, make_cb(a1, b1)).ok());
  ASSERT_TRUE(loop->add(b1.get(), EPOLLIN, make_cb(b1, a1)).ok());
  EXPECT_EQ(loop->poll_once(1000), 1);
  EXPECT_NE(first, 0);
  EXPECT_EQ(second, 0);
  EXPECT_EQ(replacement_calls, 0);
}

TEST(EventLoop, CallbackMayRemoveItself) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  int calls = 0;
  std::string captured = "kept alive while running";
  const int afd = a.get();
  ASSERT_TRUE(loop->add(afd, EPOLLIN,
                        [&, captured](uint32_t) {
                          loop->remove(afd);
                          // Touches its own capture after removal: must still be valid.
                          calls += static_cast<int>(captured.size() > 0);
                        })
                  .ok());
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  EXPECT_EQ(loop->poll_once(1000), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop->poll_once(0), 0);
}

// --- Connection ---

struct Recorder {
  std::vector<Message> messages;
  std::vector<uint8_t> repair_bytes;  // copies of Repair payloads (views die after the callback)
  std::string close_reason;
  int closes = 0;
  int drained = 0;
  Connection::Callbacks callbacks() {
    return {[this](Connection&, const Message& m) {
              if (auto* r = std::get_if<Repair>(&m)) {
                repair_bytes.insert(repair_bytes.end(), r->payload.begin(), r->payload.end());
              }
              messages.push_back(m);
            },
            [this](Connection&, const std::string& reason) {
              ++closes;
              close_reason = reason;
            },
            [this](Connection&) { ++drained; }};
  }
};

TEST(Connection, ExchangesEveryMessageType) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  Recorder ra, rb;
  auto ca = Connection::create(*loop, std::move(a), ra.callbacks());
  auto cb = Connection::create(*loop, std::move(b), rb.callbacks());
  ASSERT_TRUE(ca.ok() && cb.ok());
  const std::vector<Message> samples = testing::sample_messages();
  for (const Message& m : samples) ASSERT_TRUE((*ca)->send(m));
  ASSERT_TRUE(pump(*loop, [&] { return rb.messages.size() == samples.size(); }));
  ASSERT_EQ(rb.messages.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(rb.messages[i].index(), samples[i].index());
    if (!std::holds_alternative<Repair>(samples[i])) {
      EXPECT_TRUE(rb.messages[i] == samples[i]);
    }
  }
  // Both Repair samples' payloads arrived intact (the empty one adds nothing).
  EXPECT_EQ(rb.repair_bytes, testing::repair_payload());
  EXPECT_EQ(ra.closes + rb.closes, 0);
}

TEST(Connection, LargeMessagesCrossTheLoop) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  Recorder ra, rb;
  auto ca = Connection::create(*loop, std::move(a), ra.callbacks());
  auto cb = Connection::create(*loop, std::move(b), rb.callbacks());
  std::vector<Digest> hashes(kMaxManifestHashes * 2 + 5);
  for (size_t i = 0; i < hashes.size(); ++i)
    hashes[i] = testing::pattern32(static_cast<uint8_t>(i));
  std::vector<Manifest> parts = split_manifest(hashes);
  for (const Manifest& m : parts) ASSERT_TRUE((*ca)->send(m));
  EXPECT_GT((*ca)->pending_output(), 0u) << "3 MiB cannot fit a socket buffer at once";
  ASSERT_TRUE(pump(*loop, [&] { return rb.messages.size() == parts.size(); }));
  std::vector<Digest> got;
  for (const Message& m : rb.messages) {
    const auto& part = std::get<Manifest>(m).block_hashes;
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_EQ(got, hashes);
  EXPECT_EQ((*ca)->pending_output(), 0u);
  EXPECT_GE(ra.drained, 1);
}

TEST(Connection, GarbageClosesWithAProtocolError) {
  auto loop = make_loop();
  {
    auto [a, raw] = socket_pair();
    Recorder r;
    auto c = Connection::create(*loop, std::move(a), r.callbacks());
    ASSERT_EQ(::write(raw.get(), "GET / HTTP/1.1\r\n\r\n", 18), 18);
    ASSERT_TRUE(pump(*loop, [&] { return r.closes > 0; }));
    EXPECT_EQ(r.close_reason.rfind("protocol error: frame length", 0), 0u) << r.close_reason;
    EXPECT_FALSE((*c)->is_open());
    EXPECT_FALSE((*c)->send(Ready{}));
  }
  {
    auto [a, raw] = socket_pair();
    Recorder r;
    auto c = Connection::create(*loop, std::move(a), r.callbacks());
    const uint8_t unknown_type[] = {0, 0, 0, 2, kProtocolVersion, 200};
    ASSERT_EQ(::write(raw.get(), unknown_type, sizeof unknown_type), 6);
    ASSERT_TRUE(pump(*loop, [&] { return r.closes > 0; }));
    EXPECT_EQ(r.close_reason, "protocol error: unknown message type 200");
  }
}

TEST(Connection, ReportsThePeerClosing) {
  auto loop = make_loop();
  auto [a, raw] = socket_pair();
  Recorder r;
  auto c = Connection::create(*loop, std::move(a), r.callbacks());
  std::vector<uint8_t> half;
  encode(Accept{1}, half);
  half.pop_back();  // one byte short of a whole message
  ASSERT_EQ(::write(raw.get(), half.data(), half.size()), static_cast<ssize_t>(half.size()));
  raw.reset();
  ASSERT_TRUE(pump(*loop, [&] { return r.closes > 0; }));
  EXPECT_EQ(r.close_reason, "peer closed the connection in the middle of a message");
  EXPECT_EQ(r.closes, 1);
  EXPECT_EQ(loop->watched(), 0u);
}

TEST(Connection, SendQueueOverLimitCloses) {
  auto loop = make_loop();
  auto [a, raw] = socket_pair();  // raw never reads
  Recorder r;
  Connection::Limits limits;
  limits.max_pending_output = 256 << 10;
  auto c = Connection::create(*loop, std::move(a), r.callbacks(), limits);
  const Repair sym{1, 1, testing::repair_payload()};
  int sent = 0;
  while (sent < 100000 && (*c)->send(sym)) ++sent;  // bounded: the limit must stop this
  EXPECT_LT(sent, 100000);
  EXPECT_EQ(r.closes, 1);
  EXPECT_EQ(r.close_reason.rfind("send queue over limit", 0), 0u) << r.close_reason;
}

TEST(Connection, QueuedOutputDrainsWhenThePeerReads) {
  auto loop = make_loop();
  auto [a, raw] = socket_pair();
  Recorder r;
  auto c = Connection::create(*loop, std::move(a), r.callbacks());
  const Repair sym{1, 1, testing::repair_payload()};
  while ((*c)->pending_output() == 0) ASSERT_TRUE((*c)->send(sym));  // fill the socket buffer
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*c)->send(sym));
  const size_t queued = (*c)->pending_output();
  ASSERT_GT(queued, 0u);
  // Read everything on the raw side while the loop writes, and count whole frames.
  FrameSplitter sp;
  size_t frames = 0;
  const int raw_fd = raw.get();
  auto read_raw = [&] {
    uint8_t buf[65536];
    ssize_t n;
    while ((n = ::recv(raw_fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      sp.feed({buf, static_cast<size_t>(n)});
      for (auto f = sp.next(); f.ok() && *f; f = sp.next()) ++frames;
    }
  };
  ASSERT_TRUE(pump(*loop, [&] {
    read_raw();
    return (*c)->pending_output() == 0 && r.drained > 0;
  }));
  read_raw();
  EXPECT_EQ(r.drained, 1);
  EXPECT_EQ(r.closes, 0);
  EXPECT_GT(frames, 100u);
}

TEST(Connection, FinishDeliversTheLastMessageThenCloses) {
  auto loop = make_loop();
  auto [a, raw] = socket_pair();
  Recorder r;
  auto c = Connection::create(*loop, std::move(a), r.callbacks());
  ASSERT_TRUE((*c)->send(Reject{"go away"}));
  (*c)->finish("rejected");
  ASSERT_TRUE(pump(*loop, [&] { return r.closes > 0; }));
  EXPECT_EQ(r.close_reason, "rejected");
  EXPECT_FALSE((*c)->send(Ready{}));
  std::vector<uint8_t> got(256);
  ssize_t n = ::recv(raw.get(), got.data(), got.size(), 0);
  ASSERT_GT(n, 4);
  Result<Message> m = decode_body(std::span(got).subspan(4, static_cast<size_t>(n) - 4));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(std::get<Reject>(*m).reason, "go away");
  EXPECT_EQ(::recv(raw.get(), got.data(), got.size(), 0), 0) << "then EOF";
}

TEST(Connection, OwnerMayDropTheConnectionInsideCallbacks) {
  auto loop = make_loop();
  auto [a, b] = socket_pair();
  std::shared_ptr<Connection> held;
  std::string reason;
  Connection::Callbacks cbs;
  cbs.on_message = [&](Connection& c, const Message&) { c.close("done with it"); };
  cbs.on_close = [&](Connection&, const std::string& why) {
    reason = why;
    held.reset();  // the last owner goes away while the connection is inside its own code
  };
  auto c = Connection::create(*loop, std::move(a), cbs);
  held = std::move(*c);
  Recorder rb;
  auto peer = Connection::create(*loop, std::move(b), rb.callbacks());
  ASSERT_TRUE((*peer)->send(Ready{}));
  ASSERT_TRUE((*peer)->send(Ready{}));  // a second message must not reach the dead connection
  ASSERT_TRUE(pump(*loop, [&] { return !reason.empty(); }));
  EXPECT_EQ(reason, "done with it");
  EXPECT_EQ(held, nullptr);
  ASSERT_TRUE(pump(*loop, [&] { return rb.closes > 0; }));
  EXPECT_EQ(rb.close_reason, "peer closed the connection");
}

}  // namespace
}  // namespace shoal::control
