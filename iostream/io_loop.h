// IOLoop: the event loop that runs callbacks, timers and fd handlers on one thread; Tornado's
// tornado.ioloop.IOLoop.
//
// Every thread has at most one current loop (IOLoop::Current() makes one on first use). The loop
// waits on a Poller (epoll, poll or select, chosen when the binary is built with
// --@gust//backends:poller=...; backend_name() says which). Only AddCallback() and Stop() may be
// called from other threads; everything else belongs to the loop's thread.
//
// One iteration: wait for fds (not at all if callbacks are queued, no longer than the next
// timer); run the callbacks queued before the iteration, in order; then, for each ready fd (the
// one whose handler ran longest ago first: close to the order their bytes arrived in), its
// handler followed by the callbacks that handler queued (a read's coroutine, a future's done
// callbacks: they run while the bytes the handler read are still in the cache, where Tornado
// runs them after every other ready fd's handler); then the timers that are due, in deadline
// order (FIFO among equal deadlines); then flush the writes streams queued during the
// iteration. Callbacks queued by callbacks or timers run in the next iteration. A handler or
// callback may remove any handler (its own included), cancel any timer, close fds or destroy
// streams: the loop never calls a handler that was removed, even later in the same batch of
// ready fds.

#ifndef GUST_IOSTREAM_IO_LOOP_H_
#define GUST_IOSTREAM_IO_LOOP_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "backends/poller.h"
#include "iostream/future.h"
#include "iostream/internal/callback_queue.h"
#include "iostream/internal/fd_handler.h"
#include "iostream/task.h"

namespace gust {

class BaseIOStream;

class IOLoop {
 public:
  // Tornado: IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR.
  static constexpr uint32_t kRead = kPollRead;
  static constexpr uint32_t kWrite = kPollWrite;
  static constexpr uint32_t kError = kPollError;

  using Callback = absl::AnyInvocable<void()>;
  // Called with the fd and the PollEvents bits that are ready.
  using Handler = absl::AnyInvocable<void(int fd, uint32_t events)>;

  // Names a timer made by CallLater/CallAt, for RemoveTimeout. A default one names no timer.
  struct TimeoutHandle {
    uint64_t id = 0;
  };

  // A new loop on the backend this binary was built with. It is not made current.
  static absl::StatusOr<std::unique_ptr<IOLoop>> Create();

  // Tornado: IOLoop.current(). The calling thread's current loop: the one running on it, else
  // the last one made current on it, else a new one that the thread owns from then on (if the
  // system cannot make one, e.g. out of fds, this aborts with the reason).
  static IOLoop& Current();

  ~IOLoop();
  IOLoop(const IOLoop&) = delete;
  IOLoop& operator=(const IOLoop&) = delete;

  // Tornado: IOLoop.make_current(). Futures and tasks made on this thread are tied to the
  // current loop. Destroying the loop makes the thread have none again.
  void MakeCurrent();

  // Tornado: IOLoop.start(). Runs until Stop(); the loop is current on this thread meanwhile.
  // Returns an error only if the poller fails, or FailedPreconditionError if the loop is running
  // already (a callback that calls Start or RunSync on its own loop).
  absl::Status Start();

  // True while Start() (or RunSync) is running the loop.
  bool running() const;

  // Tornado: IOLoop.stop(). The loop returns from Start() at the end of the current iteration
  // (if it is not running, the next Start() runs one iteration). Safe from any thread.
  void Stop();

  // Tornado: IOLoop.run_sync(). Starts the loop, calls `func` from it, and runs until the
  // Future or Task that `func` returns is done (an absl::Status or absl::StatusOr<T>, or nothing,
  // counts as done at once), then returns its result. With a finite `timeout`, gives absl::DeadlineExceededError
  // after that long (the operation is left as it is and goes on if the loop runs again).
  // On a loop that is running already (called from one of its callbacks or tasks) it does not
  // call `func` and gives FailedPreconditionError: await the future instead.
  template <typename F>
  auto RunSync(F&& func, absl::Duration timeout = absl::InfiniteDuration());

  // Tornado: IOLoop.add_callback(). Runs `callback` in the loop's next iteration. Safe from
  // any thread; wakes the loop if it is waiting.
  void AddCallback(Callback callback);

  // Tornado: IOLoop.call_later() and call_at(). Runs `callback` once the delay has passed or
  // Time() reaches `when`. Deadlines are kept on a monotonic clock, so changes to the system
  // clock neither fire timers early nor hold them back. A negative delay (or a past `when`) is
  // due at once; an infinite one (or absl::InfiniteFuture()) never runs but can be removed.
  TimeoutHandle CallLater(absl::Duration delay, Callback callback);
  TimeoutHandle CallAt(absl::Time when, Callback callback);

  // Tornado: IOLoop.remove_timeout(). Cancels a timer; true if it had not run yet.
  bool RemoveTimeout(TimeoutHandle handle);

  // Tornado: IOLoop.time(). The loop's monotonic clock, expressed as the wall-clock time it
  // read when the loop was made plus the monotonic time since (so it never goes backwards and
  // may drift from absl::Now() if the system clock is set). Use it to compute CallAt times.
  absl::Time Time() const;

