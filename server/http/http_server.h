// HttpServer: mlp-server's HTTP/1.1 listener, a thin layer over GNU
// libmicrohttpd that knows nothing of models. A front end (the Open
// Inference Protocol's /v2 endpoints today, /metrics and a web page later)
// gives it one Handler; it gives the handler whole requests (method, path,
// headers, the complete body) and sends back whole responses.
//
// Why libmicrohttpd (docs/architecture.md has the comparison): it is a
// maintained GNU library in Debian, serves keep-alive and many concurrent
// connections from a few epoll threads, speaks TLS through GnuTLS, and
// streams chunked and server-sent-event responses, which /metrics and a live
// page will need.
//
// What a caller cannot do: send a body larger than max_body_bytes (413
// before the body is read when Content-Length says so; a chunked body that
// passes it has its connection closed), hold a connection that sends nothing
// for idle_timeout_seconds, or have more than max_connections open at once
// (later ones wait in the kernel's accept queue until one closes).
//
// Thread-safety: the handler runs on the server's threads, several at once.
// Stop and the destructor wait for handlers in progress.
#ifndef MLP_SERVER_HTTP_HTTP_SERVER_H_
#define MLP_SERVER_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/tls_credentials.h"

namespace mlp::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the URL's path, without the query
  std::string body;
  // The value of header `name` (case-insensitive), if the request has it.
  // Valid only while the handler runs.
  std::function<std::optional<absl::string_view>(const char* name)> header;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

using Handler = std::function<Response(Request&)>;

struct HttpOptions {
  // host:port; port 0 picks a free port (read it back with port()).
  std::string address = "127.0.0.1:8000";
  // Threads, each serving its share of the connections with epoll.
  int threads = 2;
  int64_t max_body_bytes = 64 << 20;
  int max_connections = 1000;
  // A connection that sends nothing for this long is closed.
  int idle_timeout_seconds = 60;
  // Set: the port speaks TLS only, with the certificate chain and key the
  // source gives (tls_credentials.h). Read at Start (an error fails Start)
  // and again every tls_reload_interval: a connection accepted after a
  // renewal is served the renewed certificate, one accepted before keeps
  // the one it started with. A client CA bundle from the source at Start
  // means mutual TLS: a request without a client certificate that the
  // bundle current when its connection was accepted verifies is answered
  // 403 before its body is read.
  TlsSource tls_source;
  absl::Duration tls_reload_interval = absl::Seconds(10);
};

class HttpServer {
 public:
  // Binds (a port in use is UNAVAILABLE: no two servers share one) and
  // starts serving. INVALID_ARGUMENT for a malformed address or option.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return tls_; }

  // Stops accepting, waits for handlers in progress, closes connections.
  // Idempotent.
  void Stop();

  struct Impl;

 private:
  HttpServer() = default;

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  bool tls_ = false;
};

// A JSON body {"error": "<message>"} (message JSON-escaped).
std::string JsonError(absl::string_view message);

}  // namespace mlp::http

#endif  // MLP_SERVER_HTTP_HTTP_SERVER_H_
