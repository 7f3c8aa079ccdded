// The HTTP listener on real loopback sockets: requests reach the handler
// whole, a port has one owner, and no caller holds a connection or the
// server's memory for long.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A connected loopback socket, closed on destruction.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& text) {
    ASSERT_EQ(send(fd_, text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
  }
  // What the server sends until it closes the connection or `seconds`
  // pass; *closed says which.
  std::string ReadAll(double seconds, bool* closed) {
    std::string out;
    *closed = false;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(int(seconds * 1000));
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

HttpOptions Loopback() {
  HttpOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 2;
  return options;
}

// Echoes what it received: method, path, a header and the body.
Response Echo(Request& request) {
  Response response;
  response.content_type = "text/plain";
  response.headers.emplace_back("X-Seen", "yes");
  response.body = absl::StrCat(request.method, " ", request.path, " ",
                               request.header("X-Test").value_or("(none)"), " ",
                               request.body.size(), ":", request.body);
  return response;
}

TEST(HttpServerTest, TheHandlerGetsTheWholeRequestAndKeepAliveWorks) {
  auto server = HttpServer::Start(Loopback(), Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  const std::string body(100000, 'b');
  client.Send(
      absl::StrCat("POST /a/b?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: t1\r\n"
                   "Content-Length: ",
                   body.size(), "\r\n\r\n", body));
  client.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  const std::string replies = client.ReadAll(1.0, &closed);
  EXPECT_FALSE(closed) << "keep-alive: the connection stays open";
  EXPECT_THAT(replies, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(replies, HasSubstr("X-Seen: yes"));
  EXPECT_THAT(replies, HasSubstr(absl::StrCat("POST /a/b t1 100000:bbb")));
  EXPECT_THAT(replies, HasSubstr("GET /c (none) 0:"));
}

TEST(HttpServerTest, APortHasOneOwner) {
  auto first = HttpServer::Start(Loopback(), Echo);
  ASSERT_TRUE(first.ok()) << first.status();
  HttpOptions options = Loopback();
  options.address = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = HttpServer::Start(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("--http_address"));
}

TEST(HttpServerTest, MalformedAddressesAndOptionsAreNamed) {
  for (const char* address : {"nohost", "127.0.0.1:99999", ":80", "h:port"}) {
    HttpOptions options = Loopback();
    options.address = address;
    auto server = HttpServer::Start(options, Echo);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
  HttpOptions options = Loopback();
  options.tls_source = [] { return TlsPem{"not PEM", "not PEM either", ""}; };
  auto server = HttpServer::Start(options, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("certificate chain"));
  // The source's own error (an unreadable file) fails Start as it is.
  options.tls_source = []() -> absl::StatusOr<TlsPem> {
    return absl::NotFoundError("--tls_cert_file: gone");
  };
  EXPECT_EQ(HttpServer::Start(options, Echo).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(HttpServerTest, ASilentConnectionIsClosedAfterTheIdleTimeout) {
  HttpOptions options = Loopback();
  options.idle_timeout_seconds = 1;
  auto server = HttpServer::Start(options, Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  client.Send("GET /half-a-request HTTP/1.1\r\n");  // and nothing more
  bool closed = false;
  client.ReadAll(10.0, &closed);
  EXPECT_TRUE(closed) << "a silent caller kept its connection for 10 s";
}

TEST(HttpServerTest, ConnectionsPastTheLimitWaitUntilOneCloses) {
  HttpOptions options = Loopback();
  options.max_connections = 2;
  options.threads = 1;
  auto server = HttpServer::Start(options, Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  auto a = std::make_unique<Client>((*server)->port());
  Client b((*server)->port());
  bool closed = false;
  a->Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_THAT(a->ReadAll(0.5, &closed), StartsWith("HTTP/1.1 200"));
  b.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_THAT(b.ReadAll(0.5, &closed), StartsWith("HTTP/1.1 200"));
  // The third waits in the kernel's queue: no answer while a and b are open.
  Client c((*server)->port());
  c.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadAll(1.0, &closed), "");
  EXPECT_FALSE(closed);
  a.reset();
  EXPECT_THAT(c.ReadAll(5.0, &closed), StartsWith("HTTP/1.1 200"));
}

TEST(HttpServerTest, ABodyOverTheLimitIsRefusedAndNeverHandled) {
  HttpOptions options = Loopback();
  options.max_body_bytes = 1000;
  std::atomic<int> handled{0};
  auto server = HttpServer::Start(options, [&](Request& request) {
    ++handled;
    return Echo(request);
  });
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Client client((*server)->port());
    client.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    bool closed = false;
    const std::string reply = client.ReadAll(2.0, &closed);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 413"));
    EXPECT_THAT(reply, HasSubstr("larger than the server's limit of 1000"));
  }
  {
    // A chunked body cannot be answered mid-way: it loses its connection.
    Client client((*server)->port());
    client.Send(absl::StrCat(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3e8\r\n", std::string(1000, 'x'), "\r\n", "1\r\ny\r\n"));
    bool closed = false;
    EXPECT_EQ(client.ReadAll(5.0, &closed), "");
    EXPECT_TRUE(closed);
  }
  {
    Client client((*server)->port());
    client.Send(
        absl::StrCat("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     "1000\r\n\r\n",
                     std::string(1000, 'z')));
    bool closed = false;
    EXPECT_THAT(client.ReadAll(0.5, &closed), StartsWith("HTTP/1.1 200"));
  }
  EXPECT_EQ(handled.load(), 1);
}

TEST(HttpServerTest, StopWaitsForTheHandlerInProgress) {
  absl::Notification started;
  std::atomic<bool> finished{false};
  auto server = HttpServer::Start(Loopback(), [&](Request& request) {
    started.Notify();
    // Long enough that a Stop that did not wait would return first.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished = true;
    return Echo(request);
  });
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  started.WaitForNotification();
  (*server)->Stop();
  EXPECT_TRUE(finished.load());
  (*server)->Stop();  // idempotent
}

TEST(HttpServerTest, JsonErrorEscapesTheMessage) {
  EXPECT_EQ(JsonError("a \"b\"\n\x01"), R"({"error":"a \"b\"\n\u0001"})");
  // Invalid UTF-8 is replaced, not passed through or thrown on.
  EXPECT_EQ(JsonError("\xff"), "{\"error\":\"\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace mlp::http
