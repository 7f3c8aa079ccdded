// gMock matchers for absl::Status and absl::StatusOr<T>:
//
//   EXPECT_THAT(registry.DeleteModel("m"), IsOk());
//   EXPECT_THAT(OptionsFromProto(options),
//               StatusIs(absl::StatusCode::kInvalidArgument,
//                        HasSubstr("options.batch_size")));
//
// A failure prints the whole status, so the message says what went wrong.
#ifndef MLP_TESTS_TESTING_STATUS_MATCHERS_H_
#define MLP_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"

namespace mlp::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace internal

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = internal::GetStatus(arg);
  if (!status.ok()) *result_listener << "whose status is " << status;
  return status.ok();
}

// The status has `code` (and, with a second argument, a message matching
// `message_matcher`, e.g. HasSubstr("...")).
MATCHER_P(StatusIs, code,
          absl::StrCat(negation ? "has no" : "has", " code ",
                       absl::StatusCodeToString(code))) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           absl::StrCat(negation ? "has not" : "has", " code ",
                        absl::StatusCodeToString(code), " and a message that ",
                        ::testing::DescribeMatcher<std::string>(message_matcher,
                                                                negation))) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_STATUS_MATCHERS_H_
