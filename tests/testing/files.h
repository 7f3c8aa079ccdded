// Test helpers for looking at and damaging files under a data directory.
#ifndef MLP_TESTS_TESTING_FILES_H_
#define MLP_TESTS_TESTING_FILES_H_

#include <cstddef>
#include <string>
#include <vector>

namespace mlp::testing {

// The names of the entries directly in `dir`, sorted; empty if `dir` does
// not exist.
std::vector<std::string> Names(const std::string& dir);

// XORs `count` bytes of `path` from `offset` with `mask` in place (a torn
// or corrupted file). A file that cannot be opened is a test failure.
void FlipBytes(const std::string& path, size_t offset, size_t count,
               unsigned char mask);
inline void FlipByte(const std::string& path, size_t offset,
                     unsigned char mask) {
  FlipBytes(path, offset, 1, mask);
}

// The whole file; empty if it cannot be read.
std::string ReadWholeFile(const std::string& path);

// Writes `contents` to `path` as is, with no temporary file or fsync.
void WritePlain(const std::string& path, const std::string& contents);

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_FILES_H_
