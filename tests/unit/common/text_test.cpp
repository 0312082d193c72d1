#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace recorder {
namespace {

using namespace std::string_literals;

TEST(Excerpt, QuotesShortTextAsItIs) {
  EXPECT_EQ(excerpt("10.0.0.0/8"), "\"10.0.0.0/8\"");
  EXPECT_EQ(excerpt(""), "\"\"");
}

TEST(Excerpt, EscapesWhatIsNotPrintableAscii) {
  EXPECT_EQ(excerpt("10.0.0.0\0junk/8"s), "\"10.0.0.0\\x00junk/8\"");
  EXPECT_EQ(excerpt("a\"b\\c\nd\te\xff"), "\"a\\\"b\\\\c\\nd\\te\\xff\"");
}

TEST(Excerpt, CutsLongTextAndSaysItsSize) {
  const std::string big(1 << 20, 'a');
  const std::string quoted = excerpt(big);
  EXPECT_EQ(quoted, "\"" + std::string(kExcerptChars, 'a') + "...\" (1048576 bytes)");
}

TEST(CheckText, AcceptsBoundedUtf8) {
  EXPECT_TRUE(check_text("", "f", 0).ok());
  EXPECT_TRUE(check_text("hubble", "f", 6).ok());
  EXPECT_TRUE(check_text("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa6", "f", 64).ok());
}

TEST(CheckText, RefusesTooLongNamingTheFieldWithAShortExcerpt) {
  const std::string big(1 << 20, 'x');
  auto s = check_text(big, "filesink.file_prefix", 40);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message().find("filesink.file_prefix "), 0u) << s.error().message();
  EXPECT_NE(s.error().message().find("longer than the limit of 40 bytes"), std::string::npos);
  EXPECT_LT(s.error().message().size(), 200u);
}

TEST(CheckText, RefusesNulBytes) {
  auto s = check_text("10.0.0.0\0junk/8"s, "include[0].source_cidr", 64);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("include[0].source_cidr \"10.0.0.0\\x00junk/8\": contains a "
                                     "NUL byte (at offset 8)"),
            std::string::npos)
      << s.error().message();
}

TEST(CheckText, RefusesInvalidUtf8) {
  for (const std::string& bad :
       {"\xff"s, "a\xc3"s, "\xc0\xaf"s /* overlong '/' */, "\xed\xa0\x80"s /* surrogate */,
        "\xf4\x90\x80\x80"s /* > U+10FFFF */, "\xe2\x82"s, "\x80"s}) {
    auto s = check_text(bad, "f", 64);
    ASSERT_FALSE(s.ok()) << excerpt(bad);
    EXPECT_NE(s.error().message().find("not valid UTF-8"), std::string::npos)
        << s.error().message();
  }
}

}  // namespace
}  // namespace recorder
