// IOLoop behavior on every backend: callbacks, timers, fd handlers, cross-thread wake-up, Stop,
// RunSync. Tornado's tornado/test/ioloop_test.py is the model for most cases.

#include "iostream/io_loop.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "conformance/testing.h"
#include "iostream/signal_watcher.h"
#include "gtest/gtest.h"

namespace gust {
namespace {

using ::gust::testing::LoopTest;
using ::gust::testing::ResolvedLater;
using ::gust::testing::SocketPair;

class IOLoopTest : public LoopTest {};


TEST_F(IOLoopTest, CallbacksRunInOrderAndLaterOnesWaitForTheNextIteration) {
  std::vector<std::string> log;
  loop().AddCallback([&] {
    log.push_back("a");
    loop().AddCallback([&] { log.push_back("added-by-a"); });
  });
  loop().AddCallback([&] {
    // If "added-by-a" had run inline in this batch it would already be in the log.
    const bool saw_a_only = log.size() == 1;
    log.push_back("b");
    log.push_back(saw_a_only ? "b-saw-a-only" : "b-saw-more");
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "b-saw-a-only"}));
  // Stop ends the run after the batch; what was queued meanwhile runs on the next start.
  loop().AddCallback([&] { loop().Stop(); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(log.back(), "added-by-a");
}

TEST_F(IOLoopTest, StopBeforeStartRunsOneIteration) {
  bool ran = false;
  loop().AddCallback([&] { ran = true; });
  loop().Stop();
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_TRUE(ran);
}

TEST_F(IOLoopTest, StartWhileRunningIsAnError) {
  absl::Status nested;
  loop().AddCallback([&] {
    nested = loop().Start();
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(nested.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(IOLoopTest, AddCallbackFromAnotherThreadWakesASleepingLoop) {
  // Nothing else is registered: without the waker the loop would sleep forever.
  std::thread::id ran_on;
  std::thread other([&] {
    absl::SleepFor(absl::Milliseconds(50));
    loop().AddCallback([&] {
      ran_on = std::this_thread::get_id();
      loop().Stop();
    });
  });
  const absl::Time start = absl::Now();
  ASSERT_TRUE(loop().Start().ok());
  other.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(IOLoopTest, ManyThreadsAddingCallbacksLoseNone) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  int count = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        loop().AddCallback([&] {
          if (++count == kThreads * kPerThread) loop().Stop();
        });
      }
    });
  }
  ASSERT_TRUE(loop().Start().ok());
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST_F(IOLoopTest, StopFromAnotherThread) {
  std::thread other([&] {
    absl::SleepFor(absl::Milliseconds(20));
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  other.join();
}

TEST_F(IOLoopTest, TimersRunInDeadlineOrderAndFifoAmongEqualDeadlines) {
  std::vector<int> order;
  const absl::Time when = loop().Time() + absl::Milliseconds(30);
  loop().CallLater(absl::Milliseconds(60), [&] {
    order.push_back(4);
    loop().Stop();
  });
  loop().CallAt(when, [&] { order.push_back(1); });
  loop().CallAt(when, [&] { order.push_back(2); });
  loop().CallAt(when, [&] { order.push_back(3); });
  loop().CallLater(absl::Milliseconds(1), [&] { order.push_back(0); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(IOLoopTest, TimerDoesNotFireEarly) {
  const absl::Time start = absl::Now();
  absl::Time fired;
  loop().CallLater(absl::Milliseconds(50), [&] {
    fired = absl::Now();
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_GE(fired - start, absl::Milliseconds(50));
}

TEST_F(IOLoopTest, ZeroDelayTimerAddedByATimerWaitsForTheNextIteration) {
  std::vector<std::string> log;
  loop().CallLater(absl::ZeroDuration(), [&] {
    log.push_back("first");
    loop().CallLater(absl::ZeroDuration(), [&] {
      log.push_back("second");
      loop().Stop();
    });
  });
  loop().CallLater(absl::ZeroDuration(), [&] { log.push_back("sibling"); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"first", "sibling", "second"}));
}

TEST_F(IOLoopTest, NegativeAndInfiniteDelays) {
  std::vector<std::string> log;
  loop().CallLater(-absl::InfiniteDuration(), [&] { log.push_back("-inf"); });
  loop().CallLater(absl::Seconds(-1), [&] { log.push_back("-1s"); });
  loop().CallAt(absl::InfinitePast(), [&] { log.push_back("past"); });
  IOLoop::TimeoutHandle never =
      loop().CallLater(absl::InfiniteDuration(), [&] { log.push_back("never"); });
  loop().CallAt(absl::InfiniteFuture(), [&] { log.push_back("never either"); });
  // Due at once: the loop does not wait for an unrelated wake-up (this test has none) and a
  // timer that never comes does not hold the loop in a wait.
  const absl::Time start = absl::Now();
  RunUntil([&] { return log.size() == 3; }, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<std::string>{"-1s", "-inf", "past"}));
  RunFor(absl::Milliseconds(20));
  EXPECT_EQ(log.size(), 3u);
  EXPECT_TRUE(loop().RemoveTimeout(never));
}

TEST_F(IOLoopTest, SignalWatcherCallsBackFromTheLoop) {
  std::vector<int> received;
  absl::StatusOr<std::unique_ptr<SignalWatcher>> watcher =
      SignalWatcher::Create({SIGUSR1, SIGUSR2}, [&](int number) { received.push_back(number); });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ(SignalWatcher::Create({SIGUSR1}, [](int) {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_TRUE(received.empty());  // never inside the signal handler
  // From another thread too: the handler only writes to the pipe the loop watches.
  std::thread other([] { kill(getpid(), SIGUSR2); });
  other.join();
  RunUntil([&] { return received.size() == 2; });
  std::sort(received.begin(), received.end());
  EXPECT_EQ(received, (std::vector<int>{SIGUSR1, SIGUSR2}));
  watcher->reset();
  EXPECT_EQ(SignalWatcher::Create({SIGKILL}, [](int) {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SignalWatcher::Create({SIGUSR1}, [](int) {}).ok());  // one at a time, again
}

TEST_F(IOLoopTest, RemoveTimeoutCancels) {
  bool cancelled_ran = false;
  IOLoop::TimeoutHandle handle =
      loop().CallLater(absl::Milliseconds(5), [&] { cancelled_ran = true; });
  EXPECT_TRUE(loop().RemoveTimeout(handle));
  EXPECT_FALSE(loop().RemoveTimeout(handle));
  EXPECT_FALSE(loop().RemoveTimeout(IOLoop::TimeoutHandle{}));
  loop().CallLater(absl::Milliseconds(20), [&] { loop().Stop(); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_FALSE(cancelled_ran);
}

TEST_F(IOLoopTest, ATimerMayCancelAnotherThatIsDueInTheSameIteration) {
  bool second_ran = false;
  IOLoop::TimeoutHandle second;
  const absl::Time when = loop().Time() + absl::Milliseconds(5);
  loop().CallAt(when, [&] { EXPECT_TRUE(loop().RemoveTimeout(second)); });
  second = loop().CallAt(when, [&] { second_ran = true; });
  loop().CallLater(absl::Milliseconds(30), [&] { loop().Stop(); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_FALSE(second_ran);
}

TEST_F(IOLoopTest, ATimerMayCancelItselfAndTheTimerHeapStaysCorrectAfterMassCancellation) {
  std::vector<IOLoop::TimeoutHandle> handles;
  std::vector<int> fired;
  for (int i = 0; i < 1000; ++i) {
    handles.push_back(
        loop().CallLater(absl::Milliseconds(1 + i % 10), [&fired, i] { fired.push_back(i); }));
  }
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 != 0) {
      EXPECT_TRUE(loop().RemoveTimeout(handles[i]));
    }
  }
  IOLoop::TimeoutHandle self;
  self = loop().CallLater(absl::Milliseconds(2), [&] {
    EXPECT_FALSE(loop().RemoveTimeout(self));  // running already: nothing to cancel
  });
  loop().CallLater(absl::Milliseconds(40), [&] { loop().Stop(); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(fired.size(), 10u);
  for (int i : fired) EXPECT_EQ(i % 100, 0);
}

TEST_F(IOLoopTest, ReadHandlerFiresWhenDataArrives) {
  SocketPair pair;
  uint32_t seen = 0;
  ASSERT_TRUE(loop()
                  .AddHandler(pair.fds[0], IOLoop::kRead,
                              [&](int fd, uint32_t events) {
                                EXPECT_EQ(fd, pair.fds[0]);
                                seen = events;
                                char buffer[8];
                                EXPECT_EQ(read(fd, buffer, sizeof(buffer)), 1);
                                loop().Stop();
                              })
                  .ok());
  loop().CallLater(absl::Milliseconds(10), [&] { ASSERT_EQ(write(pair.fds[1], "x", 1), 1); });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_TRUE(seen & IOLoop::kRead);
  EXPECT_TRUE(loop().RemoveHandler(pair.fds[0]).ok());
}

// The callbacks a handler queues (what a read it finished resumes) run right after it, before
// the next ready fd's handler; what those callbacks queue waits for the next iteration, before
// anything queued later.
TEST_F(IOLoopTest, CallbacksAHandlerQueuesRunBeforeTheNextHandler) {
  SocketPair first;
  SocketPair second;
  std::vector<std::string> log;
  auto handler = [&](std::string name) {
    return [&, name](int fd, uint32_t) {
      EXPECT_TRUE(loop().RemoveHandler(fd).ok());
      log.push_back("handler " + name);
      loop().AddCallback([&, name] {
        log.push_back("callback " + name);
        loop().AddCallback([&, name] { log.push_back("carried " + name); });
      });
    };
  };
  ASSERT_TRUE(loop().AddHandler(first.fds[0], IOLoop::kRead, handler("a")).ok());
  ASSERT_TRUE(loop().AddHandler(second.fds[0], IOLoop::kRead, handler("b")).ok());
  ASSERT_EQ(write(first.fds[1], "x", 1), 1);
  ASSERT_EQ(write(second.fds[1], "x", 1), 1);
  loop().Stop();  // one iteration
  ASSERT_TRUE(loop().Start().ok());
  ASSERT_EQ(log.size(), 4u);
  const std::string one = log[0].substr(log[0].size() - 1);
  const std::string other = one == "a" ? "b" : "a";
  EXPECT_EQ(log, (std::vector<std::string>{"handler " + one, "callback " + one, "handler " + other,
                                           "callback " + other}));
  loop().AddCallback([&] { log.push_back("queued later"); });
  loop().Stop();
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(std::vector<std::string>(log.begin() + 4, log.end()),
            (std::vector<std::string>{"carried " + one, "carried " + other, "queued later"}));
}

// Of the fds ready in one iteration, the one whose handler ran longest ago goes first (never
// counts as longest). Level-triggered pollers list the fds they reported last time first
// (epoll) or keep fd order (poll, select); served that way under load, the fds served last kept
// missing the next wait, and their connections fell behind.
TEST_F(IOLoopTest, TheFdServedLongestAgoIsServedFirst) {
  SocketPair early;  // the lower fd number, and the first served
  SocketPair late;
  std::vector<std::string> log;
  auto drain = [](int fd) {
    char buffer[16];
    EXPECT_GT(read(fd, buffer, sizeof(buffer)), 0);
  };
  ASSERT_TRUE(loop()
                  .AddHandler(early.fds[0], IOLoop::kRead,
                              [&](int fd, uint32_t) {
                                drain(fd);
                                log.push_back("early");
                                if (log.size() > 3) return;
                                // `late` becomes ready first, then this fd again.
                                ASSERT_EQ(write(late.fds[1], "x", 1), 1);
                                ASSERT_EQ(write(early.fds[1], "x", 1), 1);
                              })
                  .ok());
  ASSERT_TRUE(loop()
                  .AddHandler(late.fds[0], IOLoop::kRead,
                              [&](int fd, uint32_t) {
                                drain(fd);
                                log.push_back("late");
                              })
                  .ok());
  ASSERT_EQ(write(early.fds[1], "x", 1), 1);
  for (int i = 0; i < 3; ++i) {
    loop().Stop();  // one iteration
    ASSERT_TRUE(loop().Start().ok());
  }
  // Second iteration: `late` was never served. Third: it was served before `early`.
  EXPECT_EQ(log, (std::vector<std::string>{"early", "late", "early", "late", "early"}));
  EXPECT_TRUE(loop().RemoveHandler(early.fds[0]).ok());
  EXPECT_TRUE(loop().RemoveHandler(late.fds[0]).ok());
}

TEST_F(IOLoopTest, UpdateHandlerSwitchesEvents) {
  SocketPair pair;
  std::vector<uint32_t> events_seen;
  ASSERT_TRUE(loop()
                  .AddHandler(pair.fds[0], IOLoop::kRead,
                              [&](int, uint32_t events) {
                                events_seen.push_back(events);
                                EXPECT_TRUE(loop().RemoveHandler(pair.fds[0]).ok());
                                loop().Stop();
                              })
                  .ok());
  // Nothing to read, but a fresh socket is writable.
  ASSERT_TRUE(loop().UpdateHandler(pair.fds[0], IOLoop::kWrite).ok());
  ASSERT_TRUE(loop().Start().ok());
  ASSERT_EQ(events_seen.size(), 1u);
  EXPECT_TRUE(events_seen[0] & IOLoop::kWrite);
  EXPECT_FALSE(events_seen[0] & IOLoop::kRead);
}

TEST_F(IOLoopTest, HandlerRegistrationErrorsAreStatuses) {
  SocketPair pair;
  ASSERT_TRUE(loop().AddHandler(pair.fds[0], IOLoop::kRead, [](int, uint32_t) {}).ok());
  EXPECT_EQ(loop().AddHandler(pair.fds[0], IOLoop::kRead, [](int, uint32_t) {}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(loop().UpdateHandler(pair.fds[1], IOLoop::kRead).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(loop().RemoveHandler(pair.fds[1]).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(loop().AddHandler(-1, IOLoop::kRead, [](int, uint32_t) {}).ok());
  EXPECT_TRUE(loop().RemoveHandler(pair.fds[0]).ok());
  EXPECT_EQ(loop().RemoveHandler(pair.fds[0]).code(), absl::StatusCode::kNotFound);
}

// The events a read handler on pair.fds[0] sees first, once the loop runs.
uint32_t FirstReadEvents(IOLoop& loop, SocketPair& pair) {
  uint32_t seen = 0;
  EXPECT_TRUE(loop.AddHandler(pair.fds[0], IOLoop::kRead,
                              [&](int fd, uint32_t events) {
                                seen = events;
                                EXPECT_TRUE(loop.RemoveHandler(fd).ok());
                                loop.Stop();
                              })
                  .ok());
  EXPECT_TRUE(loop.Start().ok());
  return seen;
}

TEST_F(IOLoopTest, PeerCloseIsReportedToAReadHandler) {
  SocketPair pair;
  close(pair.fds[1]);
  pair.fds[1] = -1;
  EXPECT_TRUE(FirstReadEvents(loop(), pair) & (IOLoop::kRead | IOLoop::kError));
}

// A half-close is readable, and a handler sees only the documented bits: the poller's
// peer-closed bit (which epoll and poll report for streams) stays inside the loop.
TEST_F(IOLoopTest, AHalfCloseIsReportedAsReadableWithTheDocumentedBitsOnly) {
  SocketPair pair;
  ASSERT_EQ(shutdown(pair.fds[1], SHUT_WR), 0);
  const uint32_t seen = FirstReadEvents(loop(), pair);
  EXPECT_TRUE(seen & IOLoop::kRead);
  EXPECT_EQ(seen & ~(IOLoop::kRead | IOLoop::kWrite | IOLoop::kError), 0u) << seen;
}

TEST_F(IOLoopTest, HandlerMayRemoveAndCloseItselfAndTheOtherReadyHandler) {
  // Both fds are ready in the same iteration. Whichever handler runs first removes both
  // handlers and closes both fds: the other must not run, and nothing may be used after free.
  SocketPair a;
  SocketPair b;
  int calls = 0;
  auto handler = [&](int, uint32_t) {
    ++calls;
    for (SocketPair* pair : {&a, &b}) {
      EXPECT_TRUE(loop().RemoveHandler(pair->fds[0]).ok());
      close(pair->fds[0]);
      pair->fds[0] = -1;
    }
    loop().CallLater(absl::Milliseconds(20), [&] { loop().Stop(); });
  };
  ASSERT_EQ(write(a.fds[1], "x", 1), 1);
  ASSERT_EQ(write(b.fds[1], "x", 1), 1);
  ASSERT_TRUE(loop().AddHandler(a.fds[0], IOLoop::kRead, handler).ok());
  ASSERT_TRUE(loop().AddHandler(b.fds[0], IOLoop::kRead, handler).ok());
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(IOLoopTest, AHandlerAddedForARecycledFdNumberDoesNotSeeTheOldFdsReadiness) {
  // a and b are both readable. The first handler to run removes the other's handler, closes
  // that fd and puts a fresh, idle socket at the same fd number with a new handler: the new
  // handler must not be called for the readiness the poller reported for the old socket.
  SocketPair a;
  SocketPair b;
  SocketPair fresh;
  int stale_calls = 0;
  int first_calls = 0;
  auto replace_other = [&](int fd, uint32_t) {
    ++first_calls;
    const int other = fd == a.fds[0] ? b.fds[0] : a.fds[0];
    EXPECT_TRUE(loop().RemoveHandler(other).ok());
    ASSERT_EQ(dup2(fresh.fds[0], other), other);  // closes the old socket, reuses its number
    EXPECT_TRUE(
        loop().AddHandler(other, IOLoop::kRead, [&](int, uint32_t) { ++stale_calls; }).ok());
    EXPECT_TRUE(loop().RemoveHandler(fd).ok());
    loop().CallLater(absl::Milliseconds(30), [&] { loop().Stop(); });
  };
  ASSERT_EQ(write(a.fds[1], "x", 1), 1);
  ASSERT_EQ(write(b.fds[1], "x", 1), 1);
  ASSERT_TRUE(loop().AddHandler(a.fds[0], IOLoop::kRead, replace_other).ok());
  ASSERT_TRUE(loop().AddHandler(b.fds[0], IOLoop::kRead, replace_other).ok());
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(first_calls, 1);
  EXPECT_EQ(stale_calls, 0);
  for (int fd : {a.fds[0], b.fds[0]}) loop().RemoveHandler(fd).IgnoreError();
}

TEST_F(IOLoopTest, FdsAboveFdSetsizeAreRefusedBySelectAndWorkElsewhere) {
  constexpr int kHighFd = FD_SETSIZE + 100;
  if (testing::RaiseFdLimit(kHighFd + 1) <= kHighFd) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit is below " << kHighFd + 1;
  }
  SocketPair pair;
  ASSERT_EQ(dup2(pair.fds[0], kHighFd), kHighFd);
  bool fired = false;
  absl::Status added = loop().AddHandler(kHighFd, IOLoop::kRead, [&](int fd, uint32_t) {
    fired = true;
    loop().Stop();
  });
  if (loop().backend_name() == "select") {
    EXPECT_EQ(added.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(added.message()).find("FD_SETSIZE"), std::string::npos) << added;
  } else {
    ASSERT_TRUE(added.ok()) << added;
    ASSERT_EQ(write(pair.fds[1], "x", 1), 1);
    ASSERT_TRUE(loop().Start().ok());
    EXPECT_TRUE(fired);
    EXPECT_TRUE(loop().RemoveHandler(kHighFd).ok());
  }
  close(kHighFd);
}

// An fd closed (without RemoveHandler) while a duplicate keeps its file open stays registered
// in epoll, which goes on reporting it. Those events carry the old registration's token: they
// reach neither the removed handler nor a new one added on the recycled fd number.
TEST_F(IOLoopTest, StaleEventsOfAClosedFdReachNoHandler) {
  SocketPair old_pair;
  SocketPair new_pair;
  const int fd = old_pair.fds[0];
  int old_calls = 0;
  int new_calls = 0;
  ASSERT_TRUE(loop().AddHandler(fd, IOLoop::kRead, [&](int, uint32_t) { ++old_calls; }).ok());
  const int duplicate = dup(fd);  // keeps the old file (and its epoll registration) alive
  ASSERT_GE(duplicate, 0);
  ASSERT_EQ(dup2(new_pair.fds[0], fd), fd);  // the number now names another socket
  loop().RemoveHandler(fd).IgnoreError();  // epoll cannot find the old file by this number now
  ASSERT_TRUE(loop().AddHandler(fd, IOLoop::kRead, [&](int, uint32_t) { ++new_calls; }).ok());
  ASSERT_EQ(write(old_pair.fds[1], "x", 1), 1);  // readiness of the old file only
  RunFor(absl::Milliseconds(30));
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 0);
  ASSERT_EQ(write(new_pair.fds[1], "y", 1), 1);
  RunUntil([&] { return new_calls > 0; });
  EXPECT_EQ(old_calls, 0);
  ASSERT_TRUE(loop().RemoveHandler(fd).ok());
  close(duplicate);
}

TEST_F(IOLoopTest, AnFdClosedWithoutRemovingItsHandlerDoesNotBreakTheLoop) {
  // A user bug, but one that must not wedge the loop: select() fails the whole call with EBADF
  // and poll() reports POLLNVAL for such an fd; epoll drops it silently.
  SocketPair pair;
  const int fd = pair.fds[0];
  ASSERT_TRUE(loop()
                  .AddHandler(fd, IOLoop::kRead,
                              [&](int ready_fd, uint32_t) {
                                EXPECT_TRUE(loop().RemoveHandler(ready_fd).ok());
                              })
                  .ok());
  close(fd);
  pair.fds[0] = -1;
  bool timer_ran = false;
  loop().CallLater(absl::Milliseconds(20), [&] {
    timer_ran = true;
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_TRUE(timer_ran);
  loop().RemoveHandler(fd).IgnoreError();
}

TEST_F(IOLoopTest, RunSyncReturnsTheResultOfAFuture) {
  absl::StatusOr<int> result =
      loop().RunSync([] { return ResolvedLater(7, absl::Milliseconds(5)); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 7);
}

TEST_F(IOLoopTest, RunSyncAcceptsStatusAndVoidFunctions) {
  EXPECT_EQ(loop().RunSync([] { return absl::InternalError("boom"); }).code(),
            absl::StatusCode::kInternal);
  bool ran = false;
  EXPECT_TRUE(loop().RunSync([&] { ran = true; }).ok());
  EXPECT_TRUE(ran);
  absl::StatusOr<std::string> text = loop().RunSync([] { return absl::StatusOr<std::string>("x"); });
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "x");
}

TEST_F(IOLoopTest, RunSyncTimeoutIsADeadlineExceededError) {
  Promise<int> never;
  const absl::Time start = absl::Now();
  absl::StatusOr<int> result =
      loop().RunSync([&] { return never.future(); }, absl::Milliseconds(50));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_NE(std::string(result.status().message()).find("50ms"), std::string::npos);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  // The abandoned operation must not stop a later run of the loop when it finishes.
  never.SetResult(1);
  absl::StatusOr<int> later =
      loop().RunSync([] { return ResolvedLater(2, absl::Milliseconds(20)); });
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(*later, 2);
}

TEST_F(IOLoopTest, RunSyncStoppedEarlyIsAnAbortedError) {
  Promise<int> never;
  absl::StatusOr<int> result = loop().RunSync([&] {
    IOLoop::Current().Stop();
    return never.future();
  });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  never.SetResult(0);
}

TEST_F(IOLoopTest, CurrentIsTheRunningLoopAndEachThreadHasItsOwn) {
  EXPECT_EQ(&IOLoop::Current(), &loop());
  IOLoop* seen_inside = nullptr;
  loop().AddCallback([&] {
    seen_inside = &IOLoop::Current();
    loop().Stop();
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(seen_inside, &loop());
  IOLoop* other_thread_loop = nullptr;
  std::thread([&] { other_thread_loop = &IOLoop::Current(); }).join();
  EXPECT_NE(other_thread_loop, nullptr);
  EXPECT_NE(other_thread_loop, &loop());
}

}  // namespace
}  // namespace gust
