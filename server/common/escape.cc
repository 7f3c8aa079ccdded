#include "server/common/escape.h"

#include "absl/strings/str_cat.h"

namespace mlp::common {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if the first
// byte does not start one (stray continuation, overlong form, surrogate,
// past U+10FFFF, truncated).
size_t ValidSequence(absl::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (!IsContinuation(b(i))) return 0;
  }
  return n;
}

void AppendHex(unsigned char c, std::string* out) {
  constexpr char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 0xF]);
}

std::string Escape(absl::string_view text, bool quoting) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text[0]);
    const size_t n = ValidSequence(text);
    if (n == 0) {
      AppendHex(c, &out);
      text.remove_prefix(1);
      continue;
    }
    const absl::string_view seq = text.substr(0, n);
    text.remove_prefix(n);
    if (n == 1) {
      switch (c) {
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\\':
          out.append(quoting ? "\\\\" : "\\");
          break;
        case '\'':
          out.append(quoting ? "\\'" : "'");
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            AppendHex(c, &out);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      continue;
    }
    // C1 controls (U+0080..U+009F) and the line / paragraph separators.
    const bool c1 = c == 0xC2 && static_cast<unsigned char>(seq[1]) < 0xA0;
    const bool separator = seq == "\xE2\x80\xA8" || seq == "\xE2\x80\xA9";
    if (c1 || separator) {
      for (char byte : seq) AppendHex(static_cast<unsigned char>(byte), &out);
    } else {
      out.append(seq.data(), seq.size());
    }
  }
  return out;
}

}  // namespace

std::string EscapeText(absl::string_view text) { return Escape(text, true); }

std::string JsonQuote(absl::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  const auto append_u = [&out](unsigned code) {
    out.append("\\u");
    for (int shift = 12; shift >= 0; shift -= 4) {
      out.push_back(kHex[(code >> shift) & 0xF]);
    }
  };
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text[0]);
    const size_t n = ValidSequence(text);
    if (n == 0) {
      out.append("\\\\x");  // the text \xNN
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
      text.remove_prefix(1);
      continue;
    }
    const absl::string_view seq = text.substr(0, n);
    text.remove_prefix(n);
    if (n == 1) {
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            append_u(c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      continue;
    }
    const auto second = static_cast<unsigned char>(seq[1]);
    if (c == 0xC2 && second < 0xA0) {
      append_u(second);  // C1 control U+0080..U+009F
    } else if (seq == "\xE2\x80\xA8" || seq == "\xE2\x80\xA9") {
      append_u(seq[2] == '\xA8' ? 0x2028 : 0x2029);
    } else {
      out.append(seq.data(), seq.size());
    }
  }
  out.push_back('"');
  return out;
}

std::string EscapeControls(absl::string_view text) {
  return Escape(text, false);
}

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to a character's start.
  while (end > 0 && IsContinuation(static_cast<unsigned char>(text[end]))) {
    --end;
  }
  return text.substr(0, end);
}

std::string EscapeBounded(absl::string_view text, size_t max_bytes) {
  const absl::string_view kept = Utf8Prefix(text, max_bytes);
  std::string out = EscapeControls(kept);
  if (kept.size() < text.size()) {
    absl::StrAppend(&out, "... (", text.size() - kept.size(), " bytes cut)");
  }
  return out;
}

std::string Quote(absl::string_view text, size_t max_bytes) {
  const absl::string_view kept = Utf8Prefix(text, max_bytes);
  std::string out = absl::StrCat("'", EscapeText(kept), "'");
  if (kept.size() < text.size()) {
    absl::StrAppend(&out, "... (", text.size() - kept.size(), " bytes cut)");
  }
  return out;
}

}  // namespace mlp::common
