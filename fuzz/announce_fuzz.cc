// libFuzzer target for session announcements, the one message a receiver takes from anyone on the
// segment before any handshake (recvd and recv --announce). announce::decode_announcement must stay
// total (bounds-checked, never reading past the datagram); whatever it accepts must survive a
// re-encode under the key that verified it and decode to the same fields, and a signed datagram
// must never verify under a key that did not sign it.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "announce/announce.h"

using namespace shoal;

namespace {

control::Key key_of(uint8_t fill) {
  control::Key k{};
  for (auto& b : k) b = fill;
  return k;
}

bool same(const announce::Announcement& a, const announce::Announcement& b) {
  return a.session_id == b.session_id && a.timestamp_ms == b.timestamp_ms && a.nonce == b.nonce &&
         a.control_ipv4 == b.control_ipv4 && a.control_port == b.control_port &&
         a.object_size == b.object_size && a.object_name == b.object_name &&
         a.target_policy == b.target_policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const control::Key keys[2] = {key_of(0x11), key_of(0x22)};
  const std::span<const uint8_t> in(data, size);
  auto v = announce::decode_announcement(in, keys, /*accept_unsigned=*/true);
  if (!v.ok()) {
    // Refused with unsigned allowed: refused without it as well.
    if (announce::decode_announcement(in, keys, false).ok()) std::abort();
    return 0;
  }
  if (v->key_index < -1 || v->key_index > 1) std::abort();
  // Signed by one key: the other key alone must not verify it.
  if (v->key_index >= 0) {
    const control::Key other[1] = {keys[1 - v->key_index]};
    if (announce::decode_announcement(in, other, false).ok()) std::abort();
  }
  std::optional<control::Key> signer;
  if (v->key_index >= 0) signer = keys[v->key_index];
  std::vector<uint8_t> out(announce::kAnnounceMaxSize);
  const size_t n = announce::encode_announcement(v->announcement, signer, out);
  if (n != size) std::abort();  // a decoded announcement always encodes to its own length
  auto again = announce::decode_announcement({out.data(), n}, keys, true);
  if (!again.ok() || again->key_index != v->key_index ||
      !same(again->announcement, v->announcement))
    std::abort();
  return 0;
}
