// Resume state: which blocks of an object a receiver has verified and made durable, kept in a
// small file beside the data so a receiver killed mid-transfer (or whose sender restarted) asks
// only for what it lacks. Crash-safe: written to a temporary name, fsynced, renamed over the old
// one; only blocks whose data was fdatasync'ed before are recorded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "control/messages.h"

namespace shoal::fec {
struct BlockLayout;
}

namespace shoal::object {

class BlockSink;

// Identifies an object's size, block layout and format: a state file applies only to the same
// id. Content is not part of it (the block hashes stream in after the session starts): each
// resumed block is checked against its hash when that arrives (ReceiverCore), so partial data
// of another object under the same layout costs only the blocks that differ.
control::Digest object_id(const control::Session& session);

struct ResumeState {
  control::Digest id{};
  uint64_t object_size = 0;
  uint32_t block_count = 0;
  std::vector<uint8_t> verified;  // bitmap, bit b = block b verified and durable

  bool has(uint32_t b) const { return (verified[b >> 3] >> (b & 7)) & 1; }
  void set(uint32_t b) {
    verified[b >> 3] = static_cast<uint8_t>(verified[b >> 3] | (1u << (b & 7)));
  }
  void clear(uint32_t b) {
    verified[b >> 3] = static_cast<uint8_t>(verified[b >> 3] & ~(1u << (b & 7)));
  }
  uint32_t count() const;
};

// Loads a state file. Returns nullopt when there is none; an error when it is unreadable or
// corrupt.
Result<std::optional<ResumeState>> load_resume_state(const std::string& path);
Status save_resume_state(const std::string& path, const ResumeState& state);

}  // namespace shoal::object
