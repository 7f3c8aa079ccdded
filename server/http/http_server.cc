#include "server/http/http_server.h"

#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/common/escape.h"
#include "server/common/log.h"

namespace mlp::http {

struct HttpServer::Impl {
  HttpOptions options;
  Handler handler;
  // With TLS: the credentials new connections get, and the texts the
  // daemon was started with (it needs a certificate of its own to start;
  // OnConnection replaces it in every session).
  std::unique_ptr<TlsCredentialWatcher> tls;
  TlsPem started_with;
  bool mutual = false;
  MHD_Daemon* daemon = nullptr;
  int listen_fd = -1;
};

namespace {

// A TLS connection's credentials: the set current when it was accepted,
// which its session uses for its handshake and the verification of its
// client's certificate, held until the connection closes.
struct TlsConnection {
  std::shared_ptr<const TlsCredentials> credentials;
};

// One request's state between libmicrohttpd's calls of OnRequest.
struct Pending {
  std::string body;
  bool refused = false;  // a response was queued before the body ended
};

MHD_Result Queue(MHD_Connection* connection, const Response& response) {
  MHD_Response* reply = MHD_create_response_from_buffer(
      response.body.size(), const_cast<char*>(response.body.data()),
      MHD_RESPMEM_MUST_COPY);
  if (reply == nullptr) return MHD_NO;
  if (!response.content_type.empty()) {
    MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE,
                            response.content_type.c_str());
  }
  for (const auto& [name, value] : response.headers) {
    MHD_add_response_header(reply, name.c_str(), value.c_str());
  }
  const MHD_Result queued = MHD_queue_response(
      connection, static_cast<unsigned int>(response.status), reply);
  MHD_destroy_response(reply);
  return queued;
}

Response TooLarge(int64_t max_body_bytes) {
  Response response;
  response.status = MHD_HTTP_CONTENT_TOO_LARGE;
  response.body = JsonError(
      absl::StrCat("the request body is larger than the server's limit of ",
                   max_body_bytes, " bytes (mlp-server --max_message_bytes)"));
  return response;
}

// With mutual TLS: whether the connection's client presented a certificate
// that the CA bundle of its credentials (OnConnection) verifies (checked by
// GnuTLS, with the time).
bool ClientCertificateVerified(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (info == nullptr || info->tls_session == nullptr) return false;
  unsigned int status = 0;
  const int rc = gnutls_certificate_verify_peers2(
      static_cast<gnutls_session_t>(info->tls_session), &status);
  return rc == GNUTLS_E_SUCCESS && status == 0;
}

// Whether OnConnection gave the connection's session its credentials.
bool HasOwnCredentials(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info != nullptr && info->socket_context != nullptr;
}

Response Forbidden() {
  Response response;
  response.status = MHD_HTTP_FORBIDDEN;
  response.body = JsonError(
      "this server requires a client certificate signed by its "
      "--tls_client_ca_file");
  return response;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                     const char* method, const char* /*version*/,
                     const char* upload_data, size_t* upload_data_size,
                     void** request_state) {
  auto* impl = static_cast<HttpServer::Impl*>(cls);
  const int64_t max_body = impl->options.max_body_bytes;
  auto* pending = static_cast<Pending*>(*request_state);
  if (pending == nullptr) {
    // Headers are in; the body (if any) comes in the next calls.
    pending = new Pending;
    *request_state = pending;
    if (impl->tls != nullptr && !HasOwnCredentials(connection)) {
      return MHD_NO;  // its handshake did not use the current credentials
    }
    if (impl->mutual && !ClientCertificateVerified(connection)) {
      pending->refused = true;
      return Queue(connection, Forbidden());
    }
    const char* length = MHD_lookup_connection_value(
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t declared = 0;
    if (length != nullptr && absl::SimpleAtoi(length, &declared) &&
        declared > max_body) {
      pending->refused = true;
      return Queue(connection, TooLarge(max_body));
    }
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    const size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (pending->refused) return MHD_YES;  // discarded after the 413
    if (static_cast<int64_t>(pending->body.size() + n) > max_body) {
      // libmicrohttpd takes no response while a body is arriving: the
      // connection is closed (a body of declared length got its 413 above).
      return MHD_NO;
    }
    pending->body.append(upload_data, n);
    return MHD_YES;
  }
  if (pending->refused) return MHD_YES;
  Request request;
  request.method = method;
  request.path = url;
  request.body = std::move(pending->body);
  request.header = [connection](const char* name) {
    const char* value =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
    return value == nullptr ? std::nullopt
                            : std::optional<absl::string_view>(value);
  };
  return Queue(connection, impl->handler(request));
}

void OnCompleted(void* /*cls*/, MHD_Connection* /*connection*/,
                 void** request_state, MHD_RequestTerminationCode /*code*/) {
  delete static_cast<Pending*>(*request_state);
  *request_state = nullptr;
}

// With TLS: gives a new connection's session the credentials current now,
// in place of the daemon's own, and keeps them until the connection closes.
// libmicrohttpd calls this once it has set the session up and before the
// handshake begins. A session that could not be given them is refused by
// OnRequest (HasOwnCredentials).
void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                  MHD_ConnectionNotificationCode code) {
  auto* impl = static_cast<HttpServer::Impl*>(cls);
  if (impl->tls == nullptr) return;
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    delete static_cast<TlsConnection*>(*socket_context);
    *socket_context = nullptr;
    return;
  }
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (info == nullptr || info->tls_session == nullptr) {
    MLP_LOG(ERROR) << "http: a TLS connection has no TLS session; refused";
    return;
  }
  auto held = std::make_unique<TlsConnection>();
  held->credentials = impl->tls->Current();
  if (const int rc = gnutls_credentials_set(
          static_cast<gnutls_session_t>(info->tls_session),
          GNUTLS_CRD_CERTIFICATE, held->credentials->gnutls());
      rc < 0) {
    MLP_LOG(ERROR) << "http: cannot give a TLS session its credentials ("
                   << gnutls_strerror(rc) << "); refused";
    return;
  }
  *socket_context = held.release();
}

