// Test helpers: temporary directories and a real mlp-server process.
//
// ServerProcess runs the built mlp-server binary on 127.0.0.1 with a port
// chosen by the kernel (--address=127.0.0.1:0 --port_file=...), so tests can
// SIGKILL it, restart it on the same data directory and talk to it over a
// real channel.
#ifndef MLP_TESTS_TESTING_SERVER_PROCESS_H_
#define MLP_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mlp::testing {

// A fresh empty directory under $TMPDIR (or /tmp); removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Path of the mlp-server binary under test.
std::string ServerBinary();

class ServerProcess {
 public:
  // Starts mlp-server on `data_dir` and waits (up to 20 s) until it serves.
  // If it ends before that: INTERNAL, with "exited with code N" or "was
  // killed by signal N" and the end of its log (stderr) in the message.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& data_dir, const std::vector<std::string>& flags = {});
  // SIGKILLs the process if it still runs.
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;
  pid_t pid() const { return pid_; }
  // Where the server's stderr goes.
  const std::string& log_path() const { return log_path_; }

  void Signal(int signal_number);
  // Waits for exit; returns the wait status (see WIFEXITED), or -1 if it did
  // not exit within `timeout_seconds`.
  int Wait(double timeout_seconds);

 private:
  ServerProcess(pid_t pid, int port, std::string log_path)
      : pid_(pid), port_(port), log_path_(std::move(log_path)) {}

  pid_t pid_;
  int port_;
  std::string log_path_;
  bool reaped_ = false;
};

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_SERVER_PROCESS_H_
