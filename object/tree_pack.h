// Packing a directory tree into one object (tree_format.h) on the sender, and unpacking a
// received one on the receiver without ever showing a partial tree under its final name.
//
// What a tree carries: directories (also empty ones), regular files, symlinks (their target text,
// never followed), permission bits and modification times. Owners are not carried (files belong
// to whoever runs the receiver). Special files (devices, FIFOs, sockets) are skipped by the packer
// with a warning naming each; a file with several hard links is sent once per name, as
// independent copies (the link is not kept; one warning says how many).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "object/tree_format.h"

namespace shoal::object {

struct PackStats {
  uint64_t dirs = 0, files = 0, symlinks = 0;
  uint64_t skipped = 0;     // special files left out
  uint64_t hard_links = 0;  // files with more than one link, sent as copies
  uint64_t data_bytes = 0;  // file bytes
  uint64_t packed_bytes = 0;
};

// Walks `dir` (following it if it is a symlink, never below it; entries in byte order of their
// names, parents before children) and writes the packed tree into `fd`, an empty regular file,
// from offset 0; runs of zeros in file data are left as holes. Fails, naming the path, on
// unreadable entries, paths over the format's limits, or a file that changes size while it is
// read. `label` names the output in errors.
Result<PackStats> pack_tree(const std::string& dir, int fd, const std::string& label);

struct UnpackStats {
  uint64_t dirs = 0, files = 0, symlinks = 0;
  uint64_t data_bytes = 0;
  uint64_t special_bits_dropped = 0;  // entries whose setuid/setgid/sticky bits were not applied
};

// Unpacks the packed tree `object` to `dest`: checks the table (parse_tree_table), creates
// everything under a fresh `dest + ".shoal-part.d"` (removing a stale one first) relative to
// that directory's descriptor — directories, then files (O_CREAT|O_EXCL|O_NOFOLLOW, sparse where
// the data has zero runs), then symlinks, then directory modes and times deepest first — syncs
// the filesystem and renames the directory to `dest`. An existing `dest` is an error unless
// `force`, which swaps the new tree in atomically (renameat2 RENAME_EXCHANGE) and then removes
// the old one. On any failure the partial directory is removed and `dest` is untouched.
// Modes are applied with 0777 (setuid, setgid and sticky bits are dropped and counted).
Result<UnpackStats> unpack_tree(std::span<const uint8_t> object, const std::string& dest,
                                bool force);

// Removes a directory tree we created (or a file), making directories writable first so
// read-only ones do not stop it; never follows symlinks. Errors are ignored (best effort).
void remove_tree(const std::string& path);

// The temporary directory unpack_tree() builds `dest` in.
std::string tree_part_path(const std::string& dest);

}  // namespace shoal::object
