// The session's data key and its delivery to receivers (control::KeyGrant).
//
// The sender draws a fresh 32-byte data key per session. Each admitted receiver gets it in a
// KeyGrant right after the Session, sealed with AES-256-GCM under that connection's channel key
// (from the PSK handshake and/or TLS). The seal's additional data binds the key to what the
// receiver will accept as the object:
//   AAD = "shoal-v3 keygrant" || session_id (u64 BE) || suite || wrap || object_format ||
//         object_size (u64) || symbol_size (u16) || k (u8) || block_count (u32) ||
//         group_ipv4 (u32) || port (u16) || len(object_name) (u16) || object_name ||
//         progress_interval_ms (u16)
// (integers big-endian) so an attacker on the TCP path can neither learn the key nor change the
// object's name, size, layout or group without the receiver noticing. The block hashes follow
// the grant (the sender is still hashing) and carry tags of their own under the same channel key
// (session/manifest_seal.h). (Rate, TTL and
// proactive repair are not covered: changing them costs time, never data.) Without a channel key
// (--insecure, no TLS) the key travels in the clear: frames are then authenticated only against
// hosts that do not see the control connection.
#pragma once

#include <optional>
#include <span>

#include "common/result.h"
#include "control/auth.h"
#include "control/messages.h"
#include "engine/frame_crypto.h"

namespace shoal::session {

struct DataKey {
  control::FrameSuite suite = control::FrameSuite::kGmac;
  engine::FrameKey key{};
};

// A fresh random key (OpenSSL RAND_bytes). Throws std::runtime_error if the generator fails.
DataKey make_data_key(control::FrameSuite suite);

engine::FrameProtection protection_of(control::FrameSuite suite);

// Throws std::runtime_error only if OpenSSL fails.
control::KeyGrant seal_key_grant(const DataKey& key, const std::optional<control::Key>& channel,
                                 const control::Session& session);

// Errors name the problem: a grant sealed differently from what this end expects (a downgrade to
// a clear key when a channel key exists), or a seal that does not verify (wrong channel key,
// or the session description was altered on the way).
Result<DataKey> open_key_grant(const control::KeyGrant& grant,
                               const std::optional<control::Key>& channel,
                               const control::Session& session);

}  // namespace shoal::session
