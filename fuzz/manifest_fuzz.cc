// libFuzzer target for what a receiver takes from the sender before any data: a TCP stream of
// Session, Manifest and KeyGrant messages (cut by FrameSplitter in input-chosen chunks).
// Manifests are collected under the receiver's rules (in order, no more hashes than blocks), and a
// KeyGrant is opened against the collected manifest with a fixed channel key. A grant the fuzzer
// made up must never open (its tag would be a forgery); a clear grant must be refused while a
// channel key exists (no downgrade).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "control/messages.h"
#include "session/session_keys.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  control::Key channel{};
  for (size_t i = 0; i < channel.size(); ++i) channel[i] = static_cast<uint8_t>(i * 3 + 1);
  control::FrameSplitter splitter;
  std::optional<control::Session> session;
  std::vector<control::Digest> hashes;
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
        hashes.clear();
      } else if (auto* mf = std::get_if<control::Manifest>(&*m)) {
        if (!session || mf->first_block != hashes.size() ||
            hashes.size() + mf->block_hashes.size() > session->block_count) {
          continue;  // the receiver fails the session here
        }
        hashes.insert(hashes.end(), mf->block_hashes.begin(), mf->block_hashes.end());
      } else if (auto* g = std::get_if<control::KeyGrant>(&*m)) {
        if (!session) continue;
        auto key = session::open_key_grant(*g, channel, *session, hashes);
        if (key.ok()) std::abort();  // forged: wrong for this channel key, or a downgrade
        if (key.error().empty()) std::abort();
        auto clear = session::open_key_grant(*g, std::nullopt, *session, hashes);
        if (clear.ok() != (g->wrap == control::KeyWrap::kClear)) std::abort();
      }
    }
  }
  return 0;
}
