// EscapeText / Quote: what a caller sends cannot forge a log line, move a
// terminal's cursor, carry invalid UTF-8 or grow a line without bound.
#include "server/common/escape.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::common {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(EscapeTest, PlainNamesAreUnchanged) {
  EXPECT_EQ(EscapeText("fashion-2.v1_a"), "fashion-2.v1_a");
  EXPECT_EQ(Quote("xnor"), "'xnor'");
  // Valid UTF-8 stays readable.
  EXPECT_EQ(EscapeText("caf\xC3\xA9 \xE6\x97\xA5"), "caf\xC3\xA9 \xE6\x97\xA5");
}

TEST(EscapeTest, ALogLineCannotBeForged) {
  const std::string forged =
      "x\nE 2099-01-01T00:00:00Z server.cc:1] forged\r\x1b[2J";
  const std::string escaped = EscapeText(forged);
  EXPECT_THAT(escaped, Not(HasSubstr("\n")));
  EXPECT_THAT(escaped, Not(HasSubstr("\r")));
  EXPECT_THAT(escaped, Not(HasSubstr("\x1b")));
  EXPECT_EQ(escaped,
            "x\\nE 2099-01-01T00:00:00Z server.cc:1] forged\\r\\x1b[2J");
  // Quotes and backslashes cannot close the quote around a name.
  EXPECT_EQ(Quote("a'b\\c"), "'a\\'b\\\\c'");
}

TEST(EscapeTest, WholeMessagesKeepTheirQuotes) {
  EXPECT_EQ(EscapeControls("model 'a\\b' not found\n"),
            "model 'a\\b' not found\\n");
}

TEST(EscapeTest, InvalidUtf8AndHiddenControlsAreEscapedByteByByte) {
  EXPECT_EQ(EscapeText("\xFF\xC3"), "\\xff\\xc3");           // bad, truncated
  EXPECT_EQ(EscapeText("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeText("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(EscapeText("\xC2\x85"), "\\xc2\\x85");           // C1 NEL
  EXPECT_EQ(EscapeText("\xE2\x80\xA8"), "\\xe2\\x80\\xa8");  // U+2028
  EXPECT_EQ(EscapeText(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeText("\x7F"), "\\x7f");
}

// JSON log lines: everything a JSON parser refuses or a terminal acts on is
// escaped; invalid UTF-8 becomes the text \xNN, as EscapeText writes it.
TEST(EscapeTest, JsonQuoteMakesAValidJsonString) {
  EXPECT_EQ(JsonQuote("loaded 3 models"), "\"loaded 3 models\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("1\n2\r3\t4\b5\f6"), "\"1\\n2\\r3\\t4\\b5\\f6\"");
  EXPECT_EQ(JsonQuote(std::string("\x00\x1b\x7f", 3)),
            "\"\\u0000\\u001b\\u007f\"");
  EXPECT_EQ(JsonQuote("\xC2\x85|\xE2\x80\xA8|\xE2\x80\xA9"),
            "\"\\u0085|\\u2028|\\u2029\"");
  EXPECT_EQ(JsonQuote("caf\xC3\xA9 \xE6\x97\xA5"),
            "\"caf\xC3\xA9 \xE6\x97\xA5\"");
  EXPECT_EQ(JsonQuote("bad \xff\xC3 end"), "\"bad \\\\xff\\\\xc3 end\"");
}

TEST(EscapeTest, LongTextIsCutAtACharacterAndSaysHowMuch) {
  const std::string big(1 << 20, 'n');
  const std::string quoted = Quote(big);
  EXPECT_LT(quoted.size(), kMaxQuotedBytes + 40);
  EXPECT_THAT(quoted, HasSubstr("... (1048448 bytes cut)"));
  // A cut never splits a character: 127 ASCII bytes, then a 2-byte one.
  const std::string accents = std::string(127, 'a') + "\xC3\xA9" + "tail";
  EXPECT_EQ(EscapeBounded(accents, 128),
            std::string(127, 'a') + "... (6 bytes cut)");
  EXPECT_EQ(Utf8Prefix(accents, 129), std::string(127, 'a') + "\xC3\xA9");
}

}  // namespace
}  // namespace mlp::common
