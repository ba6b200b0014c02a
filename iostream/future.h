// Future<T> and Promise<T>: a result that arrives later, the way Tornado's futures behave.
//
// A Future resolves once, with absl::StatusOr<T> (absl::Status for Future<void>). Done callbacks
// always run from the IOLoop in a later iteration, never inside the call that resolved the
// future, exactly as tornado.concurrent.Future callbacks are scheduled with add_callback; this
// is what makes it safe for the code that resolves a future to keep running afterwards.
// `co_await future` (inside a gust::Task) yields the result; awaiting a future that is done
// already continues at once, without a loop round trip, like Python's `await`. A future made
// ready (MakeReadyFuture, or a read the buffered data satisfies) holds its result itself and
// allocates nothing, as seastar's ready futures do; copying it copies the result. A write's
// future refers to its stream's progress and allocates nothing unless it is awaited (or given a
// callback) while the write is pending.
//
// Example:
//   Promise<int> promise;
//   Future<int> future = promise.future();
//   future.AddDoneCallback([](const absl::StatusOr<int>& result) { ... });
//   promise.SetResult(42);  // the callback runs in the loop's next iteration

#ifndef GUST_IOSTREAM_FUTURE_H_
#define GUST_IOSTREAM_FUTURE_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
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
#include "iostream/internal/intrusive_ref.h"
#include "iostream/internal/state_pool.h"
#include "iostream/log.h"

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
const internal::QueueRef& CurrentLoopQueue();

// What a future resolves when the code that should have resolved it went away.
inline absl::Status BrokenPromiseError() {
  return absl::CancelledError("broken promise: the Promise was destroyed without a result");
}

using internal::IntrusiveRef;
using internal::QueueRef;

// The status in a result: the result itself for Future<void>.
template <typename T>
const absl::Status& StatusOf(const FutureResult<T>& result) {
  if constexpr (std::is_void_v<T>) {
    return result;
  } else {
    return result.status();
  }
}

template <typename T>
class State;
template <typename T>
using StateRef = IntrusiveRef<State<T>>;

// The shared state of a Future and its Promise. It belongs to the loop's thread: its reference
// count and continuations are touched only there, without locks (a Promise resolved or dropped on
// another thread hands its reference to the loop's queue). States are recycled per thread.
template <typename T>
class State {
 public:
  using Result = FutureResult<T>;
  using DoneCallback = absl::AnyInvocable<void(const Result&)>;

  static void* operator new(size_t size) { return internal::PoolAllocate(size); }
  static void operator delete(void* block, size_t size) { internal::PoolFree(block, size); }

  explicit State(const QueueRef& queue) : queue_(queue) {}
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  ~State() {
    while (more_ != nullptr) delete PopMore();
    if (log_if_unretrieved_ && has_result_ && !ResultStatus().ok() && !retrieved_) {
      LogUnretrievedFailure();
    }
    if (has_result_) result_.~Result();
  }

  void AddRef() { ++refs_; }
  // The last release destroys the state out of line: inlined, the destructor (its log of an
  // unobserved failure) gave every function that drops a reference a large stack frame.
  void Release() {
    if (--refs_ == 0) Destroy();
  }
  // Whether a reference other than the caller's (and the one that keeps the state alive while
  // its continuations run) exists.
  bool shared() const { return refs_ - (running_continuations_ ? 1 : 0) > 1; }

  bool done() const { return has_result_; }
  internal::CallbackQueue& queue() const { return *queue_; }

  // On the loop's thread. Returns false (and changes nothing) if resolved already. The
  // continuations run from the loop in a later iteration, never inside this call.
  // By reference: a read's result passes through several calls on its way here, and each copy
  // of a StatusOr<std::string> by value was a move and a destruction (60 instructions a line).
  bool Resolve(const Result& result) { return Resolve(Result(result)); }
  bool Resolve(Result&& result) {
    if (has_result_) return false;
    new (&result_) Result(std::move(result));
    has_result_ = true;
    if (has_continuations()) ScheduleContinuations();
    return true;
  }

