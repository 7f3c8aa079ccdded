// ServerOptions: the defaults are a valid server, and every bad option is
// refused with a message naming its flag.
#include "server/service/server_options.h"

#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace mlp::service {
namespace {

using ::testing::HasSubstr;

TEST(ServerOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ServerOptions().Validate().ok());
}

TEST(ServerOptionsTest, EachBadOptionNamesItsFlag) {
  struct Case {
    std::function<void(ServerOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](ServerOptions& o) { o.address = ""; }, "--address"},
      {[](ServerOptions& o) { o.data_dir = ""; }, "--data_dir"},
      {[](ServerOptions& o) { o.mode = "secondary"; },
       "--mode must be primary or replica, got 'secondary'"},
      {[](ServerOptions& o) {
         o.mode = "replica";
         o.repository_poll_seconds = 0;
       },
       "--repository_poll_seconds must be >= 0.01 and <= 3600, got 0"},
      {[](ServerOptions& o) { o.primary_address = "10.0.0.1:50051"; },
       "--primary_address names a replica's primary: it needs "
       "--mode=replica"},
      {[](ServerOptions& o) { o.http_threads = -1; },
       "--http_threads must be 0 (one per core) to 256, got -1"},
      {[](ServerOptions& o) { o.http_max_connections = 0; },
       "--http_max_connections must be >= 1, got 0"},
      {[](ServerOptions& o) { o.http_idle_timeout_seconds = 0; },
       "--http_idle_timeout_seconds must be >= 1, got 0"},
      {[](ServerOptions& o) { o.max_message_bytes = 1023; },
       "--max_message_bytes must be >= 1024, got 1023"},
      {[](ServerOptions& o) { o.max_batch_values = 0; },
       "--max_batch_values must be >= 1, got 0"},
      {[](ServerOptions& o) { o.limits.max_parameters = 0; },
       "--max_parameters must be >= 1, got 0"},
      {[](ServerOptions& o) { o.limits.max_parameters = int64_t{1} << 62; },
       "--max_parameters must be <= 2^40"},
      {[](ServerOptions& o) { o.limits.max_parameters = 17'000'000; },
       "--max_parameters=17000000 needs --max_message_bytes >= 69048576"},
      {[](ServerOptions& o) { o.limits.max_dataset_rows = 0; },
       "--max_dataset_rows must be >= 1, got 0"},
      {[](ServerOptions& o) { o.limits.max_dataset_bytes = 0; },
       "--max_dataset_bytes must be >= 1, got 0"},
      {[](ServerOptions& o) { o.limits.max_concurrent_trainings = 0; },
       "--max_concurrent_trainings must be >= 1, got 0"},
      {[](ServerOptions& o) { o.limits.keep_versions = 0; },
       "--keep_versions must be >= 1, got 0"},
      {[](ServerOptions& o) { o.compute_threads = -1; },
       "--compute_threads must be >= 0"},
      {[](ServerOptions& o) { o.memory_trim_seconds = -1; },
       "--memory_trim_seconds must be >= 0"},
      {[](ServerOptions& o) { o.stalled_stream_seconds = 0; },
       "--stalled_stream_seconds must be > 0"},
      {[](ServerOptions& o) { o.shutdown_grace_seconds = -0.5; },
       "--shutdown_grace_seconds must be >= 0"},
      {[](ServerOptions& o) { o.log_format = "xml\n"; },
       "--log_format must be text or json, got 'xml\\n'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    ServerOptions o;
    c.change(o);
    const absl::Status status = o.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
}

TEST(ServerOptionsTest, LargerModelsFitWithLargerMessages) {
  ServerOptions o;
  o.limits.max_parameters = 17'000'000;
  o.max_message_bytes = 69'048'576;
  EXPECT_TRUE(o.Validate().ok());
}

TEST(ServerOptionsTest, AuthTokenIsReadTrimmedAndNeverEmpty) {
  testing::TempDir dir;
  const std::string good = dir.path() + "/token";
  std::ofstream(good) << "  s3cret\n";
  ::chmod(good.c_str(), 0600);
  EXPECT_EQ(ReadAuthTokenFile(good).value(), "  s3cret\n");
  const std::string blank = dir.path() + "/blank";
  std::ofstream(blank) << " \n\t";
  ::chmod(blank.c_str(), 0600);
  EXPECT_THAT(std::string(ReadAuthTokenFile(blank).status().message()),
              HasSubstr("holds no token"));
  EXPECT_FALSE(ReadAuthTokenFile(dir.path() + "/missing").ok());
}

// Like ssh with a private key: a token others could read is refused, with
// the fix in the message.
TEST(ReadAuthTokenFileTest, RefusesATokenOthersCanRead) {
  testing::TempDir dir;
  const std::string shared = dir.path() + "/token";
  std::ofstream(shared) << "s3cret\n";
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    ::chmod(shared.c_str(), mode);
    const absl::StatusOr<std::string> token = ReadAuthTokenFile(shared);
    EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(token.status().message()), HasSubstr("chmod 600"));
  }
  ::chmod(shared.c_str(), 0400);
  EXPECT_EQ(ReadAuthTokenFile(shared).value(), "s3cret\n");
}

}  // namespace
}  // namespace mlp::service
