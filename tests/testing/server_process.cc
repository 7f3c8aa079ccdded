#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mlp::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/mlp-test-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string ServerBinary() { return MLP_SERVER_BINARY; }

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& data_dir, const std::vector<std::string>& flags) {
  const std::string port_file = absl::StrCat(data_dir, ".port");
  const std::string log_path = absl::StrCat(data_dir, ".log");
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {ServerBinary(), "--address=127.0.0.1:0",
                                   absl::StrCat("--data_dir=", data_dir),
                                   absl::StrCat("--port_file=", port_file),
                                   // No HTTP unless `flags` asks for it: the
                                   // default port would be shared by tests.
                                   "--http_address="};
  args.insert(args.end(), flags.begin(), flags.end());
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int log =
        ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) ::dup2(log, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    std::ifstream in(port_file);
    std::string text;
    int port = 0;
    if (std::getline(in, text) &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) && port > 0) {
      return std::unique_ptr<ServerProcess>(
          new ServerProcess(pid, port, log_path));
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      // How it ended and what it said, so a test can tell a refusal (exit
      // code and message) from a crash (a signal).
      std::ifstream log(log_path);
      std::string said((std::istreambuf_iterator<char>(log)),
                       std::istreambuf_iterator<char>());
      if (said.size() > 4000) said = said.substr(said.size() - 4000);
      const std::string how =
          WIFEXITED(status)
              ? absl::StrCat("exited with code ", WEXITSTATUS(status))
              : absl::StrCat("was killed by signal ", WTERMSIG(status));
      return absl::InternalError(absl::StrCat(
          "mlp-server ", how, " during start-up; log ", log_path, ":\n", said));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return absl::DeadlineExceededError("mlp-server did not start in 20 s");
}

ServerProcess::~ServerProcess() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void ServerProcess::Signal(int signal_number) { ::kill(pid_, signal_number); }

int ServerProcess::Wait(double timeout_seconds) {
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return status;
    }
    if (absl::Now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace mlp::testing