  void AddDoneCallback(DoneCallback callback) {
    retrieved_ = true;
    AppendMore(nullptr, std::move(callback));
    if (has_result_) ScheduleContinuations();
  }

  // `waiter` is resumed from the loop once the state is resolved. A waiter whose frame is
  // destroyed first (its loop or server went away) must RemoveWaiter itself.
  void AddWaiter(std::coroutine_handle<> waiter) {
    if (!has_continuations()) {
      first_waiter_ = waiter;
    } else {
      AppendMore(waiter, nullptr);
    }
  }
  void RemoveWaiter(std::coroutine_handle<> waiter) {
    if (first_waiter_ == waiter) {
      first_waiter_ = nullptr;
      return;
    }
    for (Continuation* node = more_; node != nullptr; node = node->next) {
      if (node->waiter == waiter) node->waiter = nullptr;
    }
  }

  // Only valid once done() is true; the result never changes after that.
  const Result& result() {
    retrieved_ = true;
    return result_;
  }
  Result TakeResult() {
    retrieved_ = true;
    return std::move(result_);
  }
  // For results that cannot be copied: the first call moves the result out, later ones fail.
  Result TakeResultOnce() {
    retrieved_ = true;
    if (taken_) {
      return Result(absl::FailedPreconditionError(
          "Future: the result (of a type that cannot be copied) was taken already"));
    }
    taken_ = true;
    return std::move(result_);
  }

  void set_log_if_unretrieved(bool log) { log_if_unretrieved_ = log; }

 private:
  [[gnu::noinline]] void Destroy() { delete this; }
  // Out of line and cold: the message's temporaries gave the destructor, which runs once per
  // read a coroutine waited for, a frame and a stack check.
  [[gnu::noinline, gnu::cold]] void LogUnretrievedFailure() const {
    internal::LogLine(LogSeverity::kError, absl::StrCat("a Task failed and nobody awaited it: ",
                                                        ResultStatus().ToString()));
  }

  // A continuation after the first waiter: a done callback, or another waiter.
  struct Continuation {
    static void* operator new(size_t size) { return internal::PoolAllocate(size); }
    static void operator delete(void* block, size_t size) { internal::PoolFree(block, size); }

    Continuation* next = nullptr;
    std::coroutine_handle<> waiter;
    DoneCallback callback;
  };

  bool has_continuations() const { return first_waiter_ || more_ != nullptr; }
  void AppendMore(std::coroutine_handle<> waiter, DoneCallback callback) {
    auto* node = new Continuation{nullptr, waiter, std::move(callback)};
    Continuation** end = &more_;
    while (*end != nullptr) end = &(*end)->next;
    *end = node;
  }
  Continuation* PopMore() {
    Continuation* node = more_;
    more_ = node->next;
    return node;
  }

  const absl::Status& ResultStatus() const { return StatusOf<T>(result_); }

  void ScheduleContinuations() {
    if (scheduled_) return;
    scheduled_ = true;
    // Holds a reference: if the loop goes away first, dropping the callback releases it.
    queue_->Add([self = StateRef<T>(this)] { self->RunContinuations(); });
  }

  // One at a time, taking each out first: a continuation may add more, remove a waiter whose
  // frame it destroys, or drop the last other reference to this state.
  void RunContinuations() {
    scheduled_ = false;
    running_continuations_ = true;
    for (;;) {
      if (first_waiter_) {
        std::coroutine_handle<> waiter = first_waiter_;
        first_waiter_ = nullptr;
        waiter.resume();
      } else if (more_ != nullptr) {
        std::unique_ptr<Continuation> next(PopMore());
        if (next->waiter) next->waiter.resume();
        if (next->callback != nullptr) next->callback(result_);
      } else {
        running_continuations_ = false;
        return;
      }
    }
  }

