#include "control/metrics_server.h"

#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <vector>

#include "common/clock.h"
#include "control/endpoint.h"

namespace shoal::control {

namespace {
constexpr size_t kMaxRequest = 8192;
constexpr size_t kMaxScrapers = 16;
constexpr uint64_t kRequestTimeoutNs = 5'000'000'000;
}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::create(EventLoop& loop,
                                                             const std::string& address,
                                                             Render render) {
  auto ep = parse_endpoint(address);
  if (!ep) return make_error("--metrics: " + ep.error());
  std::unique_ptr<MetricsServer> s(new MetricsServer(loop, std::move(render)));
  MetricsServer* self = s.get();
  auto l = Listener::create(loop, *ep, kMaxScrapers,
                            [self](Fd fd, const sockaddr_in&, ConnectionSlot slot) {
                              self->on_accept(std::move(fd), std::move(slot));
                            });
  if (!l) return make_error("--metrics: " + l.error());
  s->listener_ = std::move(*l);
  return s;
}

MetricsServer::~MetricsServer() {
  for (auto& [fd, c] : clients_) loop_.remove(fd);
}

void MetricsServer::on_accept(Fd fd, ConnectionSlot slot) {
  const int raw = fd.get();
  Client& c = clients_[raw];
  c.fd = std::move(fd);
  c.slot = std::move(slot);
  c.since_ns = monotonic_ns();
  Status added = loop_.add(raw, EPOLLIN, [this, raw](uint32_t ev) { on_events(raw, ev); });
  if (!added) clients_.erase(raw);
}

void MetricsServer::drop(int fd) {
  loop_.remove(fd);
  clients_.erase(fd);  // closes the socket, frees the slot
}

void MetricsServer::expire(uint64_t now) {
  std::vector<int> late;
  for (const auto& [fd, c] : clients_) {
    if (now - c.since_ns > kRequestTimeoutNs) late.push_back(fd);
  }
  for (int fd : late) drop(fd);
}

void MetricsServer::on_events(int fd, uint32_t events) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = it->second;
  if (c.out.empty()) {
    char buf[2048];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return drop(fd);
    if (n > 0) c.in.append(buf, static_cast<size_t>(n));
    if (c.in.size() > kMaxRequest) return drop(fd);
    if (c.in.find("\r\n\r\n") == std::string::npos && c.in.find("\n\n") == std::string::npos) {
      return;
    }
    const bool get = c.in.rfind("GET ", 0) == 0;
    const std::string body = get ? render_() : "only GET is served here\n";
    c.out = std::string(get ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 405 Method Not Allowed\r\n") +
            "Content-Type: text/plain; version=0.0.4\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    if (!loop_.modify(fd, EPOLLOUT)) return drop(fd);
    events |= EPOLLOUT;
  }
  if (events & EPOLLOUT) {
    const ssize_t n =
        ::send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return drop(fd);
    if (n > 0) c.sent += static_cast<size_t>(n);
    if (c.sent == c.out.size()) {
      ::shutdown(fd, SHUT_WR);
      drop(fd);
    }
  }
}

std::string metric_header(const std::string& name, const char* type, const std::string& help) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string metric_line(const std::string& name, double value,
                        const std::map<std::string, std::string>& labels) {
  std::string line = name;
  if (!labels.empty()) {
    line += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) line += ',';
      first = false;
      line += k + "=\"";
      for (char ch : v) {
        if (ch == '\\' || ch == '"') line += '\\';
        if (ch == '\n') {
          line += "\\n";
          continue;
        }
        line += ch;
      }
      line += '"';
    }
    line += '}';
  }
  char num[64];
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(num, sizeof num, " %.0f\n", value);
  } else {
    std::snprintf(num, sizeof num, " %.9g\n", value);
  }
  return line + num;
}

}  // namespace shoal::control
