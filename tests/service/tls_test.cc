// TLS and mutual TLS on the gRPC and the HTTP port, against a real
// in-process server with certificates made at test time: plaintext and
// strangers are refused, and a renewed certificate or client CA bundle is
// used without a restart.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mlp/v1/mlp.grpc.pb.h"
#include "server/service/server.h"
#include "tests/testing/api.h"
#include "tests/testing/certs.h"
#include "tests/testing/files.h"
#include "tests/testing/https_client.h"
#include "tests/testing/server_process.h"

namespace mlp::service {
namespace {

using ::mlp::testing::ContextWithDeadline;
using ::mlp::testing::HttpsClientOptions;
using ::mlp::testing::HttpsGet;
using ::mlp::testing::ReadPem;
using ::mlp::testing::TestPki;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = testing::MakeTestPki(dir_.path(), "a-");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
  }

  void Start(bool mutual, int reload_seconds = 10, bool http = false) {
    ServerOptions options;
    options.address = "127.0.0.1:0";
    options.http_address = http ? "127.0.0.1:0" : "";
    options.data_dir = dir_.path() + "/data";
    options.tls_cert_file = pki_.server_cert;
    options.tls_key_file = pki_.server_key;
    if (mutual) options.tls_client_ca_file = pki_.ca_cert;
    options.tls_reload_seconds = reload_seconds;
    absl::StatusOr<std::unique_ptr<MlpServer>> server =
        MlpServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // ListModels over a channel with `credentials`.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::ModelService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), credentials));
    v1::ListModelsResponse list;
    return stub->ListModels(ContextWithDeadline(5).get(), {}, &list);
  }

  static std::shared_ptr<grpc::ChannelCredentials> Tls(
      const std::string& ca, const std::string& cert = "",
      const std::string& key = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadPem(ca);
    if (!cert.empty()) {
      ssl.pem_cert_chain = ReadPem(cert);
      ssl.pem_private_key = ReadPem(key);
    }
    return grpc::SslCredentials(ssl);
  }

  // GET /v2/health/live over a new HTTPS connection.
  absl::StatusOr<std::string> HttpsLive(const std::string& ca,
                                        const std::string& cert = "",
                                        const std::string& key = "") {
    return HttpsGet(server_->http_port(), "/v2/health/live",
                    HttpsClientOptions{ca, cert, key});
  }

  // Until `done` holds for a new HTTPS connection's answer (20 s at most:
  // the server checks its files every second).
  template <typename Done>
  absl::StatusOr<std::string> AwaitHttps(
      const std::function<absl::StatusOr<std::string>()>& get, Done done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<std::string> reply = get();
    while (!done(reply) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(200));
      reply = get();
    }
    return reply;
  }

  // Replaces `path` by `from`'s contents with a rename, as a secret mount
  // or certbot does.
  static void Replace(const std::string& from, const std::string& path) {
    std::filesystem::copy_file(from, path + ".new");
    std::filesystem::rename(path + ".new", path);
  }

  testing::TempDir dir_;
  TestPki pki_;
  std::unique_ptr<MlpServer> server_;
};

