// Big-endian field codecs for the control-plane message bodies (control/messages.cc) and the
// probe protocol (probe/probe_protocol.cc): one writer and one bounds-checked reader.
//
// ByteReader never reads outside its span. The first failure is kept; later reads return zeros
// and do not advance, so decoders read every field and check once, in finish(), which also
// rejects trailing bytes. Errors read "<name>: <problem>".
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace shoal {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // u16 length + bytes. Human text: cut at the cap rather than fail.
  void str(const std::string& s, size_t cap) {
    const size_t n = std::min(s.size(), cap);
    u16(static_cast<uint16_t>(n));
    bytes({reinterpret_cast<const uint8_t*>(s.data()), n});
  }

 private:
  void put(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& out_;
};

// Out: the decoded value type finish() wraps (e.g. a std::variant of messages).
template <class Out>
class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> b, std::string name) : b_(b), name_(std::move(name)) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return b_.size() - pos_; }

  uint8_t u8(const char* field) { return static_cast<uint8_t>(get(field, 1)); }
  uint16_t u16(const char* field) { return static_cast<uint16_t>(get(field, 2)); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(get(field, 4)); }
  uint64_t u64(const char* field) { return get(field, 8); }

  // A u8 that must be 0 or 1.
  bool flag(const char* field) {
    const uint8_t v = u8(field);
    if (v > 1) fail(std::string(field) + " is " + std::to_string(v) + ", expected 0 or 1");
    return v == 1;
  }

  template <size_t N>
  void array(std::array<uint8_t, N>& out, const char* field) {
    std::span<const uint8_t> v = view(N, field);
    if (!v.empty()) std::memcpy(out.data(), v.data(), N);
  }

  std::span<const uint8_t> view(size_t n, const char* field) {
    if (!need(n, field)) return {};
    auto v = b_.subspan(pos_, n);
    pos_ += n;
    return v;
  }

  std::string str(const char* field, size_t cap) {
    const uint16_t n = u16(field);
    if (failed()) return {};
    if (n > cap) {
      fail(std::string(field) + " is " + std::to_string(n) + " bytes, limit " +
           std::to_string(cap));
      return {};
    }
    auto v = view(n, field);
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  }

  // An array count, checked against the cap and against the bytes actually present, so a bogus
  // count never makes the decoder allocate.
  uint32_t count(const char* field, size_t element_size, size_t cap) {
    const uint32_t n = u32(field);
    if (failed()) return 0;
    if (n > cap) {
      fail(std::string(field) + " is " + std::to_string(n) + ", limit " + std::to_string(cap));
      return 0;
    }
    if (n > remaining() / element_size) {
      fail(std::string(field) + " is " + std::to_string(n) + " but only " +
           std::to_string(remaining()) + " bytes follow");
      return 0;
    }
    return n;
  }

  void fail(const std::string& what) {
    if (!failed()) error_ = name_ + ": " + what;
  }

  // Ends decoding: the first error, trailing bytes, or the value.
  template <class T>
  Result<Out> finish(T&& value) {
    if (!failed() && remaining() != 0) {
      fail(std::to_string(remaining()) + " trailing bytes after the last field");
    }
    if (failed()) return make_error(error_);
    return Out(std::forward<T>(value));
  }

 private:
  bool need(size_t n, const char* field) {
    if (failed()) return false;
    if (remaining() < n) {
      fail("truncated at " + std::string(field) + " (needs " + std::to_string(n) + " bytes, " +
           std::to_string(remaining()) + " left)");
      return false;
    }
    return true;
  }
  uint64_t get(const char* field, size_t n) {
    if (!need(n, field)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | b_[pos_ + i];
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  std::string name_;
  std::string error_;
};

}  // namespace shoal
