// Future<T> and Promise<T>: a result that arrives later, the way Tornado's futures behave.
//
// A Future resolves once, with absl::StatusOr<T> (absl::Status for Future<void>). Done callbacks
// always run from the IOLoop in a later iteration, never inside the call that resolved the
// future, exactly as tornado.concurrent.Future callbacks are scheduled with add_callback; this
// is what makes it safe for the code that resolves a future to keep running afterwards.
// `co_await future` (inside a gust::Task) yields the result; awaiting a future that is done
// already continues at once, without a loop round trip, like Python's `await`.
//
// Example:
//   Promise<int> promise;
//   Future<int> future = promise.future();
//   future.AddDoneCallback([](const absl::StatusOr<int>& result) { ... });
//   promise.SetResult(42);  // the callback runs in the loop's next iteration

#ifndef GUST_IOSTREAM_FUTURE_H_
#define GUST_IOSTREAM_FUTURE_H_

#include <coroutine>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "iostream/internal/callback_queue.h"
#include "iostream/internal/check.h"

namespace gust {

// The type a Future<T> resolves with: absl::StatusOr<T>, or absl::Status when T is void.
template <typename T>
struct FutureResultTraits {
  using type = absl::StatusOr<T>;
};
template <>
struct FutureResultTraits<void> {
  using type = absl::Status;
};
template <typename T>
using FutureResult = typename FutureResultTraits<T>::type;

namespace future_internal {

// The callback queue of IOLoop::Current() (defined in io_loop.cc).
std::shared_ptr<internal::CallbackQueue> CurrentLoopQueue();

template <typename T>
class State : public std::enable_shared_from_this<State<T>> {
 public:
  using Result = FutureResult<T>;
  using DoneCallback = absl::AnyInvocable<void(const Result&)>;

  explicit State(std::shared_ptr<internal::CallbackQueue> queue) : queue_(std::move(queue)) {}

  ~State() {
    if (log_if_unretrieved_ && result_.has_value() && !ResultStatus().ok() && !retrieved_) {
      internal::LogLine("ERROR", absl::StrCat("a Task failed and nobody awaited it: ",
                                              ResultStatus().ToString()));
    }
  }

  bool done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return result_.has_value();
  }

  // Returns false (and changes nothing) if the state was resolved already.
  bool Resolve(Result result) {
    std::vector<DoneCallback> callbacks;
    std::vector<std::coroutine_handle<>> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (result_.has_value()) return false;
      result_.emplace(std::move(result));
      callbacks.swap(callbacks_);
      waiters.swap(waiters_);
    }
    for (DoneCallback& callback : callbacks) ScheduleCallback(std::move(callback));
    for (std::coroutine_handle<> waiter : waiters) {
      queue_->Add([waiter] { waiter.resume(); });
    }
    return true;
  }

  void AddDoneCallback(DoneCallback callback) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      retrieved_ = true;
      if (!result_.has_value()) {
        callbacks_.push_back(std::move(callback));
        return;
      }
    }
    ScheduleCallback(std::move(callback));
  }

  // Resumes `waiter` from the loop once the state is resolved (at once if it is).
  void AddWaiter(std::coroutine_handle<> waiter) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!result_.has_value()) {
        waiters_.push_back(waiter);
        return;
      }
    }
    queue_->Add([waiter] { waiter.resume(); });
  }

  // Only valid once done() is true; the result never changes after that.
  const Result& result() {
    MarkRetrieved();
    return *result_;
  }
  Result TakeResult() {
    MarkRetrieved();
    return std::move(*result_);
  }

  void set_log_if_unretrieved() { log_if_unretrieved_ = true; }

 private:
  void MarkRetrieved() {
    std::lock_guard<std::mutex> lock(mu_);
    retrieved_ = true;
  }

  const absl::Status& ResultStatus() const {
    if constexpr (std::is_void_v<T>) {
      return *result_;
    } else {
      return result_->status();
    }
  }

  void ScheduleCallback(DoneCallback callback) {
    queue_->Add([self = this->shared_from_this(), callback = std::move(callback)]() mutable {
      callback(*self->result_);
    });
  }

  const std::shared_ptr<internal::CallbackQueue> queue_;
  // std::mutex rather than absl::Mutex: with a prebuilt (uninstrumented) Abseil, ThreadSanitizer
  // sees pthread mutexes but not absl::Mutex.
  mutable std::mutex mu_;
  std::optional<Result> result_;
  std::vector<DoneCallback> callbacks_;
  std::vector<std::coroutine_handle<>> waiters_;
  bool retrieved_ = false;
  bool log_if_unretrieved_ = false;
};

