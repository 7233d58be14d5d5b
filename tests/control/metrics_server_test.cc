#include "control/metrics_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "control/endpoint.h"

namespace shoal::control {
namespace {

// Sends `request` to the server and pumps the loop until the server closes; returns the answer.
std::string exchange(EventLoop& loop, MetricsServer& server, const std::string& request) {
  auto fd = connect_to("127.0.0.1:" + std::to_string(server.port()), 2000);
  EXPECT_TRUE(fd.ok()) << fd.error();
  if (!fd) return {};
  EXPECT_EQ(::send(fd->get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer;
  for (int i = 0; i < 200; ++i) {
    loop.poll_once(10);
    char buf[4096];
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
  }
  return answer;
}

TEST(MetricsServer, AnswersAGetWithTheRenderedText) {
  auto loop = *EventLoop::create();
  int renders = 0;
  auto server = MetricsServer::create(*loop, "127.0.0.1:0", [&] {
    ++renders;
    return metric_line("shoal_test_total", renders);
  });
  ASSERT_TRUE(server.ok()) << server.error();
  for (int round = 1; round <= 2; ++round) {
    std::string a = exchange(*loop, **server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(a.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << a;
    const std::string body = "shoal_test_total " + std::to_string(round) + "\n";
    EXPECT_NE(a.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos)
        << a;
    EXPECT_NE(a.find("text/plain; version=0.0.4"), std::string::npos);
    EXPECT_EQ(a.substr(a.size() - body.size()), body) << "fresh values on every scrape";
  }
}

TEST(MetricsServer, RefusesOtherMethodsAndOversizedRequests) {
  auto loop = *EventLoop::create();
  auto server = MetricsServer::create(*loop, "127.0.0.1:0", [] { return std::string("x 1\n"); });
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(exchange(*loop, **server, "POST / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  std::string huge = "GET /" + std::string(10000, 'a');
  EXPECT_EQ(exchange(*loop, **server, huge), "") << "dropped without an answer";
}

TEST(MetricsServer, BadAddressIsNamed) {
  auto loop = *EventLoop::create();
  auto server = MetricsServer::create(*loop, "not-an-address", [] { return std::string(); });
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().find("--metrics"), std::string::npos) << server.error();
}

TEST(MetricLine, FormatsLabelsAndEscapesThem) {
  EXPECT_EQ(metric_line("a_total", 42), "a_total 42\n");
  EXPECT_EQ(metric_line("b", 0.5, {{"name", "rx\"1\\"}, {"path", "unicast"}}),
            "b{name=\"rx\\\"1\\\\\",path=\"unicast\"} 0.5\n");
}

}  // namespace
}  // namespace shoal::control
