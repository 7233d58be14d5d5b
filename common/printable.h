// Text a peer chose (a receiver's Hello name, a Reject or Bye reason, an object name), made safe
// to log: it can neither start a line of its own nor drive the terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shoal {

// At most `max_bytes` bytes of `peer_text` (cut at a character boundary, "..." appended), with
// control characters (C0, DEL, C1), backslashes and bytes that are not UTF-8 escaped as \xNN
// (a backslash as \\). Printable ASCII and valid UTF-8 letters stay as they are.
std::string printable(std::string_view peer_text, size_t max_bytes = 256);

}  // namespace shoal
