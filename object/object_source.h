// The sender's view of the object: a read-only mapping of a file or block device, so source
// symbols go to the socket straight from the page cache (no copy into a staging buffer).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "object/manifest_cache.h"

namespace shoal::object {

class ObjectSource {
 public:
  static Result<ObjectSource> open(const std::string& path);
  ObjectSource(ObjectSource&& o) noexcept;
  ObjectSource& operator=(ObjectSource&& o) noexcept;
  ObjectSource(const ObjectSource&) = delete;
  ObjectSource& operator=(const ObjectSource&) = delete;
  ~ObjectSource();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // The regular file's identity when opened (ManifestCache's key); nullopt for a block device.
  const std::optional<FileIdentity>& identity() const { return identity_; }

 private:
  ObjectSource() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::optional<FileIdentity> identity_;
};

}  // namespace shoal::object