  // Tornado: IOLoop.add_handler(fd, handler, events). Calls `handler` whenever `fd` is ready
  // for any of `events` (kRead, kWrite); kError is reported whether asked for or not.
  // Fails for an fd that already has a handler, or one the backend cannot watch (select:
  // fd >= FD_SETSIZE gives InvalidArgumentError).
  absl::Status AddHandler(int fd, uint32_t events, Handler handler);

  // Tornado: IOLoop.update_handler() and remove_handler(). NotFoundError for an fd without a
  // handler. Remove the handler before closing the fd.
  absl::Status UpdateHandler(int fd, uint32_t events);
  absl::Status RemoveHandler(int fd);

  // "epoll", "poll" or "select".
  absl::string_view backend_name() const { return poller_->name(); }

 private:
  friend const internal::QueueRef& future_internal::CurrentLoopQueue();
  friend internal::TaskList& future_internal::CurrentTaskList();
  friend class BaseIOStream;

  // Calls handler.OnIterationEnd() at the end of the current iteration, after the due timers and
  // before the next wait (streams flush the writes an iteration made there, in one writev each),
  // unless CancelIterationEnd(slot) comes first with the slot this returns. No allocation and no
  // liveness check per call: a pipelined line server asks once per stream and iteration.
  uint32_t CallAtIterationEnd(internal::FdHandler& handler) {
    if (iteration_end_size_ == iteration_end_.size()) [[unlikely]] {
      GrowIterationEnd();
    }
    iteration_end_[iteration_end_size_] = &handler;
    return static_cast<uint32_t>(iteration_end_size_++);
  }
  // Out of line, and no push_back: the vector's growth inline made every stream's Write save
  // six registers first (12 instructions a line at pipeline 1).
  [[gnu::noinline]] void GrowIterationEnd() {
    iteration_end_.resize(std::max<size_t>(16, 2 * iteration_end_.size()));
  }
  // For a handler that no longer wants the call, or is going away.
  void CancelIterationEnd(uint32_t slot) { iteration_end_[slot] = nullptr; }

  // Counts iterations; streams use it to bound the reads they finish inline in one iteration.
  uint64_t iteration() const { return iteration_; }

  // AddHandler for an object that outlives its registration (a stream): the loop keeps a pointer
  // to it and allocates nothing.
  absl::Status AddHandler(int fd, uint32_t events, internal::FdHandler& handler);
  // With kRead/kWrite, for a stream whose short reads drain its fd: readiness may be reported
  // only when it changes (see kPollEdgeTriggered).
  static constexpr uint32_t kEdgeTriggered = kPollEdgeTriggered;
  // Reported to streams (not to Handlers) with kRead: the peer closed its sending side.
  static constexpr uint32_t kPeerClosed = kPollPeerClosed;

  // A Handler lives in its own block, so that it stays in place while it runs even if it
  // removes itself or the slot table grows.
  struct CallbackHandler final : internal::FdHandler {
    explicit CallbackHandler(Handler handler) : callback(std::move(handler)) {}
    void OnFdEvents(int fd, uint32_t events) override {
      callback(fd, events & (kRead | kWrite | kError));  // the documented bits only
    }
    Handler callback;
  };
  struct HandlerSlot {
    internal::FdHandler* handler = nullptr;  // null: no handler
    std::unique_ptr<CallbackHandler> owned;  // `handler`, if the loop owns it
    uint32_t generation = 0;                 // of the registration in `handler`
    uint32_t served = 0;                     // serve_count_ when it was last called; 0: never
  };
  // What the poller hands back with each event: the fd and the registration's generation, so that
  // an event for a handler removed meanwhile (or replaced on the same fd number) is dropped, and
  // whether the registration is edge-triggered (kEdgeToken, in a bit no fd number uses).
  static constexpr uint64_t kEdgeToken = uint64_t{1} << 31;
  static uint64_t Token(int fd, uint32_t generation, uint32_t events) {
    return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd) |
           ((events & kEdgeTriggered) ? kEdgeToken : 0);
  }
  static int FdOf(uint64_t token) { return static_cast<int>(token & (kEdgeToken - 1)); }
  struct Timer {
    int64_t deadline_ns;  // monotonic
    uint64_t id;          // increasing: ties run in the order they were added
  };

  IOLoop(std::unique_ptr<Poller> poller, internal::QueueRef queue);

  // Min-heap order on (deadline, id).
  static bool LaterTimer(const Timer& a, const Timer& b);
  TimeoutHandle AddTimer(int64_t base_ns, absl::Duration delay, Callback callback);

  absl::Status RunOnce();
  // Orders the ready fds by when their handlers were last called, longest ago first; leaves them
  // in the poller's order if they are all edge-triggered and it lists those as they came.
  void ServeLeastRecentlyServedFirst();
  HandlerSlot* FindHandler(int fd);
  absl::Duration PollTimeout(int64_t now_ns) const;
  void RunDueTimers(int64_t now_ns);
  void CompactTimers();

