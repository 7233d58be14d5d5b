#include "object/object_source.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace shoal::object {

Result<ObjectSource> ObjectSource::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error("cannot open '" + path + "': " + std::strerror(errno) +
                      (errno == ENOENT   ? " (check the path)"
                       : errno == EACCES ? " (check permissions)"
                                         : ""));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return make_error("cannot stat '" + path + "': " + std::strerror(e));
  }
  uint64_t size = 0;
  if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      int e = errno;
      ::close(fd);
      return make_error("cannot read the size of block device '" + path + "': " + std::strerror(e));
    }
  } else {
    ::close(fd);
    return make_error("'" + path + "' is not a regular file or block device");
  }
  ObjectSource src;
  src.path_ = path;
  src.size_ = size;
  src.identity_ = ManifestCache::identify(fd);
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return make_error("cannot map '" + path + "': " + std::strerror(e));
    }
    ::madvise(p, size, MADV_SEQUENTIAL);
    src.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file referenced
  return src;
}

ObjectSource::ObjectSource(ObjectSource&& o) noexcept
    : path_(std::move(o.path_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      identity_(std::exchange(o.identity_, std::nullopt)) {}

ObjectSource& ObjectSource::operator=(ObjectSource&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    identity_ = std::exchange(o.identity_, std::nullopt);
  }
  return *this;
}

ObjectSource::~ObjectSource() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace shoal::object
