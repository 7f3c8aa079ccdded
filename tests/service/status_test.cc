// ToGrpcStatus: every canonical code maps to the gRPC code of the same name,
// messages pass unchanged up to the cap and are cut, whole characters only,
// past it.
#include "server/service/status.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace mlp::service {
namespace {

TEST(StatusTest, EveryCanonicalCodeKeepsItsCodeAndMessage) {
  struct Row {
    absl::StatusCode absl_code;
    grpc::StatusCode grpc_code;
  };
  const std::vector<Row> table = {
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded,
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied,
       grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted,
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition,
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  ASSERT_EQ(table.size() + 1, 17u);  // with OK below
  for (const Row& row : table) {
    SCOPED_TRACE(absl::StatusCodeToString(row.absl_code));
    const grpc::Status s = ToGrpcStatus(absl::Status(row.absl_code, "why"));
    EXPECT_EQ(s.error_code(), row.grpc_code);
    EXPECT_EQ(s.error_message(), "why");
  }
  const grpc::Status ok = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.error_message(), "");
}

TEST(StatusTest, CodesOutsideTheCanonicalSetAreUnknown) {
  const grpc::Status s =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "odd"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(s.error_message(), "odd");
}

TEST(StatusTest, LongMessagesAreCutAtACharacterBoundary) {
  const std::string exact(kMaxStatusMessageBytes, 'x');
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError(exact)).error_message(),
            exact);
  // "é" is two bytes, starting at odd offsets after the "a": a cut at an even
  // byte count would split one.
  std::string long_message = "a";
  while (long_message.size() < 3 * kMaxStatusMessageBytes) {
    long_message += "\xC3\xA9";
  }
  const std::string cut =
      ToGrpcStatus(absl::InvalidArgumentError(long_message)).error_message();
  EXPECT_LE(cut.size(), kMaxStatusMessageBytes);
  EXPECT_TRUE(absl::EndsWith(cut, " bytes cut)"))
      << cut.substr(cut.size() - 40);
  const size_t kept = cut.find("...");
  ASSERT_NE(kept, std::string::npos);
  EXPECT_EQ(kept % 2, 1u) << "a character was split";
  EXPECT_EQ(cut.substr(0, kept), long_message.substr(0, kept));
  EXPECT_TRUE(absl::StrContains(
      cut, "(" + std::to_string(long_message.size() - kept) + " bytes cut)"));
}

}  // namespace
}  // namespace mlp::service
