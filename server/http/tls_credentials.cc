#include "server/http/tls_credentials.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace mlp::http {
namespace {

gnutls_datum_t Datum(const std::string& text) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(text.data())),
          static_cast<unsigned int>(text.size())};
}

// How many certificates the PEM text holds, or GnuTLS's error code.
int CountCertificates(const std::string& pem) {
  gnutls_x509_crt_t* list = nullptr;
  unsigned int count = 0;
  const gnutls_datum_t data = Datum(pem);
  const int rc = gnutls_x509_crt_list_import2(&list, &count, &data,
                                              GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0) return rc;
  for (unsigned int i = 0; i < count; ++i) gnutls_x509_crt_deinit(list[i]);
  gnutls_free(list);
  return static_cast<int>(count);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TlsCredentials>> TlsCredentials::Create(
    const TlsPem& pem) {
  // The chain on its own first, so that its errors are not blamed on the key.
  if (const int certificates = CountCertificates(pem.cert_chain);
      certificates <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate chain (--tls_cert_file) holds no PEM certificate",
        certificates < 0
            ? absl::StrCat(" (", gnutls_strerror(certificates), ")")
            : ""));
  }
  gnutls_certificate_credentials_t credentials = nullptr;
  if (gnutls_certificate_allocate_credentials(&credentials) < 0) {
    return absl::ResourceExhaustedError(
        "cannot allocate TLS credentials (out of memory)");
  }
  // Owned by `out` from here on, freed with it on every error below.
  std::shared_ptr<const TlsCredentials> out(
      new TlsCredentials(credentials, !pem.client_ca.empty()));
  const gnutls_datum_t chain = Datum(pem.cert_chain);
  const gnutls_datum_t key = Datum(pem.key);
  // GnuTLS checks that the key is the first certificate's.
  if (const int rc = gnutls_certificate_set_x509_key_mem2(
          credentials, &chain, &key, GNUTLS_X509_FMT_PEM, nullptr, 0);
      rc < 0) {
    return absl::InvalidArgumentError(
        rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
            ? std::string("the private key (--tls_key_file) does not match the "
                          "certificate (--tls_cert_file)")
            : absl::StrCat("the private key (--tls_key_file) cannot be read (",
                           gnutls_strerror(rc), ")"));
  }
  if (!pem.client_ca.empty()) {
    const gnutls_datum_t ca = Datum(pem.client_ca);
    const int rc = gnutls_certificate_set_x509_trust_mem(credentials, &ca,
                                                         GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the client CA bundle (--tls_client_ca_file) holds no PEM "
          "certificate",
          rc < 0 ? absl::StrCat(" (", gnutls_strerror(rc), ")") : ""));
    }
  }
  return out;
}

TlsCredentials::~TlsCredentials() {
  gnutls_certificate_free_credentials(credentials_);
}

TlsCredentialWatcher::TlsCredentialWatcher(
    TlsSource source, absl::Duration interval, TlsPem pem,
    std::shared_ptr<const TlsCredentials> credentials)
    : source_(std::move(source)),
      interval_(interval),
      mutual_(credentials->mutual()),
      pem_(std::move(pem)),
      current_(std::move(credentials)) {}

absl::StatusOr<std::unique_ptr<TlsCredentialWatcher>>
TlsCredentialWatcher::Start(TlsSource source, absl::Duration interval) {
  absl::StatusOr<TlsPem> pem = source();
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::shared_ptr<const TlsCredentials>> credentials =
      TlsCredentials::Create(*pem);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<TlsCredentialWatcher> watcher(new TlsCredentialWatcher(
      std::move(source), std::max(interval, absl::Milliseconds(1)),
      *std::move(pem), *std::move(credentials)));
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

TlsCredentialWatcher::~TlsCredentialWatcher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void TlsCredentialWatcher::Run() {
  while (!stop_.WaitForNotificationWithTimeout(interval_)) {
    // Its failures are logged by Check.
    Check().IgnoreError();
  }
}

std::shared_ptr<const TlsCredentials> TlsCredentialWatcher::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

TlsPem TlsCredentialWatcher::CurrentPem() const {
  absl::MutexLock lock(&check_mu_);
  return pem_;
}

absl::Status TlsCredentialWatcher::Check() {
  absl::MutexLock lock(&check_mu_);
  absl::StatusOr<TlsPem> pem = source_();
  absl::Status status = pem.status();
  if (pem.ok() && *pem == pem_) {
    last_failure_.clear();  // back to what is served: a new failure is news
    return absl::OkStatus();
  }
  if (pem.ok() && pem->client_ca.empty() == mutual_) {
    status = absl::InvalidArgumentError(
        mutual_ ? "the client CA bundle (--tls_client_ca_file) is empty"
                : "a client CA bundle cannot turn mutual TLS on without a "
                  "restart");
  } else if (pem.ok()) {
    absl::StatusOr<std::shared_ptr<const TlsCredentials>> credentials =
        TlsCredentials::Create(*pem);
    if (credentials.ok()) {
      {
        absl::MutexLock current_lock(&mu_);
        current_ = *std::move(credentials);
      }
      pem_ = *std::move(pem);
      last_failure_.clear();
      MLP_LOG(INFO) << "HTTP TLS: new connections get the renewed certificate"
                    << (mutual_ ? " and client CA bundle" : "");
      return absl::OkStatus();
    }
    status = credentials.status();
  }
  if (status.message() != last_failure_) {
    last_failure_ = std::string(status.message());
    MLP_LOG(WARNING) << "HTTP TLS: cannot take the renewed certificate: "
                     << status.message()
                     << "; still serving the previous one, checking again "
                        "every "
                     << absl::FormatDuration(interval_);
  }
  return status;
}

}  // namespace mlp::http
