// The HTTP listener's TLS credentials, with certificates made at test time
// and real loopback connections: what is wrong with unusable ones is named,
// a renewal reaches new connections without a restart, and an unusable one
// leaves the previous certificate serving and is logged once.
#include "server/http/tls_credentials.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/http_server.h"
#include "tests/testing/certs.h"
#include "tests/testing/https_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/stderr_capture.h"

namespace mlp::http {
namespace {

using ::mlp::testing::StderrCapture;

using ::mlp::testing::HttpsClientOptions;
using ::mlp::testing::HttpsGet;
using ::mlp::testing::ReadPem;
using ::mlp::testing::StatusIs;
using ::mlp::testing::TestPki;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

// Replaces `path` with `text` by a rename, as a secret mount or certbot does.
void Replace(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  {
    std::FILE* file = std::fopen(temporary.c_str(), "w");
    ASSERT_NE(file, nullptr) << temporary;
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), file), text.size());
    ASSERT_EQ(std::fclose(file), 0);
  }
  fs::rename(temporary, path);
}

// The server's TLS files, read afresh at every call (what the service's
// source does with --tls_cert_file and --tls_key_file); counts its reads.
class FileSource {
 public:
  FileSource(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  absl::StatusOr<TlsPem> Read() ABSL_LOCKS_EXCLUDED(mu_) {
    TlsPem pem{ReadPem(cert_file_), ReadPem(key_file_), ""};
    absl::MutexLock lock(&mu_);
    ++reads_;
    return pem;
  }
  int reads() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return reads_;
  }
  // Until `count` more reads have begun: the first of them may have begun
  // before the caller's change, the last began after it, and the check
  // before the last one finished.
  bool AwaitReads(int count) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    target_ = reads_ + count;
    return mu_.AwaitWithTimeout(absl::Condition(this, &FileSource::Reached),
                                absl::Seconds(20));
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return reads_ >= target_;
  }

  const std::string cert_file_;
  const std::string key_file_;
  mutable absl::Mutex mu_;
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
  int target_ ABSL_GUARDED_BY(mu_) = 0;
};

int Count(const std::string& text, const std::string& part) {
  int count = 0;
  for (size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size())) {
    ++count;
  }
  return count;
}

Response Ok(Request& /*request*/) {
  Response response;
  response.content_type = "text/plain";
  response.body = "ok";
  return response;
}

class TlsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> a = testing::MakeTestPki(dir_.path() + "/a", "a-");
    ASSERT_TRUE(a.ok()) << a.status();
    a_ = *a;
    absl::StatusOr<TestPki> b = testing::MakeTestPki(dir_.path() + "/b", "b-");
    ASSERT_TRUE(b.ok()) << b.status();
    b_ = *b;
    // The files the server is configured with start as A's.
    cert_file_ = dir_.path() + "/server.pem";
    key_file_ = dir_.path() + "/server.key";
    fs::copy_file(a_.server_cert, cert_file_);
    fs::copy_file(a_.server_key, key_file_);
    source_ = std::make_unique<FileSource>(cert_file_, key_file_);
  }

  // Checks the files every 100 ms.
  void Start() {
    HttpOptions options;
    options.address = "127.0.0.1:0";
    options.threads = 2;
    options.tls_source = [source = source_.get()] { return source->Read(); };
    options.tls_reload_interval = absl::Milliseconds(100);
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options, Ok);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->tls());
  }

  absl::StatusOr<std::string> Get(const std::string& ca_file) {
    HttpsClientOptions client;
    client.ca_file = ca_file;
    return HttpsGet(server_->port(), "/", client);
  }

  // Until a new connection verifies with `ca_file` (20 s at most).
  absl::StatusOr<std::string> AwaitServedBy(const std::string& ca_file) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<std::string> reply = Get(ca_file);
    while (!reply.ok() && absl::Now() < deadline) {
      source_->AwaitReads(1);
      reply = Get(ca_file);
    }
    return reply;
  }

  testing::TempDir dir_;
  TestPki a_;
  TestPki b_;
  std::string cert_file_;
  std::string key_file_;
  std::unique_ptr<FileSource> source_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(TlsCredentialsTest, CreateNamesWhatIsWrong) {
  const std::string cert = ReadPem(a_.server_cert);
  const std::string key = ReadPem(a_.server_key);
  EXPECT_THAT(TlsCredentials::Create({"not PEM", key, ""}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate chain (--tls_cert_file)")));
  EXPECT_THAT(TlsCredentials::Create({cert, "not PEM", ""}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("private key (--tls_key_file) cannot be")));
  EXPECT_THAT(
      TlsCredentials::Create({cert, ReadPem(b_.server_key), ""}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("does not match the certificate")));
  EXPECT_THAT(TlsCredentials::Create({cert, key, "not PEM"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("client CA bundle (--tls_client_ca_file)")));
  absl::StatusOr<std::shared_ptr<const TlsCredentials>> plain =
      TlsCredentials::Create({cert, key, ""});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->mutual());
  absl::StatusOr<std::shared_ptr<const TlsCredentials>> mutual =
      TlsCredentials::Create({cert, key, ReadPem(a_.ca_cert)});
  ASSERT_TRUE(mutual.ok()) << mutual.status();
  EXPECT_TRUE((*mutual)->mutual());
}

// Checks by hand (the watcher's own thread would wait an hour): a failure
// keeps the current set and is logged once until it changes or a check
// succeeds; unchanged texts are not parsed again.
TEST_F(TlsCredentialsTest, AFailedCheckWarnsOncePerDistinctFailure) {
  absl::StatusOr<std::unique_ptr<TlsCredentialWatcher>> watcher =
      TlsCredentialWatcher::Start(
          [source = source_.get()] { return source->Read(); }, absl::Hours(1));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const std::shared_ptr<const TlsCredentials> first = (*watcher)->Current();
  StderrCapture capture;

  Replace(cert_file_, "not PEM");
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT((*watcher)->Check(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("certificate chain")));
  }
  Replace(cert_file_, ReadPem(a_.server_cert));
  Replace(key_file_, ReadPem(b_.server_key));
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT((*watcher)->Check(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("does not match")));
  }
  EXPECT_EQ((*watcher)->Current().get(), first.get());
  Replace(key_file_, ReadPem(a_.server_key));  // back to what is served
  EXPECT_TRUE((*watcher)->Check().ok());
  EXPECT_EQ((*watcher)->Current().get(), first.get());
  Replace(cert_file_, "not PEM");  // the same failure, news again
  EXPECT_FALSE((*watcher)->Check().ok());
  Replace(cert_file_, ReadPem(b_.server_cert));
  Replace(key_file_, ReadPem(b_.server_key));
  EXPECT_TRUE((*watcher)->Check().ok());
  EXPECT_NE((*watcher)->Current().get(), first.get());
  EXPECT_EQ((*watcher)->CurrentPem().cert_chain, ReadPem(b_.server_cert));

  const std::string log = capture.Text();
  EXPECT_EQ(Count(log, "cannot take the renewed certificate"), 3) << log;
  EXPECT_EQ(Count(log, "holds no PEM certificate"), 2) << log;
  EXPECT_EQ(Count(log, "does not match"), 1) << log;
  EXPECT_EQ(Count(log, "new connections get the renewed certificate"), 1)
      << log;
}

// The files are replaced by a certificate from another CA: new connections
// get it, verified by the new CA and refused by the old one.
TEST_F(TlsCredentialsTest, RenewedCertificateIsServedToNewConnections) {
  Start();
  absl::StatusOr<std::string> reply = Get(a_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, StartsWith("HTTP/1.1 200"));

  Replace(key_file_, ReadPem(b_.server_key));
  Replace(cert_file_, ReadPem(b_.server_cert));
  reply = AwaitServedBy(b_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Get(a_.ca_cert).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("certificate was refused")));
}

// A malformed certificate, then a key that is not the certificate's: each
// is refused and the previous certificate keeps serving; the good pair
// that follows is taken.
TEST_F(TlsCredentialsTest, AnUnusableRenewalKeepsThePreviousCertificate) {
  Start();
  ASSERT_TRUE(Get(a_.ca_cert).ok());

  Replace(cert_file_, "-----BEGIN CERTIFICATE-----\nnot base64\n");
  ASSERT_TRUE(source_->AwaitReads(2));
  absl::StatusOr<std::string> reply = Get(a_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, StartsWith("HTTP/1.1 200"));

  Replace(cert_file_, ReadPem(a_.server_cert));
  Replace(key_file_, ReadPem(b_.server_key));
  ASSERT_TRUE(source_->AwaitReads(2));
  reply = Get(a_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, StartsWith("HTTP/1.1 200"));

  Replace(cert_file_, ReadPem(b_.server_cert));
  reply = AwaitServedBy(b_.ca_cert);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, StartsWith("HTTP/1.1 200"));
}

}  // namespace
}  // namespace mlp::http
