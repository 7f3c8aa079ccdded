// A minimal HTTPS client for tests (GnuTLS): one GET per new connection to
// the loopback address, the server's certificate verified against a CA
// bundle of the test's choosing.
#ifndef MLP_TESTS_TESTING_HTTPS_CLIENT_H_
#define MLP_TESTS_TESTING_HTTPS_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"

namespace mlp::testing {

struct HttpsClientOptions {
  // PEM files: the CA bundle the server's certificate must chain to (and
  // name "localhost"), and for mutual TLS the client's certificate and key.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// GET `path` from 127.0.0.1:`port` over a new TLS connection: the whole
// response (status line, headers, body) as the server sent it until it
// closed the connection. UNAVAILABLE naming GnuTLS's error (for a refused
// certificate, why it was refused) if the connection or the handshake
// fails; DEADLINE_EXCEEDED after 10 s.
absl::StatusOr<std::string> HttpsGet(int port, const std::string& path,
                                     const HttpsClientOptions& options);

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_HTTPS_CLIENT_H_
