#include "object/object_sink.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fresh_file.h"
#include "common/units.h"
#include "object/sparse_file.h"

namespace shoal::object {

namespace {

std::string disk_hint(const std::string& e) {
  if (e.find("space") != std::string::npos)
    return " (free space on the receiver's disk or choose another --out)";
  return "";
}

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (e == ENOSPC) s += " (free space on the receiver's disk or choose another --out)";
  if (e == EACCES || e == EPERM) s += " (check permissions of the output directory)";
  return s;
}
}  // namespace

namespace {

// True when the device (or a partition of it) holds a mounted filesystem.
bool mounted(dev_t dev, std::string& where) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  const std::string self = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  std::error_code ec;
  const std::string self_name =
      std::filesystem::canonical("/sys/dev/block/" + self, ec).filename().string();
  while (std::getline(mi, line)) {
    // mountinfo: id parent major:minor root mountpoint ...
    std::istringstream in(line);
    std::string id, parent, mm, root, point;
    in >> id >> parent >> mm >> root >> point;
    if (mm == self) {
      where = point;
      return true;
    }
    auto sys = std::filesystem::canonical("/sys/dev/block/" + mm, ec);
    if (!ec && !self_name.empty() && sys.parent_path().filename() == self_name) {
      where = point;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<bool> names_block_device(const std::string& out, struct stat* device) {
  struct stat link {};
  if (::lstat(out.c_str(), &link) != 0) return false;  // a new file
  if (S_ISBLK(link.st_mode)) {
    if (device != nullptr) *device = link;
    return true;
  }
  struct stat target {};
  if (!S_ISLNK(link.st_mode) || ::stat(out.c_str(), &target) != 0 || !S_ISBLK(target.st_mode))
    return false;
  // A symlink to a device: udev's names (/dev/disk/by-id/...) are meant; one elsewhere may have
  // been planted where a file was to be written, so the device is never reached through it.
  // "Under /dev" is where the link really sits ("/dev/../tmp/x" is not).
  std::error_code ec;
  const std::string link_dir =
      std::filesystem::canonical(std::filesystem::absolute(out, ec).parent_path(), ec).string();
  if (ec || (link_dir != "/dev" && link_dir.rfind("/dev/", 0) != 0)) {
    const std::string real = std::filesystem::canonical(out, ec).string();
    return make_error("--out '" + out + "' is a symbolic link to the block device '" + real +
                      "': name the device itself (--out " + real +
                      ") to write it, or remove the link to write a file");
  }
  if (device != nullptr) *device = target;
  return true;
}

std::string ObjectSink::state_path(const std::string& final_path, const std::string& state_dir) {
  std::filesystem::path p(final_path);
  auto device = names_block_device(final_path);
  if (device && *device) {
    return (std::filesystem::path(state_dir) / (p.filename().string() + ".shoal-state")).string();
  }
  std::filesystem::path dir =
      p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
  return (dir / ("." + p.filename().string() + ".shoal-state")).string();
}

Result<ObjectSink> ObjectSink::create(const std::string& final_path, uint64_t size, bool force,
                                      bool reuse, bool direct, size_t write_size) {
  std::filesystem::path p(final_path);
  if (p.filename().empty())
    return make_error("--out '" + final_path + "' names a directory, not a file");
  ObjectSink s;
  s.final_ = final_path;
  s.size_ = size;
  struct stat st {};
  auto device = names_block_device(final_path, &st);
  if (!device) return make_error(device.error());
  if (*device) {
    s.kind_ = Kind::kBlockDevice;
    s.temp_ = final_path;
    std::string where;
    if (mounted(st.st_rdev, where) && !force) {
      return make_error("block device '" + final_path + "' is mounted on " + where +
                        ": unmount it first (or pass --force if you really mean to overwrite it)");
    }
    s.fd_ = ::open(final_path.c_str(), O_RDWR | O_CLOEXEC);
    if (s.fd_ < 0)
      return make_error("cannot open block device '" + final_path + "': " + errno_text(errno));
    struct stat opened {};
    if (::fstat(s.fd_, &opened) != 0 || !S_ISBLK(opened.st_mode) || opened.st_rdev != st.st_rdev) {
      return make_error("block device '" + final_path +
                        "' changed while it was being opened: check what else renames it");
    }
    uint64_t dev_size = 0;
    if (::ioctl(s.fd_, BLKGETSIZE64, &dev_size) != 0) {
      return make_error("cannot read the size of '" + final_path + "': " + errno_text(errno));
    }
    if (dev_size < size) {
      return make_error("block device '" + final_path + "' holds " +
                        format_bytes(double(dev_size)) + ", the object needs " +
                        format_bytes(double(size)) + ": use a larger device");
    }
    Status w = s.open_writer(direct, write_size);
    if (!w) return make_error(w.error());
    return s;
  }
  std::filesystem::path dir =
      p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error("output directory '" + dir.string() + "' does not exist");
  }
  s.temp_ = (dir / ("." + p.filename().string() + ".shoal-part")).string();
  if (reuse) {
    // The partial data of an earlier run: never through a symlink, and only a regular file.
    s.fd_ = ::open(s.temp_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (s.fd_ < 0) {
      return make_error("cannot open '" + s.temp_ + "': " + errno_text(errno) +
                        (errno == ELOOP ? " (it is a symbolic link: remove it)" : ""));
    }
    struct stat part {};
    if (::fstat(s.fd_, &part) != 0 || !S_ISREG(part.st_mode)) {
      return make_error("'" + s.temp_ + "' is not a regular file: remove it");
    }
  } else {
    auto fresh = create_fresh_file(s.temp_, O_RDWR);
    if (!fresh) return make_error(fresh.error());
    s.fd_ = fresh->release();
  }
  // Space is checked now, so a full disk is refused before the session starts; the blocks are
  // allocated by the writer in the background (preallocating a large file, or any file on tmpfs,
  // takes tens of milliseconds that would otherwise delay every receiver's Ready).
  struct stat now {};
  if (::fstat(s.fd_, &now) != 0)
    return make_error("cannot stat '" + s.temp_ + "': " + errno_text(errno));
  const uint64_t allocated = uint64_t(now.st_blocks) * 512;
  if (size > allocated) {
    if (Status room = check_free_space(dir.string(), size - allocated, "the object"); !room)
      return make_error(room.error());
  }
  if (uint64_t(now.st_size) < size && ::ftruncate(s.fd_, static_cast<off_t>(size)) != 0) {
    return make_error("cannot size '" + s.temp_ + "': " + errno_text(errno));
  }
  Status w = s.open_writer(direct, write_size);
  if (!w) return make_error(w.error());
  if (Status pre = s.writer_->preallocate(size); !pre)
    return make_error(pre.error() + disk_hint(pre.error()));
  return s;
}

Status ObjectSink::open_writer(bool direct, size_t write_size) {
  engine::UringWriterOptions wo;
  wo.direct = direct;
  wo.buffer_size = std::clamp<size_t>(write_size, engine::kDirectAlign, wo.buffer_size);
  wo.label = temp_;
  auto w = engine::UringWriter::open(fd_, wo);
  if (!w) return make_error(w.error());
  writer_ = std::move(*w);
  return {};
}

ObjectSink::ObjectSink(ObjectSink&& o) noexcept
    : final_(std::move(o.final_)),
      temp_(std::move(o.temp_)),
      kind_(o.kind_),
      fd_(o.fd_),
      size_(o.size_),
      settled_(o.settled_),
      writer_(std::move(o.writer_)) {
  o.fd_ = -1;
  o.settled_ = true;  // the moved-from sink owns nothing to clean up
}

ObjectSink::~ObjectSink() {
  if (writer_) (void)writer_->drain();  // nothing may still write into a file we remove
  writer_.reset();
  if (!settled_) abandon();
  if (fd_ >= 0) ::close(fd_);
}

Status ObjectSink::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset + data.size() > size_) return make_error("write beyond the object's end");
  std::lock_guard lock(mu_);
  Status w = writer_->write(offset, data);
  if (!w) return make_error(w.error() + disk_hint(w.error()));
  return {};
}

bool ObjectSink::ready(size_t bytes) {
  std::lock_guard lock(mu_);
  return writer_->can_write_now(bytes);
}

Status ObjectSink::poll() {
  std::lock_guard lock(mu_);
  Status p = writer_->poll();
  if (!p) return make_error(p.error() + disk_hint(p.error()));
  return {};
}

Status ObjectSink::read(uint64_t offset, std::span<uint8_t> out) {
  {
    // Bytes still in flight in the writer are not in the file yet.
    std::lock_guard lock(mu_);
    Status w = writer_->wait_range(offset, out.size());
    if (!w) return w;
  }
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

Status ObjectSink::flush() {
  std::lock_guard lock(mu_);
  Status s = writer_->sync();  // every write submitted so far, completed and on stable storage
  if (!s) return make_error(s.error() + disk_hint(s.error()));
  return {};
}

Status ObjectSink::commit(bool sync) {
  if (fd_ < 0) return make_error("output already closed");
  Status f;
  if (sync) {
    f = flush();
  } else {
    std::lock_guard lock(mu_);
    f = writer_->drain();  // every write completed (not necessarily on stable storage)
  }
  if (!f) return f;
  if (kind_ == Kind::kBlockDevice) {
    settled_ = true;
    return {};
  }
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

void ObjectSink::keep() {
  settled_ = true;
}

void ObjectSink::abandon() {
  if (settled_) return;
  settled_ = true;
  if (kind_ == Kind::kBlockDevice) return;  // nothing to remove; the device's state says incomplete
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

}  // namespace shoal::object
