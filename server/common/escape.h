// Text a caller sent, made safe for a log line or an error message: escaped
// so that it cannot start a new line, move a terminal's cursor or carry
// bytes that are not UTF-8, and bounded so that a large name cannot make a
// large log line.
#ifndef MLP_SERVER_COMMON_ESCAPE_H_
#define MLP_SERVER_COMMON_ESCAPE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mlp::common {

// How much of a caller's string Quote keeps.
inline constexpr size_t kMaxQuotedBytes = 128;

// `text` with control characters (C0, DEL, C1, U+2028, U+2029), backslashes,
// single quotes and bytes that are not valid UTF-8 written as escapes
// (\n, \r, \t, \\, \', \xNN for each byte). Valid printable UTF-8 is kept.
std::string EscapeText(absl::string_view text);

// EscapeText without the backslash and quote escapes: for a whole message
// (which quotes names itself, already escaped) on its way to a log line or
// a caller.
std::string EscapeControls(absl::string_view text);

// EscapeControls of at most the first `max_bytes` bytes of `text` (cut at a
// character boundary), followed by "... (N bytes cut)" when it was longer:
// a message bounded for a log line.
std::string EscapeBounded(absl::string_view text, size_t max_bytes);

// 'EscapeText of at most max_bytes of text' (and the cut marker after the
// quote): a caller's name as messages quote it.
std::string Quote(absl::string_view text, size_t max_bytes = kMaxQuotedBytes);

// `text` as a JSON string literal, quotes included, for a line a JSON parser
// reads: '"' and '\' escaped, control characters (C0, DEL, C1) and U+2028 /
// U+2029 as \uXXXX (\n, \r, \t, \b, \f as such), and each byte that is not
// valid UTF-8 (which JSON cannot carry) as the text \xNN, written \\xNN,
// as EscapeText writes it. Valid printable UTF-8 is kept as is.
std::string JsonQuote(absl::string_view text);

// The first `max_bytes` bytes of `text`, not ending inside a UTF-8 sequence.
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_ESCAPE_H_
