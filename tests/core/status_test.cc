#include "core/status.h"

#include <gtest/gtest.h>

namespace passage {
namespace {

Result<int> ParseAge(int v) {
  if (v < 0) {
    return Status::InvalidArgument("profile.age_years", "must not be negative");
  }
  return v;
}

Status UseAge(int v, int* out) {
  ASSIGN_OR_RETURN(*out, ParseAge(v));
  return Status::Ok();
}

TEST(Status, ToStringNamesCodeFieldAndReason) {
  Status s = Status::InvalidArgument("profile.age_years", "must not be negative");
  EXPECT_EQ(s.ToString(), "invalid argument: profile.age_years: must not be negative");
  EXPECT_EQ(Status::Ok().ToString(), "ok");
}

TEST(Status, AssignOrReturnPropagatesTheError) {
  int out = 7;
  Status s = UseAge(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "profile.age_years");
  EXPECT_EQ(out, 7);
  EXPECT_TRUE(UseAge(30, &out).ok());
  EXPECT_EQ(out, 30);
}

}  // namespace
}  // namespace passage
