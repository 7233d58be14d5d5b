#include "object/sparse_file.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/units.h"

namespace shoal::object {

bool all_zero(std::span<const uint8_t> data) {
  if (data.empty()) return true;
  // The first byte is zero and every byte equals the one after it.
  return data[0] == 0 && std::memcmp(data.data(), data.data() + 1, data.size() - 1) == 0;
}

Status write_all(int fd, uint64_t offset, std::span<const uint8_t> data, const std::string& label) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      return make_error("cannot write '" + label + "': " + std::strerror(e) +
                        (e == ENOSPC ? " (free space on this disk or choose another --out)" : ""));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status write_sparse(int fd, uint64_t offset, std::span<const uint8_t> data,
                    const std::string& label) {
  size_t pos = 0;
  size_t run_start = 0;  // start of the pending non-zero run
  bool in_run = false;
  while (pos < data.size()) {
    // Units follow the file's 4 KiB grid so skipped units are whole filesystem blocks.
    const uint64_t abs = offset + pos;
    const size_t len =
        std::min<size_t>(kSparseUnit - static_cast<size_t>(abs % kSparseUnit), data.size() - pos);
    const bool zero = all_zero(data.subspan(pos, len));
    if (!zero && !in_run) {
      run_start = pos;
      in_run = true;
    } else if (zero && in_run) {
      Status s = write_all(fd, offset + run_start, data.subspan(run_start, pos - run_start), label);
      if (!s) return s;
      in_run = false;
    }
    pos += len;
  }
  if (in_run) return write_all(fd, offset + run_start, data.subspan(run_start), label);
  return {};
}

Status check_free_space(const std::string& dir, uint64_t bytes, const std::string& what) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return {};  // cannot tell: let the writes say
  const uint64_t avail = uint64_t{st.f_bavail} * st.f_frsize;
  if (avail < bytes) {
    return make_error("not enough disk space in '" + dir + "' for " + what + ": it needs " +
                      format_bytes(double(bytes)) + ", " + format_bytes(double(avail)) +
                      " are free (free space or choose another --out / --spool)");
  }
  return {};
}

}  // namespace shoal::object
