#include "common/result.h"

#include <gtest/gtest.h>

namespace recorder {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return Error(ErrorCode::kInvalidArgument, "odd value " + std::to_string(v));
  return v / 2;
}

TEST(Result, CarriesValueOrError) {
  auto good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "odd value 3");
}

TEST(Error, FromErrnoAcceptsEitherSignAndWraps) {
  Error e = Error::from_errno("open /nope", -ENOENT).wrap("start recording 7");
  EXPECT_EQ(e.message(), "start recording 7: open /nope: No such file or directory");
  EXPECT_EQ(e.sys_errno(), ENOENT);
  EXPECT_EQ(Error::from_errno("write", ENOSPC).sys_errno(), ENOSPC);
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = Error(ErrorCode::kNotFound, "recording 9");
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(to_string(f.error().code()), "not found");
}

}  // namespace
}  // namespace recorder