void OnLibraryMessage(void* /*cls*/, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof(text), format, args);
  absl::string_view line = text;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  // Its messages may quote what a client sent: escaped, bounded, one line.
  MLP_LOG(WARNING) << "http: " << common::EscapeBounded(line, 400);
}

// "host:port", "[v6]:port". The port may be 0.
absl::Status SplitAddress(const std::string& address, std::string* host,
                          std::string* port) {
  const size_t colon = address.rfind(':');
  int number = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &number) || number < 0 ||
      number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_address ", common::Quote(address),
                     " is not HOST:PORT with a port in 0-65535"));
  }
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = address.substr(colon + 1);
  return absl::OkStatus();
}

// A listening, non-blocking socket on `address` (no SO_REUSEPORT: a second
// server on the same port fails here instead of sharing connections).
absl::StatusOr<int> Listen(const std::string& address) {
  std::string host, port;
  if (absl::Status s = SplitAddress(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_address ", common::Quote(address),
                     ": cannot resolve the host: ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    // Lets a restarted server bind while old connections linger in
    // TIME_WAIT; on Linux it does not let two listeners share the port.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      last_error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --http_address ", common::Quote(address),
                     ": ", last_error));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage bound{};
  socklen_t size = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
    return 0;
  }
  if (bound.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

std::string JsonError(absl::string_view message) {
  return nlohmann::json{{"error", std::string(message)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, Handler handler) {
  if (options.threads < 1 || options.max_connections < 1 ||
      options.idle_timeout_seconds < 1 || options.max_body_bytes < 1) {
    return absl::InvalidArgumentError(
        "the HTTP server needs at least 1 thread, 1 connection, a 1 s idle "
        "timeout and a 1-byte body limit");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  if (options.tls_source) {
    absl::StatusOr<std::unique_ptr<TlsCredentialWatcher>> tls =
        TlsCredentialWatcher::Start(options.tls_source,
                                    options.tls_reload_interval);
    if (!tls.ok()) return tls.status();
    impl->tls = *std::move(tls);
    impl->started_with = impl->tls->CurrentPem();
    impl->mutual = impl->tls->Current()->mutual();
  }
  absl::StatusOr<int> fd = Listen(options.address);
  if (!fd.ok()) return fd.status();
  impl->listen_fd = *fd;

  const bool tls = impl->tls != nullptr;
  unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (tls) flags |= MHD_USE_TLS;
  std::vector<MHD_OptionItem> items = {
      // First, so that start-up messages go to our log too.
      {MHD_OPTION_EXTERNAL_LOGGER,
       reinterpret_cast<intptr_t>(&OnLibraryMessage), nullptr},
      {MHD_OPTION_LISTEN_SOCKET, impl->listen_fd, nullptr},
      {MHD_OPTION_THREAD_POOL_SIZE, options.threads, nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, options.max_connections, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout_seconds, nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&OnCompleted),
       nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&OnConnection),
       impl.get()},
  };
  if (tls) {
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0,
                     const_cast<char*>(impl->started_with.cert_chain.c_str())});
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0,
                     const_cast<char*>(impl->started_with.key.c_str())});
    if (impl->mutual) {
      // What makes libmicrohttpd ask every client for a certificate
      // (GNUTLS_CERT_REQUEST); the verification uses the connection's own
      // credentials' bundle.
      items.push_back(
          {MHD_OPTION_HTTPS_MEM_TRUST, 0,
           const_cast<char*>(impl->started_with.client_ca.c_str())});
    }
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  impl->daemon =
      MHD_start_daemon(flags, 0, nullptr, nullptr, &OnRequest, impl.get(),
                       MHD_OPTION_ARRAY, items.data(), MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    close(impl->listen_fd);
    return absl::InternalError(
        absl::StrCat("the HTTP server on ", common::Quote(options.address),
                     " did not start (libmicrohttpd refused its options)"));
  }
  std::unique_ptr<HttpServer> server(new HttpServer);
  server->port_ = BoundPort(impl->listen_fd);
  server->tls_ = tls;
  server->impl_ = std::move(impl);
  return server;
}

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->daemon == nullptr) return;
  // Also closes the listening socket and every connection (OnConnection
  // lets go of their credentials).
  MHD_stop_daemon(impl_->daemon);
  impl_->daemon = nullptr;
  impl_->listen_fd = -1;
  impl_->tls.reset();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace mlp::http
