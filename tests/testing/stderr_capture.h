// StderrCapture: what the process writes to stderr (log lines) between its
// construction and Text(), in an unlinked temporary file: no size limit, and
// a writer never blocks. Header-only, for tests of any layer.
#ifndef MLP_TESTS_TESTING_STDERR_CAPTURE_H_
#define MLP_TESTS_TESTING_STDERR_CAPTURE_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace mlp::testing {

class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/mlp-stderr-XXXXXX";
    fd_ = mkstemp(path);
    EXPECT_GE(fd_, 0);
    unlink(path);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    Restore();
    close(fd_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Everything written so far; stderr is restored from then on.
  std::string Text() {
    Restore();
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = pread(fd_, buffer, sizeof(buffer),
                      static_cast<off_t>(text.size()))) > 0) {
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  int fd_ = -1;
  int saved_ = -1;
};

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_STDERR_CAPTURE_H_
