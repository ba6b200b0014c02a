// CallbackQueue: the IOLoop's thread-safe list of callbacks for its next iteration, and the
// eventfd (or pipe) that wakes the loop when another thread adds one.
//
// It is shared (counted references: QueueRef) between the loop and every Future made on it, so a
// future that resolves after its loop is gone drops its callbacks instead of touching a
// destroyed loop.

#ifndef GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_
#define GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "iostream/internal/intrusive_ref.h"

namespace gust {
namespace internal {

class CallbackQueue;
// Futures' states hold their loop's queue this way: they may outlive the loop.
using QueueRef = IntrusiveRef<CallbackQueue>;

namespace callback_queue_internal {
// Its address names the calling thread among the running ones, found with one
// thread-pointer-relative instruction: std::this_thread::get_id() is a call into libc, and a
// settled read asks twice (about 12 instructions a line at pipeline 1).
extern constinit thread_local char thread_tag;
inline const void* CurrentThreadTag() { return &thread_tag; }
}  // namespace callback_queue_internal

class CallbackQueue {
 public:
  using Callback = absl::AnyInvocable<void()>;

  static absl::StatusOr<QueueRef> Create();

  CallbackQueue(const CallbackQueue&) = delete;
  CallbackQueue& operator=(const CallbackQueue&) = delete;

  // The reference count: any thread may take or drop a reference (a Promise resolved there).
  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Queues `callback` (a Callback, or anything one is made of) for the loop's next batch. Safe
  // from any thread. From the loop's own thread it takes no lock and wakes nothing (the loop
  // cannot be asleep in the poller then), and the Callback is made in place in the queue (a
  // future's continuation is queued once per read a coroutine waits for); from another it locks
  // and wakes the loop. After Close(), the callback is destroyed without running.
  template <typename F>
  void Add(F&& callback) {
    if (OnLoopThread()) {
      if (!closed_.load(std::memory_order_relaxed)) local_.emplace_back(std::forward<F>(callback));
      return;
    }
    AddFromOtherThread(std::forward<F>(callback));
  }

  // Wakes the loop from another thread without queueing anything (IOLoop::Stop).
  void Wake();

  // Moves the queued callbacks into `*batch` (replacing its contents): the loop thread's own
  // first, then those from other threads. Inline up to the lock: the loop takes a batch after
  // every ready fd whose handler queued something (a coroutine to resume, at one line a read).
  void TakeBatch(std::vector<Callback>* batch) {
    batch->clear();
    batch->swap(local_);
    if (remote_pending_.load(std::memory_order_acquire)) TakeRemote(batch);
  }

  // On the loop's thread only.
  bool empty() const { return local_.empty() && !remote_pending_.load(std::memory_order_acquire); }

  // The fd the loop watches for readability, and what it calls when it is readable.
  int wake_fd() const { return read_fd_; }
  void DrainWakeFd();

  // The loop's thread: the one that made the loop until a thread runs it, then the last one that
  // ran it. Set it only while no other thread can be using the queue as the loop's thread.
  void SetLoopThreadToCurrent() {
    loop_thread_.store(callback_queue_internal::CurrentThreadTag(), std::memory_order_release);
  }
  bool OnLoopThread() const {
    return loop_thread_.load(std::memory_order_acquire) ==
           callback_queue_internal::CurrentThreadTag();
  }

  // Drops every queued callback and refuses new ones. Called by the loop's destructor.
  void Close();

 private:
  CallbackQueue(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  ~CallbackQueue();

  void AddFromOtherThread(Callback callback);
  // Out of line: the Callback made here, inline in Add, gave every caller (a settled future's
  // continuation, queued once per read a coroutine waits for) a frame and a stack check.
  template <typename F>
  [[gnu::noinline]] void AddFromOtherThread(F&& callback) {
    AddFromOtherThread(Callback(std::forward<F>(callback)));
  }
  void TakeRemote(std::vector<Callback>* batch);
  void WriteWakeFd();

  std::atomic<uint32_t> refs_{0};

  const int read_fd_;
  const int write_fd_;  // == read_fd_ for an eventfd
  std::atomic<const void*> loop_thread_{callback_queue_internal::CurrentThreadTag()};
  std::atomic<bool> closed_{false};

  // The loop thread's callbacks: no lock.
  std::vector<Callback> local_;

  // Other threads' callbacks. std::mutex rather than absl::Mutex: with a prebuilt
  // (uninstrumented) Abseil, ThreadSanitizer sees pthread mutexes but not absl::Mutex.
  mutable std::mutex mu_;
  std::vector<Callback> remote_;
  std::atomic<bool> remote_pending_{false};  // remote_ is not empty, or a wake-up is pending
  // A wake-up is written and not yet taken by TakeBatch: later adds need not write again.
  bool wake_pending_ = false;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_
