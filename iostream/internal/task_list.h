// TaskList: the coroutine frames of unfinished Tasks, linked through the frames themselves, so
// that what owns the work (an IOLoop, a TCPServer) can destroy every suspended frame, and with
// it what the frame holds (streams close, fds are freed). A frame unlinks itself when it ends.

#ifndef GUST_IOSTREAM_INTERNAL_TASK_LIST_H_
#define GUST_IOSTREAM_INTERNAL_TASK_LIST_H_

#include <coroutine>

namespace gust {
namespace internal {

class TaskLink {
 public:
  TaskLink() = default;
  TaskLink(const TaskLink&) = delete;
  TaskLink& operator=(const TaskLink&) = delete;
  ~TaskLink() { Unlink(); }

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
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_TASK_LIST_H_