  template <typename T>
  static Future<T> AsFuture(Future<T> future) {
    return future;
  }
  template <typename T>
  static Future<T> AsFuture(Task<T> task) {
    return std::move(task).future();
  }
  template <typename T>
  static Future<T> AsFuture(absl::StatusOr<T> result) {
    return MakeReadyFuture<T>(std::move(result));
  }

  // The deadline of a timer that never comes.
  static constexpr int64_t kNever = INT64_MAX;

  const std::unique_ptr<Poller> poller_;
  const bool edges_in_arrival_order_;  // poller_->ListsEdgesInArrivalOrder()
  const internal::QueueRef queue_;
  internal::TaskList tasks_;  // every unfinished Task started on this loop
  const int64_t wall_minus_monotonic_ns_;  // Time() = monotonic + this
  std::atomic<bool> stop_requested_{false};
  bool running_ = false;

  std::vector<HandlerSlot> handlers_;  // indexed by fd
  uint32_t next_generation_ = 0;
  std::vector<PollEvent> ready_;
  uint32_t serve_count_ = 0;  // handler calls so far (wraps: only an order depends on it)
  // The last iteration's handler calls: serve_count_ values after last_batch_start_, up to
  // last_batch_end_.
  uint32_t last_batch_start_ = 0;
  uint32_t last_batch_end_ = 0;
  // ServeLeastRecentlyServedFirst's (kept for their capacity).
  std::vector<uint32_t> in_last_batch_;
  std::vector<uint64_t> earlier_;
  std::vector<PollEvent> ordered_;
  bool dispatching_ = false;
  // Handlers removed while the ready ones are being called, destroyed after the last call.
  std::vector<std::unique_ptr<CallbackHandler>> retired_;

  std::vector<Timer> timer_heap_;  // min-heap on (deadline_ns, id)
  absl::flat_hash_map<uint64_t, Callback> timers_;  // pending (not cancelled) timers by id
  std::vector<uint64_t> due_;  // ids of the timers one iteration runs
  // Runs `batch` in order and empties it.
  void RunBatch(std::vector<Callback>& batch);
  // Moves what the queue holds to carried_: callbacks queued by callbacks wait for the next
  // iteration, so one that queues itself again runs once per iteration, not once per ready fd.
  // The check inline: it follows every ready fd's callbacks, and almost always finds nothing
  // (out of line, GCC saved six registers before looking: 24 instructions a line at pipeline 1).
  void CarryQueued() {
    if (!queue_->empty()) CarryQueuedSlow();
  }
  void CarryQueuedSlow();

  std::vector<Callback> batch_;    // a batch of callbacks being run (kept for its capacity)
  std::vector<Callback> carried_;  // for the next iteration, before what is queued later
  std::vector<Callback> carried_batch_;
  std::vector<Callback> carry_;
  // CallAtIterationEnd's handlers, in the order they asked; null where cancelled or called.
  std::vector<internal::FdHandler*> iteration_end_;  // slots [0, iteration_end_size_) in use
  size_t iteration_end_size_ = 0;
  uint64_t iteration_ = 0;
  uint64_t next_timer_id_ = 1;
};

template <typename F>
auto IOLoop::RunSync(F&& func, absl::Duration timeout) {
  using Returned = std::invoke_result_t<F>;
  if constexpr (std::is_void_v<Returned>) {
    return RunSync([&func]() -> absl::Status {
      func();
      return absl::OkStatus();
    }, timeout);
  } else if constexpr (std::is_same_v<Returned, absl::Status>) {
    return RunSync([&func] { return MakeReadyFuture<void>(func()); }, timeout);
  } else {
    using FutureType = decltype(AsFuture(std::declval<Returned>()));
    using Result = typename FutureType::Result;
    if (running_) {
      return Result(absl::FailedPreconditionError(
          "IOLoop::RunSync: the loop is running already (await the future instead)"));
    }
    // Shared with the callbacks, which may outlive this call (if the loop stops before they
    // run, or runs again later): they touch this frame only while `waiting`.
    auto waiting = std::make_shared<bool>(true);
    FutureType future;
    AddCallback([this, &func, &future, waiting] {
      if (!*waiting) return;
      future = AsFuture(func());
      future.AddDoneCallback([this, waiting](const Result&) {
        if (*waiting) Stop();
      });
    });
    TimeoutHandle timer;
    bool timed_out = false;
    if (timeout != absl::InfiniteDuration()) {
      timer = CallLater(timeout, [this, &timed_out] {
        timed_out = true;
        Stop();
      });
    }
    absl::Status started = Start();
    *waiting = false;
    RemoveTimeout(timer);
    if (!started.ok()) return Result(std::move(started));
    if (future.valid() && future.done()) {
      if constexpr (std::is_copy_constructible_v<Result>) {
        return future.result();
      } else {
        return future.TakeResult();
      }
    }
    if (timed_out) {
      return Result(absl::DeadlineExceededError(absl::StrCat(
          "IOLoop::RunSync: operation timed out after ", absl::FormatDuration(timeout))));
    }
    return Result(absl::AbortedError("IOLoop::RunSync: the loop was stopped before the operation "
                                     "completed"));
  }
}

}  // namespace gust

#endif  // GUST_IOSTREAM_IO_LOOP_H_
