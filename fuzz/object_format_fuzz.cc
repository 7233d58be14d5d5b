// libFuzzer target for what a receiver parses in a packed object before it writes anything:
// the packed-tree table (object/tree_format.h) and the chunked-zstd index and frames
// (object/chunk_codec.h). Both parsers run on every input. An accepted table must re-encode to
// exactly the bytes it came from and describe only safe relative paths with data inside the
// object; an accepted index must describe chunks inside the object, and decoding must hand out
// only bytes inside the original size, in order.
// Seeds: fuzz/corpus/object_format/ (fuzz/make_object_format_corpus.py).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "object/chunk_codec.h"
#include "object/tree_format.h"

using namespace shoal;

namespace {

void check_tree(std::span<const uint8_t> in) {
  auto t = object::parse_tree_table(in);
  if (!t) return;
  const uint64_t table = object::tree_table_size(*t);
  if (table > in.size()) std::abort();
  std::vector<uint8_t> again = object::encode_tree_table(*t);
  if (again.size() != table || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
  for (const object::TreeEntry& e : t->entries) {
    if (!object::tree_path_problem(e.path).empty()) std::abort();
    if (e.data_offset > in.size() || e.size > in.size() - e.data_offset) std::abort();
  }
}

void check_chunks(std::span<const uint8_t> in) {
  auto ix = object::parse_chunk_index(in);
  if (!ix) return;
  for (const object::ChunkEntry& c : ix->chunks) {
    if (c.offset > in.size() || c.length > in.size() - c.offset) std::abort();
  }
  // Bound the work per input: zstd frames of large chunks expand a lot.
  if (ix->chunk_size > (1u << 20) || ix->chunks.size() > 4096) return;
  uint64_t next = 0;
  (void)object::decode_chunks(in, *ix,
                              [&](uint64_t off, std::span<const uint8_t> b) -> shoal::Status {
                                if (off < next || off + b.size() > ix->original_size) std::abort();
                                next = off + b.size();
                                return {};
                              });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  check_tree(in);
  check_chunks(in);
  return 0;
}
