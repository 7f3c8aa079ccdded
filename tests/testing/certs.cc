#include "tests/testing/certs.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace mlp::testing {
namespace {

absl::Status Run(const std::string& dir, const std::string& command) {
  const std::string line =
      absl::StrCat("cd '", dir, "' && ", command, " >openssl.log 2>&1");
  if (std::system(line.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(
        "'", command, "' failed: ", ReadPem(dir + "/openssl.log")));
  }
  return absl::OkStatus();
}

// An EC key and a certificate for `subject` signed by the CA `ca`, with the
// extensions in `ext` (a file's text).
absl::Status Issue(const std::string& dir, const std::string& name,
                   const std::string& ca, const std::string& ext) {
  { std::ofstream(dir + "/" + name + ".ext") << ext; }
  if (absl::Status s = Run(
          dir, absl::StrCat("openssl req -new -newkey ec -pkeyopt "
                            "ec_paramgen_curve:prime256v1 -nodes -keyout ",
                            name, ".key -out ", name, ".csr -subj /CN=", name));
      !s.ok()) {
    return s;
  }
  return Run(dir, absl::StrCat("openssl x509 -req -in ", name, ".csr -CA ", ca,
                               ".pem -CAkey ", ca, ".key -set_serial ",
                               std::rand() % 1000000 + 1, " -days 2 -out ",
                               name, ".pem -extfile ", name, ".ext"));
}

}  // namespace

std::string ReadPem(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir,
                                    const std::string& prefix) {
  std::filesystem::create_directories(dir);
  const std::string ca = prefix + "ca";
  if (absl::Status s =
          Run(dir, absl::StrCat("openssl req -x509 -newkey ec -pkeyopt "
                                "ec_paramgen_curve:prime256v1 -nodes -keyout ",
                                ca, ".key -out ", ca,
                                ".pem -days 2 -subj /CN=", ca));
      !s.ok()) {
    return s;
  }
  const std::string server = prefix + "server";
  const std::string client = prefix + "client";
  if (absl::Status s = Issue(dir, server, ca,
                             "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                             "extendedKeyUsage=serverAuth\n");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(dir, client, ca, "extendedKeyUsage=clientAuth\n");
      !s.ok()) {
    return s;
  }
  TestPki pki;
  pki.ca_cert = dir + "/" + ca + ".pem";
  pki.server_cert = dir + "/" + server + ".pem";
  pki.server_key = dir + "/" + server + ".key";
  pki.client_cert = dir + "/" + client + ".pem";
  pki.client_key = dir + "/" + client + ".key";
  return pki;
}

}  // namespace mlp::testing
