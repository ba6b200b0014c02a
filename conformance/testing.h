// Helpers shared by the conformance suites: a fixture that gives each test its own IOLoop, and
// small fd utilities.

#ifndef GUST_CONFORMANCE_TESTING_H_
#define GUST_CONFORMANCE_TESTING_H_

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "iostream/io_loop.h"

namespace gust {
namespace testing {

// Each test gets a fresh loop, current on the test's thread, destroyed after the test.
class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<IOLoop>> loop = IOLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
    loop_->MakeCurrent();
  }

  IOLoop& loop() { return *loop_; }

  // Runs the loop until `done()` is true, or fails the test after `timeout`.
  template <typename Predicate>
  void RunUntil(Predicate done, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!done()) {
      ASSERT_LT(absl::Now(), deadline) << "condition not reached in time";
      loop_->CallLater(absl::Milliseconds(1), [this] { loop_->Stop(); });
      ASSERT_TRUE(loop_->Start().ok());
    }
  }

  // Runs the loop until `future` is done (giving DeadlineExceededError after `timeout`) and
  // returns its result.
  template <typename T>
  FutureResult<T> Await(Future<T> future, absl::Duration timeout = absl::Seconds(30)) {
    return loop_->RunSync([&] { return future; }, timeout);
  }

  // Runs the loop for `duration`.
  void RunFor(absl::Duration duration) {
    loop_->CallLater(duration, [this] { loop_->Stop(); });
    ASSERT_TRUE(loop_->Start().ok());
  }

  std::unique_ptr<IOLoop> loop_;
};

// A future the current loop resolves with `value` after `delay`.
inline Future<int> ResolvedLater(int value, absl::Duration delay) {
  Promise<int> promise;
  Future<int> future = promise.future();
  IOLoop::Current().CallLater(
      delay, [promise = std::move(promise), value]() mutable { promise.SetResult(value); });
  return future;
}

// A connected AF_UNIX stream socketpair, both ends non-blocking; closed on destruction.
struct SocketPair {
  SocketPair();
  ~SocketPair();
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  int fds[2] = {-1, -1};
};

// Raises the soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit); returns the limit
// now in force.
long RaiseFdLimit(long wanted);

}  // namespace testing
}  // namespace gust

#endif  // GUST_CONFORMANCE_TESTING_H_
