#include "announce/announce.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string_view>

#include "control/endpoint.h"
#include "engine/net_iface.h"

namespace shoal::announce {

namespace {

constexpr std::string_view kLabel = "shoal-v1 announce";
constexpr uint8_t kMagic[4] = {'S', 'H', 'A', 'N'};

void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (56 - 8 * i));
}
uint16_t get16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

using Tag = std::array<uint8_t, kAnnounceTagSize>;

Tag tag_of(const control::Key& key, std::span<const uint8_t> signed_bytes) {
  // HMAC(key, label || bytes), streamed so the label needs no copy of the datagram.
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  Tag out{};
  size_t len = 0;
  bool ok =
      ctx && EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(kLabel.data()), kLabel.size()) == 1 &&
      EVP_MAC_update(ctx, signed_bytes.data(), signed_bytes.size()) == 1 &&
      EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  if (!ok) throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  return out;
}

}  // namespace

size_t encode_announcement(const Announcement& a, const std::optional<control::Key>& key,
                           std::span<uint8_t> out) {
  const size_t n = a.object_name.size();
  const size_t t = a.target_policy.size();
  const size_t total = kAnnounceHeaderSize + n + t + kAnnounceTagSize;
  if (n == 0 || n > kAnnounceMaxName || t > kAnnounceMaxTarget || a.control_port == 0 ||
      out.size() < total)
    return 0;
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 4);
  p[4] = kAnnounceVersion;
  p[5] = key ? kAnnounceSigned : 0;
  put16(p + 6, static_cast<uint16_t>(n));
  put64(p + 8, a.session_id);
  put64(p + 16, a.timestamp_ms);
  std::memcpy(p + 24, a.nonce.data(), a.nonce.size());
  put32(p + 40, a.control_ipv4);
  put16(p + 44, a.control_port);
  put16(p + 46, static_cast<uint16_t>(t));
  put64(p + 48, a.object_size);
  std::memcpy(p + kAnnounceHeaderSize, a.object_name.data(), n);
  std::memcpy(p + kAnnounceHeaderSize + n, a.target_policy.data(), t);
  Tag tag{};
  if (key) tag = tag_of(*key, {p, kAnnounceHeaderSize + n + t});
  std::memcpy(p + kAnnounceHeaderSize + n + t, tag.data(), tag.size());
  return total;
}

Result<VerifiedAnnouncement> decode_announcement(std::span<const uint8_t> d,
                                                 std::span<const control::Key> keys,
                                                 bool accept_unsigned) {
  if (d.size() < kAnnounceHeaderSize + 1 + kAnnounceTagSize)
    return make_error("announcement truncated (" + std::to_string(d.size()) + " bytes)");
  const uint8_t* p = d.data();
  if (std::memcmp(p, kMagic, 4) != 0) return make_error("not an announcement (bad magic)");
  if (p[4] != kAnnounceVersion)
    return make_error("announcement version " + std::to_string(p[4]) + " is not supported");
  if ((p[5] & ~kAnnounceSigned) != 0) return make_error("announcement has unknown flags");
  const size_t n = get16(p + 6);
  if (n == 0 || n > kAnnounceMaxName) return make_error("announcement name length out of range");
  const size_t t = get16(p + 46);
  if (t > kAnnounceMaxTarget) return make_error("announcement target policy length out of range");
  if (d.size() != kAnnounceHeaderSize + n + t + kAnnounceTagSize)
    return make_error("announcement length does not match its name and target policy lengths");
  VerifiedAnnouncement v;
  Announcement& a = v.announcement;
  a.session_id = get64(p + 8);
  a.timestamp_ms = get64(p + 16);
  std::memcpy(a.nonce.data(), p + 24, a.nonce.size());
  a.control_ipv4 = get32(p + 40);
  a.control_port = get16(p + 44);
  a.object_size = get64(p + 48);
  a.object_name.assign(reinterpret_cast<const char*>(p + kAnnounceHeaderSize), n);
  a.target_policy.assign(reinterpret_cast<const char*>(p + kAnnounceHeaderSize + n), t);
  if (a.control_port == 0) return make_error("announcement names control port 0");
  if (a.object_name.find('\0') != std::string::npos)
    return make_error("announcement object name contains a NUL byte");
  if (a.target_policy.find('\0') != std::string::npos)
    return make_error("announcement target policy contains a NUL byte");
  const uint8_t* tag = p + kAnnounceHeaderSize + n + t;
  if ((p[5] & kAnnounceSigned) == 0) {
    if (!accept_unsigned)
      return make_error(
          "unsigned announcement refused (its sender has no --key-file: it runs --insecure, or "
          "TLS alone); only announcements signed with one of our keys are accepted");
    return v;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    Tag want = tag_of(keys[i], {p, kAnnounceHeaderSize + n + t});
    if (CRYPTO_memcmp(want.data(), tag, want.size()) == 0) {
      v.key_index = static_cast<int>(i);
      return v;
    }
  }
  return make_error(keys.empty() ? "signed announcement, but we have no --key-file to check it "
                                   "with (the sender has a key: give us the same one)"
                                 : "announcement not signed with any of our keys");
}

