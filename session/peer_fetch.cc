#include "session/peer_fetch.h"

#include "common/printable.h"
#include "control/endpoint.h"

namespace shoal::session {

PeerFetch::PeerFetch(control::EventLoop& loop, control::PeerAssign assign,
                     std::optional<control::Key> key, std::string name, uint64_t now_ns,
                     Callbacks callbacks)
    : assign_(std::move(assign)), cb_(std::move(callbacks)), last_ns_(now_ns) {
  auto fd = control::connect_to(assign_.address, kPeerConnectTimeoutMs);
  if (!fd) {
    fail(fd.error());
    return;
  }
  control::Connection::Callbacks cb;
  cb.on_message = [this](control::Connection&, const control::Message& m) { on_message(m); };
  cb.on_close = [this](control::Connection&, const std::string& why) {
    if (!served_) fail("the connection closed (" + why + ")");
  };
  auto conn = control::Connection::create(loop, std::move(*fd), cb);
  if (!conn) {
    fail(conn.error());
    return;
  }
  conn_ = std::move(*conn);
  hs_.emplace(key, std::move(name), control::random_nonce());
  conn_->send(hs_->start());
}

// An open connection is dropped quietly (Connection's destructor calls no callback).
PeerFetch::~PeerFetch() = default;

void PeerFetch::fail(std::string why) {
  if (failure_.empty() && !served_) failure_ = std::move(why);
}

void PeerFetch::on_message(const control::Message& m) {
  ++messages_;
  if (served_ || !failure_.empty()) return;
  if (!hs_->joined()) {
    auto reply = hs_->on_message(m);
    if (reply) conn_->send(*reply);
    if (hs_->failed()) return fail("refused: " + hs_->failure_reason());
    if (hs_->joined()) conn_->send(assign_);
    return;
  }
  if (const auto* r = std::get_if<control::Repair>(&m)) {
    ++symbols_;
    if (Status st = cb_.on_symbol(*r); !st) fail(st.error());
  } else if (const auto* pe = std::get_if<control::PassEnd>(&m)) {
    if (pe->pass != assign_.pass) return fail("it ended pass " + std::to_string(pe->pass));
    served_ = true;
  } else if (const auto* bye = std::get_if<control::Bye>(&m)) {
    fail("it ended the connection: " + printable(bye->reason));
  } else {
    fail(std::string("protocol error: unexpected ") + control::type_name(m));
  }
}

void PeerFetch::tick(uint64_t now_ns) {
  if (ended_) return;
  if (messages_ != seen_messages_) {  // something came since the last tick
    seen_messages_ = messages_;
    last_ns_ = now_ns;
  }
  if (!served_ && failure_.empty() && now_ns > last_ns_ + control::kPeerStallNs) {
    fail("it sent nothing for " + std::to_string(control::kPeerStallNs / 1'000'000'000) + "s");
  }
  if (!served_ && failure_.empty()) return;
  ended_ = true;
  if (conn_) conn_->close(served_ ? "pass served" : failure_);
  conn_.reset();
  cb_.on_end(assign_.pass, served_ ? std::string() : failure_);
}

}  // namespace shoal::session
