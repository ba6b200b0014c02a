// Every per-backend conformance target runs this: the loop must be on the backend that the
// target's name (and its GUST_EXPECTED_BACKEND) says, or every other result means nothing.

#include <cstdlib>
#include <memory>

#include "gtest/gtest.h"
#include "iostream/io_loop.h"

namespace gust {
namespace {

TEST(Backend, IsTheOneTheTargetNames) {
  const char* expected = std::getenv("GUST_EXPECTED_BACKEND");
  ASSERT_NE(expected, nullptr) << "run through a gust_conformance_test target";
  absl::StatusOr<std::unique_ptr<IOLoop>> loop = IOLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  EXPECT_EQ((*loop)->backend_name(), expected);
}

}  // namespace
}  // namespace gust