  const QueueRef queue_;
  uint32_t refs_ = 0;
  bool retrieved_ = false;
  bool taken_ = false;
  bool log_if_unretrieved_ = false;
  bool scheduled_ = false;
  bool running_continuations_ = false;
  bool has_result_ = false;
  // Constructed by Resolve (a union: an optional's flag would cost the state 8 more bytes).
  union {
    Result result_;
  };
  // The first waiter inline (a coroutine awaits almost every state), callbacks and more waiters
  // in a pooled list, in order: a state lives as long as the operation it reports on (an idle
  // connection's read, say), so it is kept small: 48 bytes for Future<void>, 80 for a read's.
  std::coroutine_handle<> first_waiter_;
  Continuation* more_ = nullptr;
};

template <typename T>
StateRef<T> NewState(const QueueRef& queue) {
  return StateRef<T>(new State<T>(queue));
}
template <typename T>
StateRef<T> NewState() {
  return NewState<T>(CurrentLoopQueue());
}

// How far a stream's writes have got, shared with the futures of those writes: a write's
// Future<void> waits for a mark (the stream's total of bytes queued, its own included) to be
// reached, and needs no State of its own unless somebody waits on it while it is pending. Most
// writes' futures are dropped unread (an answer per line, say): they then cost nothing but a
// reference to this. On the loop's thread only, like a State; one per stream.
class Progress {
 public:
  static void* operator new(size_t size) { return internal::PoolAllocate(size); }
  static void operator delete(void* block, size_t size) { internal::PoolFree(block, size); }

  Progress() = default;
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void AddRef() { ++refs_; }
  void Release() {
    if (--refs_ == 0) Destroy();
  }

  bool Done(uint64_t mark) const { return mark <= reached_ || ended_; }
  // Only once Done(mark).
  const absl::Status& ResultFor(uint64_t mark) const {
    static const absl::Status ok;
    return mark <= reached_ ? ok : error_;
  }

  // A state resolved with ResultFor(mark) once Done(mark) (at once if it is).
  StateRef<void> Watch(uint64_t mark) { return Watch(mark, Done(mark)); }
  // A state resolved at the next Reach() or End() that covers `mark`, even if it is reached
  // already: an empty write resolves at the flush after it, as a write does.
  StateRef<void> WatchNext(uint64_t mark) { return Watch(mark, false); }
  // States made by Watch or WatchNext that are still pending.
  size_t watching() const { return watchers_ == nullptr ? 0 : watchers_->size(); }

  // Everything up to `reached` is done: resolves the states waiting for it.
  void Reach(uint64_t reached) {
    reached_ = reached;
    if (watching() == 0) return;
    size_t resolved = 0;
    for (auto& [mark, state] : *watchers_) {
      if (mark > reached) break;
      state->Resolve(absl::OkStatus());
      ++resolved;
    }
    watchers_->erase(watchers_->begin(), watchers_->begin() + resolved);
  }
  // No more progress: marks not reached by now fail with `error`. A state still waiting for
  // the next Reach whose mark is reached (an empty write's, made since the last Reach) succeeds:
  // everything written before it went out, as Tornado, which resolves an empty write at once,
  // reports.
  void End(absl::Status error) {
    ended_ = true;
    error_ = std::move(error);
    if (watchers_ == nullptr) return;
    std::vector<std::pair<uint64_t, StateRef<void>>> pending = std::move(*watchers_);
    watchers_->clear();
    for (auto& [mark, state] : pending) state->Resolve(ResultFor(mark));
  }

 private:
  [[gnu::noinline]] void Destroy() { delete this; }

  StateRef<void> Watch(uint64_t mark, bool done) {
    StateRef<void> state = NewState<void>();
    if (done) {
      state->Resolve(ResultFor(mark));
      return state;
    }
    if (watchers_ == nullptr) {
      watchers_ = std::make_unique<std::vector<std::pair<uint64_t, StateRef<void>>>>();
    }
    // By mark, so that Reach resolves a prefix; a state for an older write is rare.
    auto at = watchers_->end();
    while (at != watchers_->begin() && std::prev(at)->first > mark) --at;
    watchers_->emplace(at, mark, state);
    return state;
  }

  uint32_t refs_ = 0;
  bool ended_ = false;
  uint64_t reached_ = 0;
  absl::Status error_;
  // Made on the first Watch: most streams' writes are never waited on while pending.
  std::unique_ptr<std::vector<std::pair<uint64_t, StateRef<void>>>> watchers_;
};

