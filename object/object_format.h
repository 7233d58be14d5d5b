// Objects beyond one plain file, as a layer around the single-object transfer: the sender turns a
// directory tree (tree_pack.h) and/or zstd compression (chunk_codec.h) into one packed object and
// says so in Session.object_format; the FEC, multicast, repair and verification machinery moves
// and checks the packed bytes exactly as it does a file; the receiver turns the verified packed
// object into the destination afterwards. Formats are in docs/protocol.md section 8.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "control/messages.h"
#include "object/object_source.h"

namespace shoal::object {

// The Session.object_format bits this build reads and writes.
inline constexpr uint8_t kSupportedObjectFormats =
    control::kObjectFormatTree | control::kObjectFormatZstd;

struct ObjectFormatInfo {
  uint8_t format = 0;          // Session.object_format
  uint64_t content_bytes = 0;  // what the receiver writes out (the file, device or tree data)
};

// Sender: opens what `path` names as the object to send. A file or block device without
// `compress` is mapped as is (format 0). A directory is packed into a temporary file in `spool`
// ("" = $TMPDIR or /tmp); with `compress` ("zstd" or "zstd:LEVEL") the file, device or packed
// tree is then compressed into another. Temporary files are unlinked as soon as they are created
// (the mapping keeps them), so nothing is left behind. `info` says what was done.
Result<ObjectSource> open_object(const std::string& path, const std::string& compress,
                                 const std::string& spool, ObjectFormatInfo& info);

// Extra time to allow a receiver to answer its last PassEnd: it unpacks or decompresses the
// object before it reports Done (about 50 MB/s assumed, never less than the data's worth).
uint64_t finish_allowance_ns(const ObjectFormatInfo& info);

// Short text for logs: "a directory tree, zstd-compressed".
std::string describe_format(uint8_t format);

// Receiver, on the Session: where to receive the object. Format 0: `out` itself. Otherwise a
// hidden `.NAME.shoal-packed` file in `spool` if given, else beside `out` (in `state_dir` when
// `out` is a block device). Refuses, with a reason for the sender and the log: format bits this
// build does not read; a tree onto a block device; a tree when `out` exists, unless `force`.
Result<std::string> received_object_path(const std::string& out, uint8_t format,
                                         const std::string& spool, const std::string& state_dir,
                                         bool force);

struct FinishOptions {
  bool force = false;       // replace an existing tree; write a mounted device
  bool zero_holes = false;  // block device: write zeros over holes instead of skipping them
};

// Receiver, after the packed object at `packed` was verified and committed: writes the real
// object to `out` and removes `packed` (also on failure). Compressed files become sparse files
// (holes skipped, written to `.NAME.shoal-part` and renamed); on a block device holes are skipped
// (the device keeps what it held there) unless zero_holes; trees are unpacked (unpack_tree).
Status finish_object(const std::string& packed, const std::string& out, uint8_t format,
                     const FinishOptions& options);

}  // namespace shoal::object