AnnounceFilter::Verdict AnnounceFilter::check(uint64_t session_id, uint64_t timestamp_ms,
                                              uint64_t now_ms) {
  if (max_skew_ms_ > 0) {
    uint64_t skew = timestamp_ms > now_ms ? timestamp_ms - now_ms : now_ms - timestamp_ms;
    if (skew > max_skew_ms_) return Verdict::kStale;
  }
  auto it = last_ts_.find(session_id);
  if (it != last_ts_.end()) {
    if (timestamp_ms <= it->second) return Verdict::kDuplicate;
    it->second = timestamp_ms;
    return Verdict::kFresh;
  }
  if (capacity_ > 0 && last_ts_.size() >= capacity_) {
    auto oldest = order_.begin();
    last_ts_.erase(oldest->second);
    order_.erase(oldest);
  }
  last_ts_[session_id] = timestamp_ms;
  order_[arrivals_++] = session_id;
  return Verdict::kFresh;
}

Result<sockaddr_in> parse_announce_group(const std::string& text) {
  auto gp = engine::parse_group_port(text, kDefaultAnnouncePort);
  if (!gp) return make_error("bad announce group " + gp.error());
  if (!engine::is_multicast(gp->group)) {
    return make_error("announce group '" + engine::ipv4_to_string(gp->group) +
                      "' is not a multicast address (224.0.0.0/4)");
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = gp->group;
  sa.sin_port = htons(gp->port);
  return sa;
}

uint64_t wall_clock_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

Result<std::unique_ptr<Announcer>> Announcer::open(const std::string& group_port,
                                                   const std::string& iface, int ttl, bool loopback,
                                                   Announcement what,
                                                   std::optional<control::Key> key) {
  auto group = parse_announce_group(group_port);
  if (!group) return make_error("--announce: " + group.error());
  if (what.object_name.empty() || what.object_name.size() > kAnnounceMaxName)
    return make_error("--announce: the object name must be 1..256 bytes (see --name)");
  std::unique_ptr<Announcer> a(new Announcer());
  a->fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = a->fd_.get();
  if (fd < 0)
    return make_error(std::string("--announce: cannot create a UDP socket: ") + strerror(errno));
  if (!iface.empty()) {
    auto ifc = engine::resolve_iface(iface);
    if (!ifc) return make_error("--announce: " + ifc.error());
    ip_mreqn mif{};
    mif.imr_ifindex = static_cast<int>(ifc->index);
    mif.imr_address = ifc->ipv4;
    if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) != 0)
      return make_error("--announce: cannot send via '" + iface + "': " + strerror(errno));
  }
  const int loop = loopback ? 1 : 0;
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0 ||
      ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0)
    return make_error(std::string("--announce: cannot set TTL/loopback: ") + strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*group), sizeof *group) != 0)
    return make_error("--announce: cannot address " + group_port + ": " + strerror(errno));
  a->what_ = std::move(what);
  a->key_ = key;
  return a;
}

Result<std::unique_ptr<Announcer>> announce_session(
    const std::string& group_port, const std::string& iface, int ttl, bool loopback,
    const std::string& listen, uint16_t bound_port, uint64_t session_id, uint64_t object_size,
    const std::string& object_name, const std::string& target_policy,
    const std::optional<control::Key>& key) {
  if (group_port.empty()) return std::unique_ptr<Announcer>();
  auto ep = control::parse_endpoint(listen);
  if (!ep) return make_error("--listen: " + ep.error());
  Announcement a;
  a.session_id = session_id;
  a.control_ipv4 = ntohl(ep->sin_addr.s_addr);
  a.control_port = bound_port;
  a.object_size = object_size;
  a.object_name = object_name;
  a.target_policy = target_policy;
  auto ann = Announcer::open(group_port, iface, ttl, loopback, std::move(a), key);
  if (ann) {
    spdlog::info("announcing the session on {}{}", group_port,
                 key ? ""
                     : " (unsigned, as there is no key: daemons accept it with TLS certificates "
                       "and no key of their own, or with --insecure)");
  }
  return ann;
}

void Announcer::tick(uint64_t now_ns) {
  if (started_ && now_ns - last_ns_ < kAnnounceIntervalNs) return;
  started_ = true;
  last_ns_ = now_ns;
  what_.timestamp_ms = wall_clock_ms();
  if (RAND_bytes(what_.nonce.data(), static_cast<int>(what_.nonce.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  std::array<uint8_t, kAnnounceMaxSize> buf{};
  const size_t len = encode_announcement(what_, key_, buf);
  if (len > 0 && ::send(fd_.get(), buf.data(), len, MSG_DONTWAIT) == static_cast<ssize_t>(len)) {
    ++sent_;
    return;
  }
  if (!warned_) {
    warned_ = true;
    spdlog::warn("cannot send the session announcement: {}", strerror(errno));
  }
}

}  // namespace shoal::announce
