// The HTTP port's TLS credentials, renewed while it serves.
//
// TlsCredentials is one parsed, immutable set: the certificate chain, its
// private key and, for mutual TLS, the CA bundle that client certificates
// must chain to, held as GnuTLS certificate credentials. TlsCredentialWatcher
// asks a TlsSource for the PEM texts every reload interval and, when they
// changed and parse, makes the new set current. HttpServer gives every new
// TLS session the set current when its connection is accepted, and the
// session keeps that set (a shared_ptr) until its connection closes: a set is
// freed only when no session can reach it any more.
//
// The HTTP layer knows no file paths: the source (the service layer's reads
// of --tls_cert_file, --tls_key_file and --tls_client_ca_file) does.
#ifndef MLP_SERVER_HTTP_TLS_CREDENTIALS_H_
#define MLP_SERVER_HTTP_TLS_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

// GnuTLS's certificate credentials (gnutls_certificate_credentials_t points
// to one); opaque here so that users of this header need no GnuTLS headers.
struct gnutls_certificate_credentials_st;

namespace mlp::http {

// PEM texts, as read from their files.
struct TlsPem {
  std::string cert_chain;  // the server's certificate first
  std::string key;         // its private key, unencrypted
  std::string client_ca;   // mutual TLS: the CA bundle; empty: no mutual TLS

  bool operator==(const TlsPem& other) const {
    return cert_chain == other.cert_chain && key == other.key &&
           client_ca == other.client_ca;
  }
  bool operator!=(const TlsPem& other) const { return !(*this == other); }
};

// The current PEM texts, or why they cannot be read (the message names the
// file). Called at start and at every check, from one thread at a time.
using TlsSource = std::function<absl::StatusOr<TlsPem>()>;

// Thread-safety: immutable; GnuTLS reads the credentials from any number of
// sessions at once.
class TlsCredentials {
 public:
  // INVALID_ARGUMENT naming what is wrong: the chain is not PEM
  // certificates, the key cannot be read or does not match the chain's
  // first certificate, or a non-empty client CA bundle holds no certificate.
  static absl::StatusOr<std::shared_ptr<const TlsCredentials>> Create(
      const TlsPem& pem);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  // What gnutls_credentials_set takes for GNUTLS_CRD_CERTIFICATE.
  gnutls_certificate_credentials_st* gnutls() const { return credentials_; }
  // Whether client certificates are verified against a CA bundle.
  bool mutual() const { return mutual_; }

 private:
  TlsCredentials(gnutls_certificate_credentials_st* credentials, bool mutual)
      : credentials_(credentials), mutual_(mutual) {}

  gnutls_certificate_credentials_st* const credentials_;
  const bool mutual_;
};

// Keeps the current TlsCredentials, re-reading its source on a thread of its
// own every `interval`. A read that fails, or texts that do not parse, keep
// the previous credentials: the failure is logged as a warning once (again
// only when the failure changes, or after a success) and the next check
// tries again. Texts equal to the current ones are not parsed again.
//
// Mutual TLS is decided at start: a later client CA bundle must be non-empty
// exactly when the first one was.
//
// Thread-safety: Current and Check may be called from any thread; the
// destructor stops the thread.
class TlsCredentialWatcher {
 public:
  // Reads `source` once and parses it: its error, or Create's, is returned
  // (a server does not start with credentials it cannot use). Then checks
  // every `interval` (at least 1 ms).
  static absl::StatusOr<std::unique_ptr<TlsCredentialWatcher>> Start(
      TlsSource source, absl::Duration interval);
  ~TlsCredentialWatcher();
  TlsCredentialWatcher(const TlsCredentialWatcher&) = delete;
  TlsCredentialWatcher& operator=(const TlsCredentialWatcher&) = delete;

  std::shared_ptr<const TlsCredentials> Current() const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The PEM texts the current credentials were made from.
  TlsPem CurrentPem() const ABSL_LOCKS_EXCLUDED(check_mu_);

  // One check now (what the thread does every interval): OK if the current
  // credentials are the source's (renewed or unchanged), else why the
  // source's texts were not taken (the previous credentials stay).
  absl::Status Check() ABSL_LOCKS_EXCLUDED(check_mu_, mu_);

 private:
  TlsCredentialWatcher(TlsSource source, absl::Duration interval, TlsPem pem,
                       std::shared_ptr<const TlsCredentials> credentials);
  void Run();

  // Constant after construction.
  const TlsSource source_;
  const absl::Duration interval_;
  const bool mutual_;

  // Held for a whole check, so that checks do not overlap.
  mutable absl::Mutex check_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  TlsPem pem_ ABSL_GUARDED_BY(check_mu_);
  // The message of the failure last logged; empty after a success.
  std::string last_failure_ ABSL_GUARDED_BY(check_mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const TlsCredentials> current_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace mlp::http

#endif  // MLP_SERVER_HTTP_TLS_CREDENTIALS_H_
