// TaskList: the coroutine frames of unfinished Tasks, linked through the frames themselves, so
// that what owns the work (an IOLoop, a TCPServer) can destroy every suspended frame, and with
// it what the frame holds (streams close, fds are freed). A frame unlinks itself when it ends,
// and may tell the list how it ended (set_on_finish): a server counts its connections so, with
// nothing allocated per task.

#ifndef GUST_IOSTREAM_INTERNAL_TASK_LIST_H_
#define GUST_IOSTREAM_INTERNAL_TASK_LIST_H_

#include <coroutine>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace gust {
namespace internal {

class TaskLink {
 public:
  TaskLink() = default;
  TaskLink(const TaskLink&) = delete;
  TaskLink& operator=(const TaskLink&) = delete;
  ~TaskLink() { Unlink(); }

  bool linked() const { return prev_ != nullptr; }

  void Unlink() {
    if (prev_ == nullptr) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

 private:
  friend class TaskList;
  TaskLink* prev_ = nullptr;
  TaskLink* next_ = nullptr;
  std::coroutine_handle<> frame_;
};

class TaskList {
 public:
  // Called with a task's result when its frame ends while linked here (the task finished, or
  // its loop destroyed it: absl::CancelledError), or when AdoptTask is handed a task that has
  // ended already. Not for the frames DestroyAll destroys.
  using FinishHook = absl::AnyInvocable<void(const absl::Status& result)>;

  TaskList() { head_.prev_ = head_.next_ = &head_; }
  ~TaskList() { DestroyAll(); }
  TaskList(const TaskList&) = delete;
  TaskList& operator=(const TaskList&) = delete;

  void Add(TaskLink& link, std::coroutine_handle<> frame) {
    link.Unlink();
    link.frame_ = frame;
    link.prev_ = head_.prev_;
    link.next_ = &head_;
    head_.prev_->next_ = &link;
    head_.prev_ = &link;
  }

  void set_on_finish(FinishHook hook) { on_finish_ = std::move(hook); }
  // What a frame linked here calls as it ends.
  void Finished(const absl::Status& result) {
    if (on_finish_ != nullptr) on_finish_(result);
  }

  // Destroys every linked frame, oldest first, including frames linked while it runs (a frame's
  // destructors may start tasks).
  void DestroyAll() {
    while (head_.next_ != &head_) {
      TaskLink* link = head_.next_;
      std::coroutine_handle<> frame = link->frame_;
      link->Unlink();
      frame.destroy();
    }
  }

 private:
  TaskLink head_;
  FinishHook on_finish_;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_TASK_LIST_H_
