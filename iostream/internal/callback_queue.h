// CallbackQueue: the IOLoop's thread-safe list of callbacks for its next iteration, and the
// eventfd (or pipe) that wakes the loop when another thread adds one.
//
// It is shared (std::shared_ptr) between the loop and every Future made on it, so a future that
// resolves after its loop is gone drops its callbacks instead of touching a destroyed loop.

#ifndef GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_
#define GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace gust {
namespace internal {

class CallbackQueue {
 public:
  using Callback = absl::AnyInvocable<void()>;

  static absl::StatusOr<std::shared_ptr<CallbackQueue>> Create();

  // For Create() only (std::make_shared needs a public constructor).
  class PassKey {
    friend class CallbackQueue;
    PassKey() = default;
  };
  CallbackQueue(PassKey, int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  ~CallbackQueue();

  CallbackQueue(const CallbackQueue&) = delete;
  CallbackQueue& operator=(const CallbackQueue&) = delete;

  // Queues `callback` for the loop's next batch. Safe from any thread; wakes the loop unless
  // called from the loop's own thread (which cannot be asleep in the poller at that moment).
  // After Close(), the callback is destroyed without running.
  void Add(Callback callback);

  // Wakes the loop from another thread without queueing anything (IOLoop::Stop).
  void Wake();

  // Moves the queued callbacks into `*batch` (replacing its contents).
  void TakeBatch(std::vector<Callback>* batch);

  bool empty() const;

  // The fd the loop watches for readability, and what it calls when it is readable.
  int wake_fd() const { return read_fd_; }
  void DrainWakeFd();

  // The thread that is running the loop, or a default id when none is.
  void set_loop_thread(std::thread::id id) { loop_thread_.store(id, std::memory_order_release); }

  // Drops every queued callback and refuses new ones. Called by the loop's destructor.
  void Close();

 private:
  void WriteWakeFd();

  const int read_fd_;
  const int write_fd_;  // == read_fd_ for an eventfd
  std::atomic<std::thread::id> loop_thread_{};

  // std::mutex rather than absl::Mutex: with a prebuilt (uninstrumented) Abseil, ThreadSanitizer
  // sees pthread mutexes but not absl::Mutex.
  mutable std::mutex mu_;
  std::vector<Callback> callbacks_;
  // A wake-up is written and not yet taken by TakeBatch: later adds need not write again.
  bool wake_pending_ = false;
  bool closed_ = false;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_CALLBACK_QUEUE_H_