using ProgressRef = IntrusiveRef<Progress>;

inline ProgressRef NewProgress() { return ProgressRef(new Progress()); }

}  // namespace future_internal

template <typename T>
class Promise;
template <typename T>
class Task;
template <typename T>
class Future;

namespace future_internal {
// The future of a write whose mark is `mark` (see Progress); with `next`, one that resolves at
// the next Reach() even if the mark is reached already (Progress::WatchNext).
Future<void> MakeProgressFuture(ProgressRef progress, uint64_t mark, bool next = false);
}  // namespace future_internal

// Future<T>: the read side of a result; copies share it. A default-constructed Future is not
// valid() and must not be used. A Future belongs to the thread of the loop it was made on.
template <typename T>
class Future {
 public:
  using Result = FutureResult<T>;
  using DoneCallback = absl::AnyInvocable<void(const Result&)>;

  Future() : raw_{} {}
  Future(const Future& other) : raw_{} { ConstructFrom(other); }
  Future(Future&& other) noexcept : raw_{} {
    ConstructFrom(std::move(other));
    other.Reset();
  }
  Future& operator=(const Future& other) {
    if (this != &other) {
      Reset();
      ConstructFrom(other);
    }
    return *this;
  }
  Future& operator=(Future&& other) noexcept {
    if (this != &other) {
      Reset();
      ConstructFrom(std::move(other));
      other.Reset();
    }
    return *this;
  }
  ~Future() { Reset(); }

  // False for a default-constructed or moved-from future.
  bool valid() const { return kind_ != Kind::kInvalid; }

  // Tornado: Future.done().
  bool done() const {
    if (kind_ == Kind::kHeld) return true;
    if (const Tracked* tracked = this->tracked(); tracked != nullptr) {
      return tracked->progress->Done(tracked->mark);
    }
    return state()->done();
  }

  // Tornado: Future.result() / Future.exception(). Call it only once done() is true; before
  // that it returns a FailedPreconditionError (and fails a debug check).
  const Result& result() const {
    if (const Result* held = this->held(); held != nullptr) return *held;
    if (!done()) {
      GUST_DCHECK(false, "Future::result() called before the future is done");
      static const Result* const not_done = NotDoneResult();
      return *not_done;
    }
    if constexpr (kCanTrack) {
      if (const Tracked* tracked = this->tracked(); tracked != nullptr) {
        return tracked->progress->ResultFor(tracked->mark);
      }
    }
    return state()->result();
  }

  // Moves the result out, for results that cannot be copied (a Future<std::unique_ptr<X>>):
  // the first TakeResult() on any copy of this future gets it; later ones get
  // FailedPreconditionError. `co_await` takes it the same way. Call it once done() is true.
  Result TakeResult() const {
    static_assert(!std::is_copy_constructible_v<Result>, "use result() for copyable results");
    if (!done()) {
      GUST_DCHECK(false, "Future::TakeResult() called before the future is done");
      return Result(
          absl::FailedPreconditionError("Future::TakeResult() called before the future is done"));
    }
    return state()->TakeResultOnce();
  }

  // Tornado: Future.add_done_callback(). `callback` runs from the IOLoop the future was made
  // on, in an iteration after the one that resolved it (after this call, if it is done).
  void AddDoneCallback(DoneCallback callback) const {
    if constexpr (kHoldsValue) {
      if (const Result* held = this->held(); held != nullptr) {
        // A state just to schedule the callback from the loop, as for any done future.
        future_internal::StateRef<T> state = future_internal::NewState<T>();
        state->Resolve(*held);
        state->AddDoneCallback(std::move(callback));
        return;
      }
    }
    if constexpr (kCanTrack) {
      if (const Tracked* tracked = this->tracked(); tracked != nullptr) {
        tracked->progress->Watch(tracked->mark)->AddDoneCallback(std::move(callback));
        return;
      }
    }
    state()->AddDoneCallback(std::move(callback));
  }

