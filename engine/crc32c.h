// CRC32C (Castagnoli) on ISA-L's crc32_iscsi, in the standard convention (RFC 3720, iSCSI):
// reflected, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, so crc32c("123456789") == 0xE3069283.
//
// ISA-L's crc32_iscsi(buf, len, init) applies neither the initial nor the final inversion itself;
// Crc32c keeps the raw register between update() calls, so a CRC can run over several separate
// buffers (header, payload, tag) without copying them together.
#pragma once

#include <cstdint>
#include <span>

namespace shoal::engine {

class Crc32c {
 public:
  void update(std::span<const uint8_t> bytes);
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};

// One-shot CRC32C of a single buffer.
uint32_t crc32c(std::span<const uint8_t> bytes);

}  // namespace shoal::engine
