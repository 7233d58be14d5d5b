// A Prometheus scrape endpoint (text exposition format 0.0.4) on the control plane's event loop:
// `--metrics 127.0.0.1:9102` on the sender and the receiver daemon. Any GET gets the current text
// from render(); the connection closes after the answer (HTTP/1.1, Connection: close).
//
// Bounded like the control plane: requests over 8 KiB or slower than 5 s are dropped, at most 16
// scrapers at once. Not thread-safe: the loop's thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "control/event_loop.h"
#include "control/listener.h"

namespace shoal::control {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  static Result<std::unique_ptr<MetricsServer>> create(EventLoop& loop, const std::string& address,
                                                       Render render);
  ~MetricsServer();
  uint16_t port() const { return listener_->port(); }
  // Drops scrapers that have not sent a whole request in time; call now and then.
  void expire(uint64_t now_ns);

 private:
  struct Client {
    Fd fd;
    ConnectionSlot slot;
    std::string in, out;
    size_t sent = 0;
    uint64_t since_ns = 0;
  };
  MetricsServer(EventLoop& loop, Render render) : loop_(loop), render_(std::move(render)) {}
  void on_accept(Fd fd, ConnectionSlot slot);
  void on_events(int fd, uint32_t events);
  void drop(int fd);

  EventLoop& loop_;
  Render render_;
  std::unique_ptr<Listener> listener_;
  std::map<int, Client> clients_;
};

// Helpers for the text format: a family's # HELP and # TYPE lines; one sample line, label values
// escaped.
std::string metric_header(const std::string& name, const char* type, const std::string& help);
std::string metric_line(const std::string& name, double value,
                        const std::map<std::string, std::string>& labels = {});

}  // namespace shoal::control