  // `co_await future` yields Result. Awaiting a temporary future hands its value over without
  // a copy when no other Future shares it.
  auto operator co_await() const& { return Awaiter<false>(*this); }
  auto operator co_await() && { return Awaiter<true>(this); }

 private:
  friend class Promise<T>;
  friend class Task<T>;
  template <typename U>
  friend Future<U> MakeReadyFuture(FutureResult<U> result);
  template <typename U>
  requires(!std::is_void_v<U>) friend Future<U> MakeReadyFuture(std::type_identity_t<U>&& value);
  friend Future<void> future_internal::MakeProgressFuture(future_internal::ProgressRef progress,
                                                          uint64_t mark, bool next);

  explicit Future(future_internal::StateRef<T> state) : raw_{} {
    if (state) Emplace(state_, std::move(state), Kind::kState);
  }
  // The held result made in place from `value` (a Result, or a T): by reference, so that it is
  // moved once, from MakeReadyFuture's argument into the future.
  template <typename V>
  explicit Future(std::in_place_t, V&& value) : raw_{} {
    static_assert(kHoldsValue);
    Emplace(held_, std::forward<V>(value), Kind::kHeld);
  }

  static const Result* NotDoneResult() {
    static const Result result(
        absl::FailedPreconditionError("Future::result() called before the future is done"));
    return &result;
  }

  // Lives in the awaiting coroutine's frame. If the frame is destroyed while suspended (its
  // loop or server is destroyed), it takes itself off the state, which is then never resumed.
  // A temporary future (`co_await stream->ReadUntil(...)`) lives until the end of the
  // full-expression that awaits it, so the awaiter refers to it (the frame holds one future, not
  // two); an lvalue future is copied, since the container it sits in may change meanwhile.
  template <bool kTemporary>
  class Awaiter {
   public:
    using Held = std::conditional_t<kTemporary, Future*, Future>;

    explicit Awaiter(Held future) : future_(std::move(future)) {}
    Awaiter(Awaiter&& other) noexcept : future_(std::move(other.future_)) {}
    ~Awaiter() {
      if (suspended_) future().state()->RemoveWaiter(suspended_);
    }

    bool await_ready() { return future().done(); }
    void await_suspend(std::coroutine_handle<> waiter) {
      suspended_ = waiter;
      Future& awaited = future();
      if constexpr (kCanTrack) {
        if (const Tracked* tracked = awaited.tracked(); tracked != nullptr) {
          // A pending write's future gets a state now, to hold the waiter.
          future_internal::StateRef<T> state = tracked->progress->Watch(tracked->mark);
          awaited.Reset();
          awaited.Emplace(awaited.state_, std::move(state), Kind::kState);
        }
      }
      awaited.state()->AddWaiter(waiter);
    }
    // Inline in the coroutine (GCC kept it out of line: a call per awaited line, 18
    // instructions of 577 a pipelined line).
    [[gnu::always_inline]] Result await_resume() {
      suspended_ = nullptr;
      Future& awaited = future();  // the temporary, or this awaiter's own copy
      if constexpr (kCanTrack) {
        if (awaited.kind_ == Kind::kTracked) return awaited.result();
      }
      if constexpr (std::is_copy_constructible_v<Result>) {
        if (Result* held = awaited.held(); held != nullptr) return std::move(*held);
        if (!awaited.state()->shared()) return awaited.state()->TakeResult();
        return awaited.state()->result();
      } else {
        return awaited.state()->TakeResultOnce();
      }
    }

   private:
    Future& future() {
      if constexpr (kTemporary) {
        return *future_;
      } else {
        return future_;
      }
    }

    Held future_;
    std::coroutine_handle<> suspended_{};
  };

