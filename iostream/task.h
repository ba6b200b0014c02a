// Task<T>: a C++20 coroutine whose result is a Future<T>; Tornado's `async def` coroutine.
//
// A Task starts running as soon as it is called, up to its first `co_await` on a pending
// future, as a Tornado coroutine does. Once started it runs to completion even if its Task
// handle is dropped (Tornado's spawned callbacks, IOLoop.spawn_callback); a failure that no one
// awaits or observes is logged to stderr when the task's state goes away, never lost silently.
//
// Ownership: a task belongs to the loop current when it started. Destroying that loop (or the
// TCPServer whose connection it serves) destroys the task's suspended frame, and with it what
// the frame holds: its streams close and their fds are freed. The task's future then fails with
// a CancelledError, and nothing of it ever runs again.
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

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <coroutine>
#include <exception>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "iostream/future.h"
#include "iostream/internal/task_list.h"

namespace gust {

template <typename T>
class Task;
namespace internal {
template <typename T>
void AdoptTask(TaskList& group, const Task<T>& task);
}  // namespace internal

namespace future_internal {
// The task list of IOLoop::Current() (defined in io_loop.cc).
internal::TaskList& CurrentTaskList();
}  // namespace future_internal

template <typename T>
class Task {
 public:
  using Result = FutureResult<T>;

  struct promise_type {
    future_internal::StateRef<T> state = future_internal::NewState<T>();
    // Every unfinished task is linked into its loop's list (and maybe a server's), which
    // destroy the suspended frame when they go away.
    internal::TaskLink loop_link;
    internal::TaskLink group_link;
    internal::TaskList* group = nullptr;  // the list group_link joined (AdoptTask)

    promise_type() {
      future_internal::CurrentTaskList().Add(
          loop_link, std::coroutine_handle<promise_type>::from_promise(*this));
    }
    ~promise_type() {
      if (!state->done()) {  // the frame is destroyed before the body ended
        state->set_log_if_unretrieved(false);  // its owner went away; nothing failed
        state->Resolve(absl::CancelledError(
            "the Task was destroyed before it finished (its IOLoop or server went away)"));
      }
      if (group_link.linked()) group->Finished(future_internal::StatusOf<T>(state->result()));
    }

    Task get_return_object() {
      state->set_log_if_unretrieved(true);
      return Task(Future<T>(state), std::coroutine_handle<promise_type>::from_promise(*this));
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
  template <typename U>
  friend void internal::AdoptTask(internal::TaskList& group, const Task<U>& task);

  Task(Future<T> future, std::coroutine_handle<promise_type> frame)
      : future_(std::move(future)), frame_(frame) {}

  Future<T> future_;
  // Valid while the task is not done: a frame ends only after resolving its state.
  std::coroutine_handle<promise_type> frame_;
};

namespace internal {

// Links an unfinished task into `group` as well, which then destroys its frame when the group
// is destroyed; `group` hears how the task ended, at once if it has ended already (TCPServer
// does this for its connections' handlers).
template <typename T>
void AdoptTask(TaskList& group, const Task<T>& task) {
  if (task.done()) {
    group.Finished(future_internal::StatusOf<T>(task.future().result()));
    return;
  }
  group.Add(task.frame_.promise().group_link, task.frame_);
  task.frame_.promise().group = &group;
}

}  // namespace internal

}  // namespace gust

#endif  // GUST_IOSTREAM_TASK_H_
