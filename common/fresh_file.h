// Creating files that must be new: temporary, state and spool files beside a user's data. Never
// follows a symlink planted at the name and never opens a file someone else created there.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace shoal {

// Removes whatever sits at `path` (a stale file of an earlier run, or a symlink: unlink never
// follows one) and creates a new, empty regular file there with O_CREAT | O_EXCL | O_NOFOLLOW.
// `flags`: the access mode and extra flags (e.g. O_WRONLY, O_RDWR). The error names the path.
Result<Fd> create_fresh_file(const std::string& path, int flags, mode_t mode = 0644);

}  // namespace shoal