  // A future is one of: invalid; a reference to a shared State; a result it holds itself (made
  // ready without a state: only a copyable result, since the copies of a future must share a
  // result they cannot copy); or, for a write's Future<void>, its stream's Progress and the
  // write's mark (see future_internal::Progress). A tagged union rather than std::variant, whose
  // copies and moves are out-of-line visits (twice per pipelined line): a Future<void> takes 24
  // bytes in every coroutine frame that holds one.
  static constexpr bool kHoldsValue = std::is_copy_constructible_v<Result>;
  static constexpr bool kCanTrack = std::is_void_v<T>;
  struct Tracked {
    future_internal::ProgressRef progress;
    uint64_t mark = 0;
  };
  struct Unused {};
  enum class Kind : uint8_t { kInvalid, kState, kHeld, kTracked };

  template <typename Member, typename Value>
  void Emplace(Member& member, Value&& value, Kind kind) {
    new (&member) Member(std::forward<Value>(value));
    kind_ = kind;
  }
  template <typename Other>
  void ConstructFrom(Other&& other) {
    switch (other.kind_) {
      case Kind::kInvalid:
        break;
      case Kind::kState:
        Emplace(state_, std::forward<Other>(other).state_, Kind::kState);
        break;
      case Kind::kHeld:
        Emplace(held_, std::forward<Other>(other).held_, Kind::kHeld);
        break;
      case Kind::kTracked:
        Emplace(tracked_, std::forward<Other>(other).tracked_, Kind::kTracked);
        break;
    }
  }
  void Reset() {
    switch (std::exchange(kind_, Kind::kInvalid)) {
      case Kind::kInvalid:
        break;
      case Kind::kState:
        state_.~StateRef();
        break;
      case Kind::kHeld:
        held_.~HeldType();
        break;
      case Kind::kTracked:
        tracked_.~TrackedType();
        break;
    }
  }

  const future_internal::StateRef<T>& state() const { return state_; }
  const Result* held() const {
    if constexpr (kHoldsValue) {
      return kind_ == Kind::kHeld ? &held_ : nullptr;
    } else {
      return nullptr;
    }
  }
  Result* held() {
    if constexpr (kHoldsValue) {
      return kind_ == Kind::kHeld ? &held_ : nullptr;
    } else {
      return nullptr;
    }
  }
  const Tracked* tracked() const {
    if constexpr (kCanTrack) {
      return kind_ == Kind::kTracked ? &tracked_ : nullptr;
    } else {
      return nullptr;
    }
  }

  using StateRef = future_internal::StateRef<T>;
  using HeldType = std::conditional_t<kHoldsValue, Result, Unused>;
  using TrackedType = std::conditional_t<kCanTrack, Tracked, Unused>;
  Kind kind_ = Kind::kInvalid;
  // raw_ zeroes the storage first: GCC at -O1 (the sanitizer builds) cannot tell which member
  // kind_ says is live, and warns that a copy may read an uninitialized one.
  static constexpr size_t kStorageSize =
      std::max({sizeof(StateRef), sizeof(HeldType), sizeof(TrackedType)});
  union {
    unsigned char raw_[kStorageSize];
    StateRef state_;
    HeldType held_;
    TrackedType tracked_;
  };
};

namespace future_internal {
inline Future<void> MakeProgressFuture(ProgressRef progress, uint64_t mark, bool next) {
  if (next) return Future<void>(progress->WatchNext(mark));
  Future<void> future;
  future.Emplace(future.tracked_, Future<void>::Tracked{std::move(progress), mark},
                 Future<void>::Kind::kTracked);
  return future;
}
}  // namespace future_internal

// Promise<T>: the write side. Made on a thread with an IOLoop (IOLoop::Current()), whose next
// iterations run the future's callbacks. On a thread without one, IOLoop::Current() makes a loop
// that thread owns: the callbacks (and awaiting tasks) then wait until that loop runs, and the
// thread's exit destroys it along with the tasks suspended on it. It may be resolved from any thread: from another one,
// the result travels through the loop's thread-safe queue. A Promise destroyed without a result
// fails its future with a "broken promise" CancelledError, so nothing awaits it forever.
template <typename T>
class Promise {
 public:
  using Result = FutureResult<T>;

