// MLP_ASAN is defined when this file is compiled with AddressSanitizer
// (GCC's -fsanitize=address or Clang's), for tests whose subject
// instrumentation changes: glibc's malloc, latency bounds.
#ifndef MLP_TESTS_TESTING_SANITIZERS_H_
#define MLP_TESTS_TESTING_SANITIZERS_H_

#if defined(__SANITIZE_ADDRESS__)
#define MLP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MLP_ASAN 1
#endif
#endif

#endif  // MLP_TESTS_TESTING_SANITIZERS_H_
