// Task<T>: a C++20 coroutine whose result is a Future<T>; Tornado's `async def` coroutine.
//
// A Task starts running as soon as it is called, up to its first `co_await` on a pending
// future, as a Tornado coroutine does. Once started it runs to completion even if its Task
// handle is dropped (Tornado's spawned callbacks, IOLoop.spawn_callback); a failure that no one
// awaits or observes is logged to stderr when the task's state goes away, never lost silently.
//
// A Task<T> finishes with `co_return value;` or `co_return some_error_status;`. A Task<void>
// finishes with `co_return absl::OkStatus();` or an error status: its result is absl::Status.
// An exception that escapes the body becomes an absl::InternalError result.
//
// Example:
//   Task<std::string> ReadGreeting(IOStream& stream) {
//     absl::StatusOr<std::string> line = co_await stream.ReadUntil("\r\n");
//     if (!line.ok()) co_return line.status();
//     co_return *std::move(line);
//   }

#ifndef GUST_IOSTREAM_TASK_H_
#define GUST_IOSTREAM_TASK_H_

#include <coroutine>
#include <exception>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "iostream/future.h"

namespace gust {

template <typename T>
class Task {
 public:
  using Result = FutureResult<T>;

  struct promise_type {
    std::shared_ptr<future_internal::State<T>> state = future_internal::NewState<T>();

    Task get_return_object() {
      state->set_log_if_unretrieved();
      return Task(Future<T>(state));
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    // The frame frees itself when the body ends; the result lives on in `state`.
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_value(Result result) { state->Resolve(std::move(result)); }
    void unhandled_exception() noexcept {
#if defined(__cpp_exceptions)
      try {
        throw;
      } catch (const std::exception& e) {
        state->Resolve(absl::InternalError(absl::StrCat("exception in a Task: ", e.what())));
      } catch (...) {
        state->Resolve(absl::InternalError("unknown exception in a Task"));
      }
#endif
    }
  };

  // The task's result as a future (Tornado: the Future an `async def` call returns).
  const Future<T>& future() const& { return future_; }
  Future<T> future() && { return std::move(future_); }
  operator Future<T>() const& { return future_; }   // NOLINT: a Task is usable as its Future
  operator Future<T>() && { return std::move(future_); }  // NOLINT

  bool done() const { return future_.done(); }

  auto operator co_await() const& { return future_.operator co_await(); }
  auto operator co_await() && { return std::move(future_).operator co_await(); }

 private:
  explicit Task(Future<T> future) : future_(std::move(future)) {}

  Future<T> future_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_TASK_H_
