// SpoolFile: an unlinked temporary file for what the sender must hold on disk (stdin, a packed
// tree, zstd chunks). It has no name, so a crash leaves nothing behind.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "object/object_source.h"

namespace shoal::object {

class SpoolFile {
 public:
  // In `dir` (the caller's --spool, or spool_dir()).
  static Result<SpoolFile> create(const std::string& dir);
  int fd() const { return fd_.get(); }
  std::string label() const { return "a temporary file in " + dir_; }
  // Maps the file as it is now (through /proc: the file has no name any more).
  Result<ObjectSource> map() const;

 private:
  SpoolFile(Fd fd, std::string dir) : fd_(std::move(fd)), dir_(std::move(dir)) {}
  Fd fd_;
  std::string dir_;
};

// --spool if given, else $TMPDIR, else /tmp.
std::string spool_dir(const std::string& spool);

// `send -` reads the object from `fd`: refused, with the fix, when it is a terminal.
Status check_stdin_is_no_terminal(int fd);

}  // namespace shoal::object
