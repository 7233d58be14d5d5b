#include "session/object_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/units.h"

namespace shoal::session {

namespace {
constexpr uint64_t kWritebackChunk = 16 << 20;

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (e == ENOSPC) s += " (free space on the receiver's disk or choose another --out)";
  if (e == EACCES || e == EPERM) s += " (check permissions of the output directory)";
  return s;
}
}  // namespace

Result<ObjectSink> ObjectSink::create(const std::string& final_path, uint64_t size) {
  std::filesystem::path p(final_path);
  if (p.filename().empty())
    return make_error("--out '" + final_path + "' names a directory, not a file");
  std::filesystem::path dir =
      p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error("output directory '" + dir.string() + "' does not exist");
  }
  ObjectSink s;
  s.final_ = final_path;
  s.temp_ = (dir / ("." + p.filename().string() + ".shoal-part")).string();
  s.size_ = size;
  s.fd_ = ::open(s.temp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (s.fd_ < 0) return make_error("cannot create '" + s.temp_ + "': " + errno_text(errno));
  if (size > 0) {
    int r = ::posix_fallocate(s.fd_, 0, static_cast<off_t>(size));
    if (r == ENOSPC) {
      return make_error("not enough disk space for the object (" +
                        format_bytes(static_cast<double>(size)) + ") in '" + dir.string() +
                        "': free space or choose another --out");
    }
    if (r != 0 && r != EOPNOTSUPP && r != EINVAL) {
      return make_error("cannot preallocate '" + s.temp_ + "': " + errno_text(r));
    }
    if (r != 0 && ::ftruncate(s.fd_, static_cast<off_t>(size)) != 0) {
      return make_error("cannot size '" + s.temp_ + "': " + errno_text(errno));
    }
  }
  s.start_flusher();
  return s;
}

void ObjectSink::start_flusher() {
  flusher_ = std::make_unique<Flusher>();
  Flusher* f = flusher_.get();
  int fd = fd_;
  f->thread = std::thread([f, fd] {
    std::unique_lock lock(f->mu);
    for (;;) {
      f->cv.wait(lock, [f] { return f->stop || f->pending >= kWritebackChunk; });
      if (f->stop) return;
      f->pending = 0;
      lock.unlock();
      ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);  // queue writeback, do not wait for it
      lock.lock();
    }
  });
}

void ObjectSink::stop_flusher() {
  if (!flusher_) return;
  {
    std::lock_guard lock(flusher_->mu);
    flusher_->stop = true;
  }
  flusher_->cv.notify_one();
  flusher_->thread.join();
  flusher_.reset();
}

ObjectSink::ObjectSink(ObjectSink&& o) noexcept
    : final_(std::move(o.final_)),
      temp_(std::move(o.temp_)),
      fd_(o.fd_),
      size_(o.size_),
      written_(o.written_),
      settled_(o.settled_),
      flusher_(std::move(o.flusher_)) {
  o.fd_ = -1;
  o.settled_ = true;  // the moved-from sink owns nothing to clean up
}

ObjectSink::~ObjectSink() {
  stop_flusher();
  if (!settled_) abandon();
  if (fd_ >= 0) ::close(fd_);
}

Status ObjectSink::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset + data.size() > size_) return make_error("write beyond the object's end");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot write '" + temp_ + "': " + errno_text(errno));
    }
    done += static_cast<size_t>(n);
  }
  written_ += data.size();
  if (flusher_) {
    bool kick = false;
    {
      std::lock_guard lock(flusher_->mu);
      flusher_->pending += data.size();
      kick = flusher_->pending >= kWritebackChunk;
    }
    if (kick) flusher_->cv.notify_one();
  }
  return {};
}

Status ObjectSink::read(uint64_t offset, std::span<uint8_t> out) const {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return make_error("cannot read back '" + temp_ + "': " + errno_text(n < 0 ? errno : EIO));
    done += static_cast<size_t>(n);
  }
  return {};
}

Status ObjectSink::commit() {
  if (fd_ < 0) return make_error("output already closed");
  stop_flusher();
  if (::fdatasync(fd_) != 0)
    return make_error("cannot flush '" + temp_ + "': " + errno_text(errno));
  if (::rename(temp_.c_str(), final_.c_str()) != 0) {
    return make_error("cannot rename '" + temp_ + "' to '" + final_ + "': " + errno_text(errno));
  }
  settled_ = true;
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(final_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

void ObjectSink::abandon() {
  if (settled_) return;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  settled_ = true;
}

}  // namespace shoal::session
