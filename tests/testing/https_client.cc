#include "tests/testing/https_client.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mlp::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(10);

struct CredentialsDeleter {
  void operator()(gnutls_certificate_credentials_st* c) const {
    gnutls_certificate_free_credentials(c);
  }
};
struct SessionDeleter {
  void operator()(gnutls_session_int* s) const { gnutls_deinit(s); }
};
struct Socket {
  explicit Socket(int fd) : fd(fd) {}
  ~Socket() {
    if (fd >= 0) close(fd);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd;
};

absl::Status Unavailable(absl::string_view what, int rc) {
  return absl::UnavailableError(absl::StrCat(what, ": ", gnutls_strerror(rc)));
}

}  // namespace

absl::StatusOr<std::string> HttpsGet(int port, const std::string& path,
                                     const HttpsClientOptions& options) {
  gnutls_certificate_credentials_t raw_credentials = nullptr;
  if (gnutls_certificate_allocate_credentials(&raw_credentials) < 0) {
    return absl::InternalError("cannot allocate GnuTLS credentials");
  }
  std::unique_ptr<gnutls_certificate_credentials_st, CredentialsDeleter>
      credentials(raw_credentials);
  if (const int rc = gnutls_certificate_set_x509_trust_file(
          raw_credentials, options.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
      rc <= 0) {
    return absl::InternalError(
        absl::StrCat("no CA certificate in ", options.ca_file));
  }
  if (!options.cert_file.empty()) {
    if (const int rc = gnutls_certificate_set_x509_key_file(
            raw_credentials, options.cert_file.c_str(),
            options.key_file.c_str(), GNUTLS_X509_FMT_PEM);
        rc < 0) {
      return absl::InternalError(absl::StrCat(
          "client certificate ", options.cert_file, ": ", gnutls_strerror(rc)));
    }
  }

  Socket socket_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout = absl::ToTimeval(kTimeout);
  setsockopt(socket_fd.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(socket_fd.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(socket_fd.fd, reinterpret_cast<sockaddr*>(&address),
              sizeof(address)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to port ", port, ": ", std::strerror(errno)));
  }

  gnutls_session_t raw_session = nullptr;
  if (gnutls_init(&raw_session, GNUTLS_CLIENT) < 0) {
    return absl::InternalError("cannot make a GnuTLS session");
  }
  std::unique_ptr<gnutls_session_int, SessionDeleter> session(raw_session);
  gnutls_set_default_priority(raw_session);
  gnutls_credentials_set(raw_session, GNUTLS_CRD_CERTIFICATE, raw_credentials);
  gnutls_session_set_verify_cert(raw_session, "localhost", 0);
  gnutls_transport_set_int(raw_session, socket_fd.fd);
  gnutls_handshake_set_timeout(
      raw_session,
      static_cast<unsigned int>(absl::ToInt64Milliseconds(kTimeout)));
  int rc;
  do {
    rc = gnutls_handshake(raw_session);
  } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
  if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
    gnutls_datum_t why{};
    gnutls_certificate_verification_status_print(
        gnutls_session_get_verify_cert_status(raw_session),
        gnutls_certificate_type_get(raw_session), &why, 0);
    std::string text(reinterpret_cast<char*>(why.data), why.size);
    gnutls_free(why.data);
    return absl::UnavailableError(
        absl::StrCat("the server's certificate was refused: ", text));
  }
  if (rc < 0) return Unavailable("TLS handshake", rc);

  const std::string request =
      absl::StrCat("GET ", path,
                   " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = gnutls_record_send(raw_session, request.data() + sent,
                                         request.size() - sent);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
    if (n < 0) return Unavailable("send", static_cast<int>(n));
    sent += static_cast<size_t>(n);
  }
  std::string response;
  const absl::Time deadline = absl::Now() + kTimeout;
  while (true) {
    char buffer[4096];
    const ssize_t n = gnutls_record_recv(raw_session, buffer, sizeof(buffer));
    if (n > 0) {
      response.append(buffer, static_cast<size_t>(n));
      continue;
    }
    // The server closes the connection after its answer (with or without
    // a closure alert).
    if (n == 0 || (n == GNUTLS_E_PREMATURE_TERMINATION && !response.empty())) {
      return response;
    }
    if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) &&
        absl::Now() < deadline) {
      continue;
    }
    if (n == GNUTLS_E_AGAIN) {
      return absl::DeadlineExceededError(
          absl::StrCat("no whole answer in ", absl::FormatDuration(kTimeout),
                       "; got: ", response));
    }
    return Unavailable("receive", static_cast<int>(n));
  }
}

}  // namespace mlp::testing
