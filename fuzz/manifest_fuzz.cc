// libFuzzer target for what a receiver takes from the sender before and around the data: a TCP
// stream of Session, KeyGrant, Manifest and ManifestEnd messages (cut by FrameSplitter in
// input-chosen chunks). A KeyGrant is opened against the Session with a fixed channel key;
// Manifests are collected under the receiver's rules (after the grant, in order, no more hashes
// than blocks) and their tags checked under the same key. Nothing the fuzzer made up may ever
// verify (a grant, a manifest tag or an end tag would be forgeries), and a clear grant must be
// refused while a channel key exists (no downgrade).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "control/messages.h"
#include "session/manifest_seal.h"
#include "session/session_keys.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  control::Key channel{};
  for (size_t i = 0; i < channel.size(); ++i) channel[i] = static_cast<uint8_t>(i * 3 + 1);
  control::FrameSplitter splitter;
  std::optional<control::Session> session;
  std::optional<session::ManifestSeal> seal;
  uint32_t hashes = 0;
  size_t pos = 0, step = 0;
  while (pos < size) {
    const size_t n = std::min<size_t>(size - pos, 1 + (input[step++ % size] & 127));
    splitter.feed(input.subspan(pos, n));
    pos += n;
    for (;;) {
      auto frame = splitter.next();
      if (!frame.ok()) return 0;
      if (!*frame) break;
      auto m = control::decode_body(**frame);
      if (!m.ok()) continue;
      if (auto* s = std::get_if<control::Session>(&*m)) {
        session = *s;
        seal.reset();
        hashes = 0;
      } else if (auto* g = std::get_if<control::KeyGrant>(&*m)) {
        if (!session) continue;
        auto key = session::open_key_grant(*g, channel, *session);
        if (key.ok()) std::abort();  // forged: wrong for this channel key, or a downgrade
        if (key.error().empty()) std::abort();
        auto clear = session::open_key_grant(*g, std::nullopt, *session);
        if (clear.ok() != (g->wrap == control::KeyWrap::kClear)) std::abort();
        seal.emplace(channel, session->session_id);
      } else if (auto* mf = std::get_if<control::Manifest>(&*m)) {
        if (!seal || mf->first_block != hashes || mf->block_hashes.empty() ||
            uint64_t{hashes} + mf->block_hashes.size() > session->block_count) {
          continue;  // the receiver fails the session here
        }
        if (seal->verify(*mf)) std::abort();  // a tag the fuzzer made up
        hashes += static_cast<uint32_t>(mf->block_hashes.size());
      } else if (auto* e = std::get_if<control::ManifestEnd>(&*m)) {
        if (!seal || hashes != session->block_count) continue;
        if (seal->verify(*e, session->block_count)) std::abort();
      }
    }
  }
  return 0;
}
