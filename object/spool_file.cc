#include "object/spool_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace shoal::object {

Result<SpoolFile> SpoolFile::create(const std::string& dir) {
  std::string tmpl = dir + "/shoal-spool-XXXXXX";
  Fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) {
    return make_error("cannot create a temporary file in '" + dir + "': " + std::strerror(errno) +
                      " (choose another directory with --spool)");
  }
  ::unlink(tmpl.c_str());
  return SpoolFile(std::move(fd), dir);
}

Result<ObjectSource> SpoolFile::map() const {
  auto src = ObjectSource::open("/proc/self/fd/" + std::to_string(fd_.get()));
  if (!src) return make_error(src.error() + " (is /proc mounted?)");
  return src;
}

Status check_stdin_is_no_terminal(int fd) {
  if (!::isatty(fd)) return {};
  return make_error(
      "send -: stdin is a terminal; pipe the object in (e.g. zstd -dc image.zst | "
      "shoal send - --name image.raw ...)");
}

std::string spool_dir(const std::string& spool) {
  if (!spool.empty()) return spool;
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

}  // namespace shoal::object
