#include "common/fresh_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shoal {

Result<Fd> create_fresh_file(const std::string& path, int flags, mode_t mode) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error("cannot replace '" + path + "': " + std::strerror(errno));
  }
  // O_EXCL: if anything appeared at the name since the unlink, fail rather than open it.
  Fd fd(::open(path.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) {
    const int e = errno;
    std::string why = std::strerror(e);
    if (e == EEXIST) why += " (something else created it at the same time: check who writes there)";
    if (e == ENOSPC) why += " (free space on that disk)";
    if (e == EACCES || e == EPERM) why += " (check the directory's permissions)";
    return make_error("cannot create '" + path + "': " + why);
  }
  return fd;
}

}  // namespace shoal
