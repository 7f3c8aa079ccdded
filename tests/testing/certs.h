// Throwaway certificates for TLS tests, made with the openssl command at
// test time (no key is ever committed).
#ifndef MLP_TESTS_TESTING_CERTS_H_
#define MLP_TESTS_TESTING_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace mlp::testing {

// A CA and, signed by it, a server certificate for localhost / 127.0.0.1
// and a client certificate. Paths of PEM files.
struct TestPki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Writes a new PKI under `dir` (created if missing), file names prefixed
// with `prefix`. INTERNAL naming the command if openssl fails.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir,
                                    const std::string& prefix);

// The whole file (test helper: empty if unreadable).
std::string ReadPem(const std::string& path);

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_CERTS_H_
