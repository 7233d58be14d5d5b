// FrameSplitter (messages.h): the control stream cut into messages at their length prefixes.
#include <cstring>

#include "control/messages.h"

namespace shoal::control {

void FrameSplitter::compact() {
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

std::span<uint8_t> FrameSplitter::prepare(size_t min_bytes) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A peer that once sent a large message should not pin a large buffer forever.
    if (buf_.capacity() > 4 * min_bytes && buf_.capacity() > (size_t{256} << 10)) {
      std::vector<uint8_t>().swap(buf_);
    }
  } else if (buf_.size() - end_ < min_bytes) {
    compact();
  }
  if (buf_.size() - end_ < min_bytes) buf_.resize(end_ + min_bytes);
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameSplitter::commit(size_t n) {
  end_ += std::min(n, buf_.size() - end_);
}

void FrameSplitter::feed(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::span<uint8_t> space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

Result<std::optional<std::span<const uint8_t>>> FrameSplitter::next() {
  if (error_) return make_error(*error_);
  if (end_ - begin_ < kLengthPrefixSize) return std::optional<std::span<const uint8_t>>();
  const uint8_t* p = buf_.data() + begin_;
  const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
  if (length < kMinMessageSize || length > max_) {
    error_ = "frame length " + std::to_string(length) + " is outside 2.." + std::to_string(max_) +
             " bytes (peer is not speaking the shoal control protocol, or the stream is corrupt)";
    return make_error(*error_);
  }
  if (end_ - begin_ < kLengthPrefixSize + length) return std::optional<std::span<const uint8_t>>();
  std::span<const uint8_t> body(p + kLengthPrefixSize, length);
  begin_ += kLengthPrefixSize + length;
  return std::optional<std::span<const uint8_t>>(body);
}

}  // namespace shoal::control
