// Connection: one non-blocking TCP control connection driven by an EventLoop.
//
// Input: bytes are read straight into a FrameSplitter, each complete message is decoded and
// handed to on_message. A framing or decoding error closes the connection with
// "protocol error: <decoder message>".
// Output: send() encodes into a write queue and writes as much as the socket takes right away;
// EPOLLOUT interest is on only while bytes are pending. Pending output above
// Limits::max_pending_output closes the connection ("send queue over limit ..."), so one stalled
// receiver cannot make the sender buffer without bound. pending_output() and on_drained let a
// sender pace bulk output (manifest, unicast repair) to what the peer absorbs.
//
// Lifetime: Connections are held by std::shared_ptr; a Connection keeps itself alive while it
// runs a callback, so owners may drop their pointer inside on_message/on_close. on_close runs
// exactly once, from close()/finish() or from the loop; the fd is out of the loop and closed by
// then. The Message passed to on_message (Repair.payload in particular) is valid only during the
// call. Callbacks must not hold a shared_ptr to their own Connection (a cycle that never frees);
// they get it as an argument. Not thread-safe: use from the loop's thread.
#pragma once

#include <netinet/in.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "control/event_loop.h"
#include "control/messages.h"
#include "control/tls.h"

namespace shoal::control {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  struct Callbacks {
    std::function<void(Connection&, const Message&)> on_message;
    std::function<void(Connection&, const std::string& reason)> on_close;
    std::function<void(Connection&)> on_drained;  // optional: the write queue became empty
  };
  struct Limits {
    size_t max_pending_output = size_t{16} << 20;
    size_t max_message_size = kMaxMessageSize;
    size_t read_chunk = size_t{64} << 10;
    int reads_per_event = 4;  // then yield to other fds (level-triggered: we are called again)
    // TLS reads return one record (<= 16 KiB) each; after this many the connection yields too and
    // asks the loop to call it again (decrypted bytes do not show on the socket).
    int tls_reads_per_event = 16;
  };

  // Takes a connected socket (made non-blocking here) and registers it with the loop. With a TLS
  // context the connection speaks TLS 1.3 (control/tls.h); a client starts its handshake here, and
  // a handshake the peer ends at once (say, a server without TLS hangs up) is reported like any
  // later one: through on_close, on the first poll, never as an error of create().
  static Result<std::shared_ptr<Connection>> create(EventLoop& loop, Fd fd, Callbacks callbacks,
                                                    Limits limits,
                                                    std::shared_ptr<TlsContext> tls = nullptr);
  static Result<std::shared_ptr<Connection>> create(EventLoop& loop, Fd fd, Callbacks callbacks) {
    return create(loop, std::move(fd), std::move(callbacks), Limits{});
  }

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues one message. Returns false if the connection is closed or closing, or if this message
  // pushed the queue over the limit (the connection is then closed).
  bool send(const Message& message);

  // Closes now, dropping unsent output; calls on_close(reason). No-op if already closed.
  void close(const std::string& reason);
  // Stops reading, sends what is queued (e.g. a Reject), then closes with `reason`.
  void finish(const std::string& reason);

  bool is_open() const { return fd_.valid(); }
  size_t pending_output() const { return out_.size() - out_head_; }
  // The largest message accepted from now on (a sender keeps it small until a peer has joined).
  void set_max_message_size(size_t max) { splitter_.set_max_message_size(max); }
  // "a.b.c.d:port" of the peer, for logs.
  const std::string& peer() const { return peer_; }
  // This end's address (getsockname); nullopt once closed.
  std::optional<sockaddr_in> local_address() const;
  // The TLS session, once a message has arrived over it (nullptr without TLS).
  const TlsStream* tls() const { return tls_.get(); }

  uint64_t id = 0;  // free for the owner (e.g. receiver id)

 private:
  Connection(EventLoop& loop, Fd fd, Callbacks callbacks, Limits limits, std::string peer);
  void on_events(uint32_t events);
  void on_readable();
  // Raw I/O through TLS or the socket: bytes moved (> 0), or kIoAgain / kIoEof / kIoError (then
  // `why` says what happened).
  static constexpr long kIoAgain = -1, kIoEof = -2, kIoError = -3;
  long io_read(std::span<uint8_t> buf, std::string& why);
  long io_write(std::span<const uint8_t> buf, std::string& why);
  // Writes queued bytes; returns false if the connection was closed by an error.
  bool flush();
  void update_interest();

  EventLoop& loop_;
  Fd fd_;
  Callbacks cb_;
  Limits limits_;
  std::string peer_;
  FrameSplitter splitter_;
  std::vector<uint8_t> out_;
  size_t out_head_ = 0;  // first unsent byte of out_
  bool closing_ = false;
  std::string closing_reason_;
  uint32_t interest_ = 0;
  std::unique_ptr<TlsStream> tls_;
  bool tls_wants_write_ = false;  // TLS needs the socket writable before it can go on
  std::string failed_;            // the client handshake failed in create(): closed on first poll
};

}  // namespace shoal::control