  Promise() : state_(future_internal::NewState<T>()) {}
  // A promise whose callbacks run on the loop that owns `queue`: for code that knows its loop
  // (a stream's reads and writes), which spares a lookup of IOLoop::Current() per operation.
  explicit Promise(const internal::QueueRef& queue)
      : state_(future_internal::NewState<T>(queue)) {}
  // Inline and cheap when resolved (or moved from), as most promises are by then: a written
  // line's promise is moved and destroyed several times on its way.
  ~Promise() {
    if (state_) Break();
  }

  Promise(Promise&&) = default;
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      if (state_) Break();
      state_ = std::move(other.state_);
    }
    return *this;
  }

  // The future this promise resolves. Take it before resolving: a resolved promise lets go of
  // its state (so an awaiting coroutine can take the value over without a copy) and then
  // returns an invalid Future.
  Future<T> future() const { return Future<T>(state_); }

  // Tornado: Future.set_result() / set_exception(). Resolving twice is a programming error:
  // it fails a debug check, and in an optimized build the second result is ignored.
  void SetResult(Result&& result) {
    if (!state_) {
      GUST_DCHECK(false, "Promise resolved twice");
      return;
    }
    Settle(std::move(result), /*first_only=*/false);
  }
  // By reference above: a read's result taken by value was one more move and destruction of a
  // StatusOr<std::string> per line.
  void SetResult(const Result& result) { SetResult(Result(result)); }

  // Resolves with an error unless already resolved (Tornado's future_set_exc_info on a
  // future that may be done already).
  void SetErrorIfPending(absl::Status error) {
    if (state_ && !state_->done()) SetResult(std::move(error));
  }

  bool done() const { return !state_ || state_->done(); }

 private:
  [[gnu::noinline]] void Break() {
    Settle(future_internal::BrokenPromiseError(), /*first_only=*/true);
  }

  void Settle(Result&& result, bool first_only) {
    if (!state_->queue().OnLoopThread()) return SettleFromOtherThread(std::move(result));
    const bool first = state_->Resolve(std::move(result));
    GUST_DCHECK(first || first_only, "Promise resolved twice");
    state_.reset();
  }

  // Out of line: inline, the callback it queues gave Settle a frame and a stack check that
  // every read a coroutine waited for paid (22 instructions a line at pipeline 1).
  [[gnu::noinline]] void SettleFromOtherThread(Result&& result) {
    // The state (and its reference count) is touched only on the loop's thread.
    internal::CallbackQueue& queue = state_->queue();
    queue.Add([state = std::move(state_), result = std::move(result)]() mutable {
      state->Resolve(std::move(result));
    });
  }

  future_internal::StateRef<T> state_;
};

namespace internal {

// Resolves the promise in `slot`, if it holds one, and empties the slot: for a class that keeps
// an optional pending operation (a connect, a handshake) and settles it from more than one place.
template <typename T>
void SettleAndClear(std::optional<Promise<T>>& slot, FutureResult<T> result) {
  if (!slot.has_value()) return;
  Promise<T> promise = std::move(*slot);
  slot.reset();
  promise.SetResult(std::move(result));
}

}  // namespace internal

// A future that is already resolved. It allocates nothing when its result can be copied.
template <typename T>
Future<T> MakeReadyFuture(FutureResult<T> result) {
  if constexpr (std::is_copy_constructible_v<FutureResult<T>>) {
    return Future<T>(std::in_place, std::move(result));
  } else {
    future_internal::StateRef<T> state = future_internal::NewState<T>();
    state->Resolve(std::move(result));
    return Future<T>(std::move(state));
  }
}

// A future already resolved with `value`. Its result is made in place from the value, where
// the overload above moves a result made first (a line a read takes from the buffer: one
// StatusOr<std::string> made, moved and destroyed fewer).
template <typename T>
requires(!std::is_void_v<T>) Future<T> MakeReadyFuture(std::type_identity_t<T>&& value) {
  if constexpr (std::is_copy_constructible_v<FutureResult<T>>) {
    return Future<T>(std::in_place, std::move(value));
  } else {
    return MakeReadyFuture<T>(FutureResult<T>(std::move(value)));
  }
}

}  // namespace gust

#endif  // GUST_IOSTREAM_FUTURE_H_
