#include "fec/limits.h"

#include <string>

namespace shoal::fec {

Status validate_symbol_size(size_t len) {
  if (is_valid_symbol_size(len)) return Status::success();
  return make_error("bad FEC symbol size " + std::to_string(len) + ": must be a multiple of " +
                    std::to_string(kSymbolAlign) + " between " + std::to_string(kSymbolAlign) +
                    " and " + std::to_string(kMaxSymbolSize) + " bytes");
}

}  // namespace shoal::fec
