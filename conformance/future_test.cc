// Future, Promise and Task on every backend: callbacks are never inline, awaiting a done future
// is, tasks run to completion without their handle, unobserved failures are logged.

#include "iostream/future.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/io_loop.h"
#include "iostream/task.h"
#include "iostream/with_timeout.h"

namespace gust {
namespace {

using ::gust::testing::LoopTest;
using ::gust::testing::ResolvedLater;

class FutureTest : public LoopTest {};


TEST_F(FutureTest, DoneCallbackRunsInALaterIterationNotInsideSetResult) {
  Promise<int> promise;
  Future<int> future = promise.future();
  std::vector<std::string> log;
  future.AddDoneCallback([&](const absl::StatusOr<int>& result) {
    ASSERT_TRUE(result.ok());
    log.push_back("callback " + std::to_string(*result));
    loop().Stop();
  });
  loop().AddCallback([&] {
    promise.SetResult(5);
    log.push_back("after SetResult");
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"after SetResult", "callback 5"}));
  EXPECT_TRUE(future.done());
  ASSERT_TRUE(future.result().ok());
  EXPECT_EQ(*future.result(), 5);
}

TEST_F(FutureTest, CallbackAddedToADoneFutureStillWaitsForTheLoop) {
  Future<void> future = MakeReadyFuture<void>(absl::CancelledError("no"));
  bool ran = false;
  future.AddDoneCallback([&](const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
    ran = true;
    loop().Stop();
  });
  EXPECT_FALSE(ran);
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_TRUE(ran);
}

TEST_F(FutureTest, CallbacksRunInTheOrderTheyWereAdded) {
  Promise<void> promise;
  Future<void> future = promise.future();
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    future.AddDoneCallback([&order, i](const absl::Status&) { order.push_back(i); });
  }
  future.AddDoneCallback([&](const absl::Status&) { loop().Stop(); });
  promise.SetResult(absl::OkStatus());
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(FutureTest, ResolvedFromAnotherThreadRunsCallbacksOnTheLoopThread) {
  Promise<std::string> promise;
  Future<std::string> future = promise.future();
  std::thread::id callback_thread;
  future.AddDoneCallback([&](const absl::StatusOr<std::string>& result) {
    EXPECT_EQ(*result, "from afar");
    callback_thread = std::this_thread::get_id();
    loop().Stop();
  });
  std::thread other([&] { promise.SetResult(std::string("from afar")); });
  ASSERT_TRUE(loop().Start().ok());
  other.join();
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
}

TEST_F(FutureTest, ResolvingAfterTheLoopIsGoneDropsTheCallbacks) {
  Promise<int> promise;
  bool ran = false;
  promise.future().AddDoneCallback([&](const absl::StatusOr<int>&) { ran = true; });
  loop_.reset();
  promise.SetResult(1);  // must neither crash nor run the callback
  EXPECT_FALSE(ran);
}

TEST_F(FutureTest, ResultBeforeDoneIsAnErrorNotACrashInOptimizedBuilds) {
  Promise<int> promise;
  Future<int> future = promise.future();
  EXPECT_FALSE(future.done());
#ifdef NDEBUG
  EXPECT_EQ(future.result().status().code(), absl::StatusCode::kFailedPrecondition);
#else
  EXPECT_DEATH(future.result(), "before the future is done");
#endif
  promise.SetResult(1);
}

TEST_F(FutureTest, ResolvingTwiceIsCaughtInDebugBuilds) {
  Promise<int> promise;
  Future<int> future = promise.future();
  promise.SetResult(1);
  EXPECT_DEBUG_DEATH(promise.SetResult(2), "resolved twice");
  EXPECT_EQ(*future.result(), 1);
}

// --- Task ---

Task<int> AddOneLater(Future<int> input) {
  absl::StatusOr<int> value = co_await std::move(input);
  if (!value.ok()) co_return value.status();
  co_return *value + 1;
}

TEST_F(FutureTest, TaskAwaitsAPendingFutureAndResolvesItsOwn) {
  Promise<int> promise;
  Task<int> task = AddOneLater(promise.future());
  EXPECT_FALSE(task.done());
  loop().CallLater(absl::Milliseconds(5), [&] { promise.SetResult(41); });
  absl::StatusOr<int> result = loop().RunSync([&] { return task.future(); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 42);
}

// A result that cannot be copied (the streams TCPClient and StartTls give out) moves out of
// the future: to the first awaiter or TakeResult(); a second take on a copy of the same future
// is a FailedPreconditionError, never a copy or a moved-from pointer.
TEST_F(FutureTest, MoveOnlyResultsAreTakenOnce) {
  Promise<std::unique_ptr<int>> promise;
  Future<std::unique_ptr<int>> future = promise.future();
  Future<std::unique_ptr<int>> copy = future;
  auto take = [](Future<std::unique_ptr<int>> f) -> Task<int> {
    absl::StatusOr<std::unique_ptr<int>> value = co_await f;
    if (!value.ok()) co_return value.status();
    co_return **value;
  };
  Future<int> first = take(future).future();
  promise.SetResult(std::make_unique<int>(7));
  absl::StatusOr<int> taken = Await(first);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, 7);
  absl::StatusOr<std::unique_ptr<int>> again = copy.TakeResult();
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();

  absl::StatusOr<std::unique_ptr<int>> ready =
      Await(MakeReadyFuture<std::unique_ptr<int>>(std::make_unique<int>(8)));
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(**ready, 8);
}

TEST_F(FutureTest, TaskPassesErrorsThrough) {
  Task<int> task = AddOneLater(MakeReadyFuture<int>(absl::NotFoundError("missing")));
  ASSERT_TRUE(task.done());
  EXPECT_EQ(task.future().result().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FutureTest, AwaitingADoneFutureContinuesWithoutALoopIteration) {
  // The task starts inline (like a Tornado coroutine) and never suspends, so it has finished
  // before the callback queued ahead of it gets a chance to run.
  bool queued_callback_ran = false;
  loop().AddCallback([&] { queued_callback_ran = true; });
  bool queued_ran_before_await_returned = true;
  auto body = [&]() -> Task<void> {
    absl::StatusOr<int> value = co_await MakeReadyFuture<int>(3);
    EXPECT_EQ(*value, 3);
    queued_ran_before_await_returned = queued_callback_ran;
    co_return absl::OkStatus();
  };
  Task<void> task = body();
  EXPECT_TRUE(task.done());
  EXPECT_FALSE(queued_ran_before_await_returned);
}

TEST_F(FutureTest, AwaitingAPendingFutureResumesFromTheLoop) {
  Promise<int> promise;
  std::vector<std::string> log;
  auto body = [&]() -> Task<void> {
    log.push_back("before await");
    absl::StatusOr<int> value = co_await promise.future();
    log.push_back("resumed with " + std::to_string(*value));
    co_return absl::OkStatus();
  };
  Task<void> task = body();
  EXPECT_EQ(log, (std::vector<std::string>{"before await"}));
  loop().AddCallback([&] {
    promise.SetResult(9);
    log.push_back("after SetResult");
  });
  ASSERT_TRUE(loop().RunSync([&] { return task.future(); }).ok());
  EXPECT_EQ(log,
            (std::vector<std::string>{"before await", "after SetResult", "resumed with 9"}));
}

TEST_F(FutureTest, TaskRunsToCompletionAfterItsHandleIsDropped) {
  Promise<int> promise;
  bool finished = false;
  auto body = [&]() -> Task<void> {
    co_await promise.future();
    finished = true;
    co_return absl::OkStatus();
  };
  body();  // handle dropped at once
  loop().AddCallback([&] { promise.SetResult(0); });
  RunUntil([&] { return finished; });
  EXPECT_TRUE(finished);
}

TEST_F(FutureTest, ATaskFailureNobodyObservesIsLogged) {
  ::testing::internal::CaptureStderr();
  {
    auto body = []() -> Task<void> { co_return absl::DataLossError("the sky fell"); };
    body();
  }
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logged.find("the sky fell"), std::string::npos) << logged;
}

TEST_F(FutureTest, AnObservedTaskFailureIsNotLogged) {
  ::testing::internal::CaptureStderr();
  {
    auto body = []() -> Task<void> { co_return absl::DataLossError("handled"); };
    Task<void> task = body();
    EXPECT_EQ(task.future().result().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(FutureTest, AwaitingATemporaryFutureMovesLargeValuesOut) {
  // A 1 MiB payload that is moved, not copied, keeps its buffer: compare data pointers.
  Promise<std::string> promise;
  std::string payload(1 << 20, 'x');
  const char* original = payload.data();
  const char* received = nullptr;
  auto body = [&]() -> Task<void> {
    absl::StatusOr<std::string> value = co_await promise.future();
    received = value->data();
    co_return absl::OkStatus();
  };
  Task<void> task = body();
  loop().AddCallback([&] { promise.SetResult(std::move(payload)); });
  ASSERT_TRUE(loop().RunSync([&] { return task.future(); }).ok());
  EXPECT_EQ(received, original);
}

// Sets a flag when destroyed: stands for what a suspended frame holds (a stream, an fd).
struct Guard {
  explicit Guard(bool* destroyed) : destroyed(destroyed) {}
  ~Guard() { *destroyed = true; }
  bool* destroyed;
};

TEST(TaskOwnershipTest, DestroyingTheLoopDestroysSuspendedTasks) {
  bool destroyed = false;
  bool resumed = false;
  std::optional<Promise<int>> never;  // outlives the loop, resolved by nobody
  Future<void> task_future;
  {
    std::unique_ptr<IOLoop> loop = *IOLoop::Create();
    loop->MakeCurrent();
    never.emplace();
    task_future = [](Future<int> future, bool* destroyed, bool* resumed) -> Task<void> {
      Guard guard(destroyed);
      absl::StatusOr<int> value = co_await future;
      *resumed = true;
      co_return value.status();
    }(never->future(), &destroyed, &resumed);
    EXPECT_FALSE(destroyed);
  }
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(task_future.done());
  EXPECT_TRUE(absl::IsCancelled(task_future.result())) << task_future.result();
  never.reset();  // its loop is gone: the broken promise resumes nothing
  EXPECT_FALSE(resumed);
}

TEST(TaskOwnershipTest, ATaskAwaitingATaskIsDestroyedWithItsLoop) {
  int destroyed_frames = 0;
  {
    std::unique_ptr<IOLoop> loop = *IOLoop::Create();
    loop->MakeCurrent();
    Promise<void> never;
    auto inner = [](Future<void> future, int* count) -> Task<void> {
      struct Count {
        int* count;
        ~Count() { ++*count; }
      } counted{count};
      co_return co_await future;
    };
    auto outer = [&](int* count) -> Task<void> {
      struct Count {
        int* count;
        ~Count() { ++*count; }
      } counted{count};
      co_return co_await inner(never.future(), count);
    };
    outer(&destroyed_frames);
    EXPECT_EQ(destroyed_frames, 0);
    // `never` is destroyed first here: its broken promise resumes nobody until the loop runs,
    // and the loop is destroyed before it runs again.
  }
  EXPECT_EQ(destroyed_frames, 2);
}

// A thread without a loop that makes futures or tasks gets one of its own (IOLoop::Current());
// their callbacks wait for that loop to run, and the thread's exit destroys the loop and every
// task still suspended on it.
TEST(ThreadWithoutALoopTest, GetsItsOwnLoopWhichOwnsItsTasks) {
  IOLoop* main_loop = &IOLoop::Current();
  bool destroyed = false;
  bool callback_ran_early = true;
  absl::StatusOr<int> result;
  std::optional<Promise<int>> never;
  std::thread worker([&] {
    EXPECT_NE(&IOLoop::Current(), main_loop);
    Promise<int> promise;
    Future<int> future = promise.future();
    bool ran = false;
    future.AddDoneCallback([&](const absl::StatusOr<int>&) { ran = true; });
    promise.SetResult(3);
    callback_ran_early = ran;  // nothing runs until the thread's loop does
    result = IOLoop::Current().RunSync([&] { return future; }, absl::Seconds(5));
    never.emplace();
    [](Future<int> future, bool* destroyed) -> Task<void> {
      Guard guard(destroyed);
      co_return (co_await future).status();
    }(never->future(), &destroyed);
  });
  worker.join();
  EXPECT_FALSE(callback_ran_early);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 3);
  EXPECT_TRUE(destroyed);  // the thread's loop went with the thread, and the task with it
  never.reset();
}

TEST_F(FutureTest, ABrokenPromiseFailsItsFuture) {
  Future<std::string> future;
  {
    Promise<std::string> promise;
    future = promise.future();
  }
  auto body = [](Future<std::string> future) -> Task<void> {
    absl::StatusOr<std::string> value = co_await future;
    co_return value.status();
  };
  absl::Status status = loop().RunSync([&] { return body(future); }, absl::Seconds(5));
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_NE(std::string(status.message()).find("broken promise"), std::string::npos) << status;
}

TEST_F(FutureTest, APromiseDroppedOnAnotherThreadFailsItsFutureOnTheLoop) {
  Promise<int> promise;
  Future<int> future = promise.future();
  std::thread other([promise = std::move(promise)] {});
  other.join();
  absl::StatusOr<int> result = loop().RunSync([&] { return future; }, absl::Seconds(5));
  EXPECT_TRUE(absl::IsCancelled(result.status())) << result.status();
}

TEST_F(FutureTest, RunSyncInsideTheRunningLoopIsAnError) {
  absl::Status nested;
  absl::Status started;
  ASSERT_TRUE(loop().RunSync([&] {
    nested = loop().RunSync([] { return absl::OkStatus(); });
    started = loop().Start();
  }).ok());
  EXPECT_EQ(nested.code(), absl::StatusCode::kFailedPrecondition) << nested;
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition) << started;
  // The loop is still usable afterwards, and nothing stray stops it.
  EXPECT_EQ(*loop().RunSync([] { return absl::StatusOr<int>(7); }), 7);
  Promise<void> later;
  Future<void> future = later.future();
  loop().CallLater(absl::Milliseconds(20), [&] { later.SetResult(absl::OkStatus()); });
  EXPECT_TRUE(loop().RunSync([&] { return future; }, absl::Seconds(5)).ok());
}

TEST_F(FutureTest, WithTimeoutGivesTheResultInTime) {
  Future<int> late = WithTimeout(ResolvedLater(1, absl::Milliseconds(5)), absl::Seconds(5));
  absl::StatusOr<int> result = loop().RunSync([&] { return late; }, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 1);
}

TEST_F(FutureTest, WithTimeoutFailsWhenTooLateAndTheOperationGoesOn) {
  Future<int> slow = ResolvedLater(2, absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  absl::StatusOr<int> result = loop().RunSync(
      [&] { return WithTimeout(slow, absl::Milliseconds(20)); }, absl::Seconds(10));
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(190));
  // Only the waiting stopped: the operation still completes.
  absl::StatusOr<int> original = loop().RunSync([&] { return slow; }, absl::Seconds(10));
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(*original, 2);
}

}  // namespace
}  // namespace gust
