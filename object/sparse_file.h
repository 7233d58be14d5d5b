// Writing data that may hold long runs of zeros into a new file without allocating disk blocks
// for them, and checking there is room before a large write starts. Used by the tree unpacker,
// the chunk decoder and the sender's spool.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"

namespace shoal::object {

inline constexpr size_t kSparseUnit = 4096;  // zero runs are skipped in whole units of this

// True when every byte of `data` is zero.
bool all_zero(std::span<const uint8_t> data);

// Writes `data` at `offset` of `fd`, skipping every kSparseUnit-aligned (in file offsets) unit
// that is all zero, so the file keeps holes there. Only for regions that read as zeros already (a
// new file, or beyond its end): a skipped unit keeps what the file held. The caller sets the
// file's final size with ftruncate (trailing holes). `label` names the file in errors.
Status write_sparse(int fd, uint64_t offset, std::span<const uint8_t> data,
                    const std::string& label);

// Writes all of `data` at `offset` (pwrite until done); errors name `label`.
Status write_all(int fd, uint64_t offset, std::span<const uint8_t> data, const std::string& label);

// Fails with a message a person can act on when the filesystem holding `dir` has less than
// `bytes` available (to an unprivileged user).
Status check_free_space(const std::string& dir, uint64_t bytes, const std::string& what);

}  // namespace shoal::object