TEST_F(TlsTest, ServesTlsAndRefusesPlaintextAndUnknownCas) {
  Start(/*mutual=*/false);
  EXPECT_TRUE(Call(Tls(pki_.ca_cert)).ok());
  EXPECT_FALSE(Call(grpc::InsecureChannelCredentials()).ok());
  absl::StatusOr<TestPki> other =
      testing::MakeTestPki(dir_.path() + "/other", "b-");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(Call(Tls(other->ca_cert)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  Start(/*mutual=*/true);
  EXPECT_TRUE(Call(Tls(pki_.ca_cert, pki_.client_cert, pki_.client_key)).ok());
  EXPECT_FALSE(Call(Tls(pki_.ca_cert)).ok());  // no client certificate
  absl::StatusOr<TestPki> other =
      testing::MakeTestPki(dir_.path() + "/other", "b-");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(
      Call(Tls(pki_.ca_cert, other->client_cert, other->client_key)).ok());
}

// An operator renews the certificate (here: from another CA) by replacing
// the files; the running server serves the new one.
TEST_F(TlsTest, RenewedCertificateIsServedWithoutARestart) {
  Start(/*mutual=*/false, /*reload_seconds=*/1);
  ASSERT_TRUE(Call(Tls(pki_.ca_cert)).ok());
  absl::StatusOr<TestPki> renewed =
      testing::MakeTestPki(dir_.path() + "/renewed", "r-");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  namespace fs = std::filesystem;
  // Each file replaced by a rename, as a secret mount or certbot does.
  fs::copy_file(renewed->server_key, pki_.server_key + ".new");
  fs::copy_file(renewed->server_cert, pki_.server_cert + ".new");
  fs::rename(pki_.server_key + ".new", pki_.server_key);
  fs::rename(pki_.server_cert + ".new", pki_.server_cert);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  grpc::Status status;
  do {
    absl::SleepFor(absl::Milliseconds(200));
    status = Call(Tls(renewed->ca_cert));
  } while (!status.ok() && absl::Now() < deadline);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(Call(Tls(pki_.ca_cert)).ok());  // the old chain is gone
}

// The same renewal on the HTTP port: new connections get the new chain.
TEST_F(TlsTest, HttpsServesARenewedCertificateWithoutARestart) {
  Start(/*mutual=*/false, /*reload_seconds=*/1, /*http=*/true);
  absl::StatusOr<std::string> reply = HttpsLive(pki_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 200"));
  absl::StatusOr<TestPki> renewed =
      testing::MakeTestPki(dir_.path() + "/renewed", "r-");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  Replace(renewed->server_key, pki_.server_key);
  Replace(renewed->server_cert, pki_.server_cert);
  reply =
      AwaitHttps([&] { return HttpsLive(renewed->ca_cert); },
                 [](const absl::StatusOr<std::string>& r) { return r.ok(); });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 200"));
  reply = HttpsLive(pki_.ca_cert);  // the old chain is gone
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
}

// Mutual TLS over HTTP with the client CA bundle replaced by another CA's:
// a client certificate from the new CA is taken, one from the old refused.
TEST_F(TlsTest, HttpsMutualTlsFollowsTheRenewedClientCaFile) {
  Start(/*mutual=*/true, /*reload_seconds=*/1, /*http=*/true);
  absl::StatusOr<TestPki> other =
      testing::MakeTestPki(dir_.path() + "/other", "b-");
  ASSERT_TRUE(other.ok()) << other.status();
  // The server's own certificate stays the first CA's: the client verifies
  // it with a copy, since the file the server was given is replaced below.
  const std::string server_ca = dir_.path() + "/server-ca.pem";
  std::filesystem::copy_file(pki_.ca_cert, server_ca);
  absl::StatusOr<std::string> reply =
      HttpsLive(server_ca, pki_.client_cert, pki_.client_key);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 200"));
  reply = HttpsLive(server_ca, other->client_cert, other->client_key);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 403"));

  Replace(other->ca_cert, pki_.ca_cert);  // --tls_client_ca_file
  reply = AwaitHttps(
      [&] {
        return HttpsLive(server_ca, other->client_cert, other->client_key);
      },
      [](const absl::StatusOr<std::string>& r) {
        return r.ok() && absl::StartsWith(*r, "HTTP/1.1 200");
      });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 200"));
  reply = HttpsLive(server_ca, pki_.client_cert, pki_.client_key);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 403"));
}

TEST_F(TlsTest, BadTlsOptionsAreRefusedAtStart) {
  ServerOptions options;
  options.data_dir = dir_.path() + "/data";
  options.http_address = "";
  options.tls_cert_file = pki_.server_cert;
  EXPECT_THAT(std::string(options.Validate().message()),
              ::testing::HasSubstr("go together"));
  options.tls_cert_file.clear();
  options.tls_client_ca_file = pki_.ca_cert;
  EXPECT_THAT(std::string(options.Validate().message()),
              ::testing::HasSubstr("needs --tls_cert_file"));
  options.tls_cert_file = pki_.server_cert;
  options.tls_key_file = dir_.path() + "/missing.key";
  EXPECT_THAT(std::string(options.Validate().message()),
              ::testing::HasSubstr("--tls_key_file"));
  options.tls_key_file = pki_.server_key;
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  // The HTTP port verifies client certificates too (oip_http_test.py).
  options.http_address = "127.0.0.1:8000";
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
}

}  // namespace
}  // namespace mlp::service
