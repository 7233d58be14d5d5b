#include "object/resume_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "common/fresh_file.h"
#include "engine/crc32c.h"
#include "fec/layout.h"
#include "object/manifest.h"
#include "object/object_sink.h"

namespace shoal::object {

namespace {
constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'S', 'T', '1'};
constexpr size_t kFixed = 8 + 32 + 8 + 4;  // magic, id, object size, block count

void put64(std::vector<uint8_t>& v, uint64_t x) {
  for (int i = 7; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
uint64_t get(const uint8_t* p, int n) {
  uint64_t x = 0;
  for (int i = 0; i < n; ++i) x = (x << 8) | p[i];
  return x;
}
}  // namespace

control::Digest object_id(const control::Session& s) {
  Sha256 h;
  std::vector<uint8_t> head;
  const std::string_view label = "shoal-v3 resume";
  head.assign(label.begin(), label.end());
  put64(head, s.object_size);
  put32(head, s.symbol_size);
  put32(head, s.k);
  put32(head, s.block_count);
  head.push_back(s.object_format);
  h.update(head);
  return h.finish();
}

uint32_t ResumeState::count() const {
  uint32_t n = 0;
  for (uint8_t b : verified) n += static_cast<uint32_t>(std::popcount(b));
  return n;
}

Result<std::optional<ResumeState>> load_resume_state(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT) return std::optional<ResumeState>{};
    return make_error("cannot read resume state '" + path + "': " + std::strerror(errno));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto corrupt = [&] {
    return make_error("resume state '" + path +
                      "' is corrupt: remove it (the receiver then starts over)");
  };
  if (bytes.size() < kFixed + 4 || std::memcmp(bytes.data(), kMagic, 8) != 0) return corrupt();
  const size_t body = bytes.size() - 4;
  if (engine::crc32c({bytes.data(), body}) != get(bytes.data() + body, 4)) return corrupt();
  ResumeState st;
  std::memcpy(st.id.data(), bytes.data() + 8, 32);
  st.object_size = get(bytes.data() + 40, 8);
  st.block_count = static_cast<uint32_t>(get(bytes.data() + 48, 4));
  if (body - kFixed != (size_t{st.block_count} + 7) / 8) return corrupt();
  st.verified.assign(bytes.begin() + kFixed, bytes.begin() + static_cast<std::ptrdiff_t>(body));
  return std::optional<ResumeState>{std::move(st)};
}

Status save_resume_state(const std::string& path, const ResumeState& st) {
  std::vector<uint8_t> v(kMagic, kMagic + 8);
  v.insert(v.end(), st.id.begin(), st.id.end());
  put64(v, st.object_size);
  put32(v, st.block_count);
  v.insert(v.end(), st.verified.begin(), st.verified.end());
  put32(v, engine::crc32c(v));
  const std::string tmp = path + ".tmp";
  auto fd = create_fresh_file(tmp, O_WRONLY);
  if (!fd) return make_error("cannot write resume state: " + fd.error());
  bool ok = ::write(fd->get(), v.data(), v.size()) == static_cast<ssize_t>(v.size()) &&
            ::fsync(fd->get()) == 0;
  fd->reset();
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return make_error("cannot write resume state '" + path + "': " + std::strerror(errno));
  }
  return {};
}

}  // namespace shoal::object
