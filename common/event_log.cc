#include "common/event_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>

namespace shoal {

namespace {
uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

}  // namespace

uint64_t unix_now_ns() {
  return now_ns(CLOCK_REALTIME);
}

std::string utc_iso8601(uint64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%03uZ", unsigned(ns / 1'000'000 % 1000));
  return buf;
}

namespace {
std::string utc_now() {
  return utc_iso8601(unix_now_ns());
}
}  // namespace

Result<EventLog> EventLog::open(const std::string& path) {
  EventLog log;
  if (path.empty()) return log;
  if (path == "-") {
    log.out_ = std::shared_ptr<std::FILE>(stdout, [](std::FILE*) {});
  } else {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return make_error("--events: cannot write '" + path + "': " + std::strerror(errno));
    log.out_ = std::shared_ptr<std::FILE>(f, [](std::FILE* p) { std::fclose(p); });
  }
  log.t0_ns_ = now_ns(CLOCK_MONOTONIC);
  return log;
}

void EventLog::emit(const char* event, nlohmann::json fields) {
  if (!out_) return;
  nlohmann::json line = {
      {"event", event}, {"t", double(now_ns(CLOCK_MONOTONIC) - t0_ns_) / 1e9}, {"time", utc_now()}};
  line.update(fields);
  const std::string text = line.dump() + "\n";
  std::fputs(text.c_str(), out_.get());
  std::fflush(out_.get());
}

std::string session_hex(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace shoal