template <typename T>
std::shared_ptr<State<T>> NewState() {
  return std::make_shared<State<T>>(CurrentLoopQueue());
}

}  // namespace future_internal

template <typename T>
class Promise;
template <typename T>
class Task;

// Future<T>: the read side of a result; copies share it. A default-constructed Future is not
// valid() and must not be used.
template <typename T>
class Future {
 public:
  using Result = FutureResult<T>;
  using DoneCallback = absl::AnyInvocable<void(const Result&)>;

  Future() = default;

  bool valid() const { return state_ != nullptr; }

  // Tornado: Future.done().
  bool done() const { return state_->done(); }

  // Tornado: Future.result() / Future.exception(). Call it only once done() is true; before
  // that it returns a FailedPreconditionError (and fails a debug check).
  const Result& result() const {
    if (!done()) {
      GUST_DCHECK(false, "Future::result() called before the future is done");
      static const Result* const not_done = NotDoneResult();
      return *not_done;
    }
    return state_->result();
  }

  // Tornado: Future.add_done_callback(). `callback` runs from the IOLoop the future was made
  // on, in an iteration after the one that resolved it (after this call, if it is done).
  void AddDoneCallback(DoneCallback callback) const {
    state_->AddDoneCallback(std::move(callback));
  }

  // `co_await future` yields Result. Awaiting a temporary future hands its value over without
  // a copy when no other Future shares it.
  auto operator co_await() const& { return Awaiter{*this}; }
  auto operator co_await() && { return Awaiter{std::move(*this)}; }

 private:
  friend class Promise<T>;
  friend class Task<T>;
  template <typename U>
  friend Future<U> MakeReadyFuture(FutureResult<U> result);

  explicit Future(std::shared_ptr<future_internal::State<T>> state) : state_(std::move(state)) {}

  static const Result* NotDoneResult() {
    static const Result result(
        absl::FailedPreconditionError("Future::result() called before the future is done"));
    return &result;
  }

  struct Awaiter {
    Future future;
    bool await_ready() const { return future.done(); }
    void await_suspend(std::coroutine_handle<> waiter) { future.state_->AddWaiter(waiter); }
    Result await_resume() {
      if (future.state_.use_count() == 1) return future.state_->TakeResult();
      return future.state_->result();
    }
  };

  std::shared_ptr<future_internal::State<T>> state_;
};

// Promise<T>: the write side. Made on a thread with an IOLoop (IOLoop::Current()), whose next
// iterations run the future's callbacks; it may be resolved from any thread.
template <typename T>
class Promise {
 public:
  using Result = FutureResult<T>;

  Promise() : state_(future_internal::NewState<T>()) {}

  Promise(Promise&&) = default;
  Promise& operator=(Promise&&) = default;

  // The future this promise resolves. Take it before resolving: a resolved promise lets go of
  // its state (so an awaiting coroutine can take the value over without a copy) and then
  // returns an invalid Future.
  Future<T> future() const { return Future<T>(state_); }

  // Tornado: Future.set_result() / set_exception(). Resolving twice is a programming error:
  // it fails a debug check, and in an optimized build the second result is ignored.
  void SetResult(Result result) {
    if (state_ == nullptr) {
      GUST_DCHECK(false, "Promise resolved twice");
      return;
    }
    const bool first = state_->Resolve(std::move(result));
    GUST_DCHECK(first, "Promise resolved twice");
    state_.reset();
  }

  // Resolves with an error unless already resolved (Tornado's future_set_exc_info on a
  // future that may be done already).
  void SetErrorIfPending(absl::Status error) {
    if (state_ != nullptr && !state_->done()) SetResult(std::move(error));
  }

  bool done() const { return state_ == nullptr || state_->done(); }

 private:
  std::shared_ptr<future_internal::State<T>> state_;
};

// Resolves the promise in `slot`, if it holds one, and empties the slot: for a class that keeps
// an optional pending operation (a connect, a handshake) and settles it from more than one place.
template <typename T>
void SettleAndClear(std::optional<Promise<T>>& slot, FutureResult<T> result) {
  if (!slot.has_value()) return;
  Promise<T> promise = std::move(*slot);
  slot.reset();
  promise.SetResult(std::move(result));
}

// A future that is already resolved.
template <typename T>
Future<T> MakeReadyFuture(FutureResult<T> result) {
  auto state = future_internal::NewState<T>();
  state->Resolve(std::move(result));
  return Future<T>(std::move(state));
}

}  // namespace gust

#endif  // GUST_IOSTREAM_FUTURE_H_
