// run_sender and the driver's setup: options checked, object opened and laid out in blocks, data
// plane and control listener opened, keys made; then the session runs (sender_driver.cc).
#include "session/sender.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <filesystem>

#include "common/clock.h"
#include "common/event_log.h"
#include "common/stop_signals.h"
#include "common/units.h"
#include "control/endpoint.h"
#include "engine/frame_fit.h"
#include "engine/net_iface.h"
#include "engine/wire.h"
#include "object/manifest_cache.h"
#include "object/object_format.h"
#include "object/pipe_source.h"
#include "session/sender_driver.h"

namespace shoal::session {

std::optional<SendOutcome> SenderDriver::setup() {
  constexpr auto kBadInput = SendOutcome::kBadInput;
  auto loop = control::EventLoop::create();
  if (!loop) {
    spdlog::error("{}", loop.error());
    return SendOutcome::kError;
  }
  loop_ = std::move(*loop);
  // Before any thread starts (hashing workers, DPDK lcores): they inherit the blocked mask, so
  // SIGINT/SIGTERM reach this loop (on_stop_signal) and the session ends in order.
  if (auto stop = StopSignals::create(); stop) {
    stop_signals_.emplace(std::move(*stop));
    if (Status a = loop_->add(stop_signals_->fd(), EPOLLIN, [this](uint32_t) { on_stop_signal(); });
        !a) {
      spdlog::error("{}", a.error());
      return SendOutcome::kError;
    }
  } else {
    spdlog::warn("{} (Ctrl-C will end the sender without telling receivers)", stop.error());
  }
  // The front door first: TLS files, authentication, --allow and --listen are checked here.
  control::JoinServer::Callbacks jcb;
  jcb.on_joined = [this](const control::JoinedPeer& j) { on_joined(j); };
  jcb.on_message = [this](uint32_t id, const control::Message& m) { on_message(id, m); };
  jcb.on_closed = [this](uint32_t id, const std::string& why) { on_closed(id, why); };
  auto server = control::JoinServer::create(
      *loop_, {opt_.listen, opt_.key, opt_.insecure, opt_.tls, opt_.admission}, std::move(jcb));
  if (!server) {
    spdlog::error("{}", server.error());
    return kBadInput;
  }
  server_ = std::move(*server);
  // --rate auto[:FILE]: the controller sets the rate (made again if the symbol size changes).
  auto make_auto_rate = [&]() -> bool {
    if (opt_.rate_auto.empty()) return true;
    auto ar = probe::AutoRate::make(opt_.rate_auto,
                                    uint32_t(engine::kHeaderSize + opt_.symbol_size +
                                             (opt_.frame_auth ? engine::kFrameTagSize : 0)),
                                    opt_.k, opt_.proactive);
    if (!ar) {
      spdlog::error("--rate: {}", ar.error());
      return false;
    }
    auto_rate_.emplace(std::move(*ar));
    opt_.rate_bps = auto_rate_->start_bps();
    return true;
  };
  if (!make_auto_rate()) return kBadInput;
  if (auto_rate_) spdlog::info("{}", auto_rate_->describe());
  if (opt_.encrypt && !opt_.frame_auth) {
    spdlog::error("--encrypt needs authenticated frames: drop --no-frame-auth");
    return kBadInput;
  }
  if (opt_.encrypt && !opt_.key && !opt_.tls.enabled()) {
    spdlog::warn(
        "--encrypt without a key: the data key crosses the control connection in the clear, so "
        "anyone who sees that traffic can decrypt the object; use --key-file");
  }
  if (!opt_.frame_auth) {
    spdlog::warn("--no-frame-auth: anyone on the segment can inject data frames");
  }
  if (auto g = engine::parse_ipv4(opt_.group);
      g && opt_.ttl > 1 && (ntohl(g->s_addr) >> 24) != 239) {
    spdlog::warn(
        "group {} is outside 239.0.0.0/8 (administratively scoped) and --ttl is {}: the data "
        "may leave your organisation's network; prefer a 239.x.y.z group",
        opt_.group, opt_.ttl);
  }

  // A directory tree and/or --compress become one packed object (object/object_format.h).
  object::ObjectFormatInfo format;
  if (opt_.path == "-" && opt_.object_name.empty()) {
    spdlog::error(
        "send -: name the object with --name (receivers, and recvd's --map rules, see it)");
    return kBadInput;
  }
  if (opt_.pipe_size != 0) {
    if (Status ok = check_pipe_options(); !ok) {
      spdlog::error("{}", ok.error());
      return kBadInput;
    }
    auto pipe =
        object::PipeSource::create(opt_.pipe_fd, opt_.pipe_size, object::spool_dir(opt_.spool),
                                   opt_.spool_max, opt_.pipe_naming);
    if (!pipe) {
      spdlog::error("{}", pipe.error());
      return kBadInput;
    }
    pipe_ = std::move(*pipe);
    // A relay passes a packed object on as it is. Its unpacked size is not known here: a zstd
    // image is allowed 8x its compressed size to unpack (finish_allowance_ns).
    format.format = opt_.pipe_format;
    format.content_bytes =
        opt_.pipe_size * ((opt_.pipe_format & control::kObjectFormatZstd) ? 8 : 1);
    spdlog::info("send -: reading {} from stdin while sending, through a spool of at most {} in {}",
                 format_bytes(double(opt_.pipe_size)), format_bytes(double(opt_.spool_max)),
                 pipe_->label());
  } else {
    auto src = object::open_object(opt_.path, opt_.compress, opt_.spool, format);
    if (!src) {
      spdlog::error("{}", src.error());
      return kBadInput;
    }
    source_.emplace(std::move(*src));
  }
  const uint64_t object_size = object_bytes().size();
  // The object cut into blocks of --symbol-size symbols (again if the MTU asks for smaller ones).
  auto lay_out = [&]() -> bool {
    auto layout = fec::BlockLayout::make(object_size, opt_.symbol_size, opt_.k);
    if (!layout) {
      spdlog::error("{}", layout.error());
      return false;
    }
    layout_.emplace(*layout);
    auto syms = SymbolSource::make(object_bytes(), *layout_);
    if (!syms) {
      spdlog::error("{}", syms.error());
      return false;
    }
    symbols_.emplace(std::move(*syms));
    return true;
  };
  if (!lay_out()) return kBadInput;

  auto tx = engine::open_transport(
      {opt_.transport, opt_.group, opt_.port, opt_.iface, opt_.ttl, opt_.loopback});
  if (!tx) {
    spdlog::error("{}", tx.error());
    return kBadInput;
  }
  spdlog::info("data plane: {}", tx->why);
  // A data frame larger than the MTU is fragmented: refused here rather than lost at receivers.
  // With --ttl 0 frames never leave this host (loopback), so no link's MTU applies. Without
  // --symbol-size, the largest symbol that fits is taken instead (an MTU below 1500: tunnels,
  // overlays, some clouds).
  const uint32_t mtu = opt_.ttl > 0 ? tx->mtu : 0;
  if (const uint32_t fits = engine::largest_symbol_size_for_mtu(mtu, opt_.frame_auth);
      mtu != 0 && !opt_.symbol_size_given && fits != 0 && fits < opt_.symbol_size) {
    spdlog::info(
        "symbol size {} B: data frames of {} B would exceed the {}-byte MTU of {} "
        "(--symbol-size chooses)",
        fits, opt_.symbol_size, mtu, tx->mtu_of);
    opt_.symbol_size = fits;
    if (!lay_out() || !make_auto_rate()) return kBadInput;
  }
  if (Status fit =
          engine::check_symbol_size_fits_mtu(opt_.symbol_size, opt_.frame_auth, mtu, tx->mtu_of);
      !fit) {
    spdlog::error("{}", fit.error());
    return kBadInput;
  }
  tx_ = std::move(tx->tx);

  if (!opt_.metrics.empty()) {
    auto m =
        control::MetricsServer::create(*loop_, opt_.metrics, [this] { return render_metrics(); });
    if (!m) {
      spdlog::error("{}", m.error());
      return kBadInput;
    }
    metrics_ = std::move(*m);
    spdlog::info("metrics for Prometheus on http://{}/metrics", opt_.metrics);
  }

  start_manifest(format.format == 0 && opt_.path != "-");  // stdin: nothing to key a cache on
  RAND_bytes(reinterpret_cast<unsigned char*>(&session_id_), sizeof session_id_);
  while (beacon_nonce_ == 0) {
    RAND_bytes(reinterpret_cast<unsigned char*>(&beacon_nonce_), sizeof beacon_nonce_);
  }
  data_key_ = make_data_key(!opt_.frame_auth ? control::FrameSuite::kNone
                            : opt_.encrypt   ? control::FrameSuite::kAeadGcm
                                             : control::FrameSuite::kGmac);
  {
    std::optional<engine::FrameCrypto> crypto;
    if (data_key_->suite != control::FrameSuite::kNone) {
      auto c = engine::FrameCrypto::create(data_key_->key, protection_of(data_key_->suite));
      if (!c) {
        spdlog::error("{}", c.error());
        return SendOutcome::kError;
      }
      crypto.emplace(std::move(*c));
    }
    builder_.emplace(session_id_, std::move(crypto));
  }
  session_msg_.session_id = session_id_;
  in_addr g{};
  g = *engine::parse_ipv4(opt_.group);
  session_msg_.group_ipv4 = ntohl(g.s_addr);
  session_msg_.port = opt_.port;
  session_msg_.ttl = static_cast<uint8_t>(opt_.ttl);
  // The most this session may send at: its --rate, or the ceiling of --rate auto / max (receivers
  // size their socket buffers from it).
  session_msg_.rate_bps = auto_rate_ ? auto_rate_->config().ceiling_bps : opt_.rate_bps;
  session_msg_.symbol_size = static_cast<uint16_t>(opt_.symbol_size);
  session_msg_.k = static_cast<uint8_t>(opt_.k);
  session_msg_.proactive_repair = static_cast<uint8_t>(opt_.proactive);
  session_msg_.object_size = object_size;
  session_msg_.block_count = layout_->block_count();
  session_msg_.object_name = opt_.object_name.empty()
                                 ? std::filesystem::path(opt_.path).filename().string()
                                 : opt_.object_name;
  session_msg_.object_format = format.format;
  // Receivers unpack or decompress a packed object before they answer with Done.
  opt_.answer_timeout_ns += object::finish_allowance_ns(format);

  SenderConfig cfg;
  cfg.min_receivers = opt_.min_receivers;
  cfg.max_wait_ns = opt_.max_wait_ns;
  if (opt_.until_ns != 0) cfg.until_ns = t_start_ + opt_.until_ns;
  cfg.answer_timeout_ns = opt_.answer_timeout_ns;
  cfg.max_passes = opt_.max_passes;
  cfg.hosts = opt_.hosts;
  cfg.scope_strict = opt_.scope_strict;
  cfg.beacon_nonce = beacon_nonce_;
  cfg.group = opt_.group;
  cfg.ttl = opt_.ttl;
  cfg.listen = opt_.listen;
  // Every block has k symbols but perhaps the last (fec/layout.h): no call per block.
  cfg.block_k.assign(layout_->block_count(), static_cast<uint8_t>(layout_->k()));
  if (!cfg.block_k.empty()) {
    cfg.block_k.back() = static_cast<uint8_t>(layout_->block_k(layout_->block_count() - 1));
  }
  cfg.proactive = static_cast<uint8_t>(opt_.proactive);
  cfg.unicast_budget_symbols = opt_.unicast_budget_symbols;
  cfg.slow = opt_.slow_receiver;
  cfg.rate_bps = opt_.rate_bps;
  cfg.peer_repair = opt_.peer_repair && !opt_.encrypt;
  if (opt_.peer_repair && opt_.encrypt) {
    spdlog::info(
        "--encrypt: receivers' offers to serve peers are declined (a peer sends symbols "
        "in the clear)");
  }
  core_.emplace(std::move(cfg), t_start_);

  if (opt_.until_ns != 0) {
    spdlog::info("--until: the session stays joinable for {:.0f}s", double(opt_.until_ns) / 1e9);
  }
  spdlog::info(
      "sending '{}' ({}, {} blocks of {}x{} B) to {}:{} via {} at {}; waiting for {} receiver(s), "
      "up to {:.0f}s, on {}",
      session_msg_.object_name, format_bytes(double(object_size)), layout_->block_count(), opt_.k,
      opt_.symbol_size, opt_.group, opt_.port,
      (opt_.iface.empty() ? std::string("default route") : opt_.iface),
      format_rate(double(opt_.rate_bps)), opt_.min_receivers, double(opt_.max_wait_ns) / 1e9,
      opt_.listen);

  // --announce: tell waiting `shoal recvd` daemons where to connect (announce/announce.h).
  auto announcer = announce::announce_session(
      opt_.announce, opt_.iface, opt_.ttl, opt_.loopback, opt_.listen, server_->port(), session_id_,
      object_size, session_msg_.object_name, opt_.target_policy,
      opt_.insecure ? std::nullopt : opt_.key);
  if (!announcer) {
    spdlog::error("{}", announcer.error());
    return kBadInput;
  }
  announcer_ = std::move(*announcer);
  return std::nullopt;
}

Status SenderDriver::check_pipe_options() const {
  if (opt_.path != "-") {
    return make_error("--size is the length of stdin: it goes with `shoal send -` only");
  }
  if (!opt_.compress.empty()) {
    return make_error(
        "send - --size with --compress: compression needs the whole input first; compress in "
        "the pipe instead (zstd -c), or drop --size to spool stdin whole");
  }
  if (opt_.until_ns != 0) {
    return make_error(
        "send - --size with --until: a receiver that joins late needs every block, which a "
        "bounded spool has let go; drop --size to spool stdin whole");
  }
  if (opt_.spool_max < kMinSpoolBytes) {
    return make_error("--spool-max " + format_bytes(double(opt_.spool_max)) + " is below " +
                      format_bytes(double(kMinSpoolBytes)) +
                      ": the spool must hold the blocks in flight and their repair");
  }
  return {};
}

void SenderDriver::start_manifest(bool cacheable) {
  if (pipe_) {
    // Read while sending: the worker hashes each block as the pipe delivers it.
    manifest_ = object::ManifestStream::hash_read(
        *layout_, [pipe = pipe_.get(), layout = *layout_](uint32_t b, std::stop_token stop) {
          return pipe->next(layout.block_bytes(b), stop);
        });
    return;
  }
  std::optional<object::ManifestCache> cache;
  if (opt_.manifest_cache && cacheable && source_->identity()) {
    cache.emplace(opt_.manifest_cache_dir.empty() ? object::ManifestCache::default_dir()
                                                  : opt_.manifest_cache_dir);
    if (auto m = cache->load(*source_->identity(), *layout_)) {
      spdlog::info("manifest of '{}' from the cache in {} (unchanged since it was hashed)",
                   source_->path(), cache->dir());
      manifest_ = object::ManifestStream::known(std::move(*m));
      return;
    }
  }
  const uint64_t t0 = monotonic_ns();
  auto done = [cache = std::move(cache), id = source_->identity(), layout = *layout_,
               t0](const object::Manifest& m) {
    spdlog::info("manifest: {} blocks hashed in {:.2f}s; object sha256 {}", m.block_sha256.size(),
                 double(monotonic_ns() - t0) / 1e9, to_hex(m.object_sha256));
    if (!cache) return;
    if (Status s = cache->store(*id, layout, m); !s) {
      spdlog::warn("manifest cache: {} (the next send hashes the object again)", s.error());
    }
  };
  manifest_ = object::ManifestStream::hash(source_->bytes(), *layout_, std::move(done));
}

SendResult SenderDriver::run() {
  t_start_ = monotonic_ns();
  if (auto failed = setup()) return SendResult{*failed, {}};
  return finish(serve());
}

SendResult run_sender(const SendOptions& options) {
  SenderDriver s(options);
  return s.run();
}

}  // namespace shoal::session
