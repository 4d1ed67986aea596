#pragma once

// Test helpers: ASSERT_OK / EXPECT_OK print the whole Status on failure.

#include <gtest/gtest.h>

#include "core/status.h"

namespace passage::testing {

inline ::testing::AssertionResult IsOk(const Status& s) {
  if (s.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << s.ToString();
}

template <typename T>
::testing::AssertionResult IsOk(const Result<T>& r) {
  return IsOk(r.status());
}

}  // namespace passage::testing

#define ASSERT_OK(expr) ASSERT_TRUE(::passage::testing::IsOk((expr)))
#define EXPECT_OK(expr) EXPECT_TRUE(::passage::testing::IsOk((expr)))
