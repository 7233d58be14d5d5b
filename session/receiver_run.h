// ReceiverRun: the receiver's driver (receiver.cc), one run of `shoal recv`. Declared here so
// its parts live in files of their own (receiver_peers.cc: peer repair); not an API.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "control/auth.h"
#include "control/connection.h"
#include "control/event_loop.h"
#include "engine/transport_select.h"
#include "object/object_sink.h"
#include "object/pipe_sink.h"
#include "probe/probe_autorate.h"
#include "probe/probe_receiver.h"
#include "session/checkpointer.h"
#include "session/manifest_seal.h"
#include "session/peer_fetch.h"
#include "session/peer_server.h"
#include "session/receiver.h"
#include "session/receiver_control.h"
#include "session/receiver_core.h"
#include "session/receiver_report.h"
#include "session/session_keys.h"

namespace shoal::session::detail {

// Runs one receive: the connection, the join, the data plane and the disk, doing what
// ReceiverControl (the session logic) asks.
class ReceiverRun {
 public:
  explicit ReceiverRun(const RecvOptions& o)
      : opt_(o), control_(o.announced), progress_(o.progress) {
    if (o.unicast_only) control_.set_beacon_wait(0);
  }
  RecvResult run();

 private:
  RecvResult setup_failed(std::string reason, bool bad_input) {
    spdlog::error("{}", reason);
    return {false, bad_input, std::move(reason)};
  }
  void on_message(const control::Message& m);
  void on_closed(const std::string& why);
  void open_session(ReceiverControl::OpenSession o);
  void open_pipe(const control::Session& s, size_t max_open);
  void join_group(const control::Session& s);
  Status verify_off_thread();
  void refuse(const std::string& why);
  void on_udp();
  void tick();
  void execute(const ReceiverControl::Action& a);
  void commit(uint32_t pass);
  void relay_tick();
  // Peer repair (receiver_peers.cc): serving once verified, and taking a pass from a peer.
  // Why this receiver will not serve peers (nullptr: it will, once verified).
  const char* serve_peers_refusal() const;
  void offer_to_serve_peers();
  void fetch_from_peer(const control::PeerAssign& assign);
  void peer_tick(uint64_t now_ns);
  void log_peer_service() const;
  void report_peers(ReceiverSummary& summary) const;
  bool socket_empty() const;
  RecvResult finish();
  // The data plane as chosen on the command line; the group comes from the sender.
  engine::RxTransportOptions data_plane() const {
    engine::RxTransportOptions ro;
    ro.choice = opt_.transport;
    ro.iface = opt_.iface;
    ro.rcvbuf = opt_.rcvbuf;
    return ro;
  }

  RecvOptions opt_;
  std::string name_;  // this receiver's, as the sender (and its peers) know it
  ReceiverControl control_;
  std::unique_ptr<control::EventLoop> loop_;
  std::shared_ptr<control::Connection> conn_;
  std::optional<control::ClientHandshake> hs_;
  std::string received_path_;  // --out, or where a packed object waits to be unpacked
  uint64_t socket_drops_ = 0;  // the data socket's drops, read before it is closed
  int socket_buffer_ = 0;      // the receive buffer asked for
  std::optional<DataKey> key_;
  std::optional<ManifestSeal> seal_;  // the streamed manifest's tags (channel key)
  // The sink outlives what writes into it: the checkpointer's thread and the core.
  std::unique_ptr<object::BlockSink> sink_;
  object::PipeSink* pipe_ = nullptr;  // --out -: sink_, streaming to stdout
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<ReceiverCore> core_;
  std::unique_ptr<engine::RxBackend> rx_;
  std::shared_ptr<void> rx_keep_;  // what the backend needs alive (DPDK EAL and port)
  uint64_t last_udp_ns_ = 0, start_ns_ = 0, done_ns_ = 0;
  std::optional<control::Done> relay_done_;  // a relay's Done, held until its segment ended
  std::unique_ptr<PeerServer> peer_server_;  // --serve-peers, once verified
  std::unique_ptr<PeerFetch> peer_fetch_;    // the unicast lane pass a peer serves now
  uint64_t peer_passes_taken_ = 0, peer_symbols_taken_ = 0;
  ProgressLine progress_;
  // `shoal probe` and --rate auto (issue #7): declared last, so destroyed before loop_ and conn_.
  std::unique_ptr<probe::ProbeReceiver> probe_;
  probe::FeedbackCounter feedback_;
};

}  // namespace shoal::session::detail
