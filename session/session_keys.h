// The session's data key and its delivery to receivers (control::KeyGrant).
//
// The sender draws a fresh 32-byte data key per session. Each admitted receiver gets it in a
// KeyGrant after the manifest, sealed with AES-256-GCM under that connection's channel key (from
// the PSK handshake and/or TLS). The seal's additional data binds the key to what the receiver
// will accept as the object:
//   AAD = "shoal-v2 keygrant" || session_id (u64 BE) || object_sha256 ||
//         SHA-256(block hash 0 || block hash 1 || ...) || suite || wrap || object_format ||
//         object_size (u64) || symbol_size (u16) || k (u8) || block_count (u32) ||
//         group_ipv4 (u32) || port (u16) || len(object_name) (u16) || object_name
// (integers big-endian) so an attacker on the TCP path can neither learn the key nor change the
// object's name, size, layout, group or hashes without the receiver noticing. (Rate, TTL and
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
                                 const control::Session& session,
                                 std::span<const control::Digest> block_hashes);

// Errors name the problem: a grant sealed differently from what this end expects (a downgrade to
// a clear key when a channel key exists), or a seal that does not verify (wrong channel key,
// or the session or manifest was altered on the way).
Result<DataKey> open_key_grant(const control::KeyGrant& grant,
                               const std::optional<control::Key>& channel,
                               const control::Session& session,
                               std::span<const control::Digest> block_hashes);

}  // namespace shoal::session
