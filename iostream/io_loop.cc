#include "iostream/io_loop.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "iostream/internal/check.h"

namespace gust {
namespace {

thread_local IOLoop* current_loop = nullptr;
// The loop IOLoop::Current() made for this thread, if it had to make one.
thread_local std::unique_ptr<IOLoop> owned_loop;

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace future_internal {

const internal::QueueRef& CurrentLoopQueue() { return IOLoop::Current().queue_; }

internal::TaskList& CurrentTaskList() { return IOLoop::Current().tasks_; }

}  // namespace future_internal

bool IOLoop::LaterTimer(const Timer& a, const Timer& b) {
  if (a.deadline_ns != b.deadline_ns) return a.deadline_ns > b.deadline_ns;
  return a.id > b.id;
}

absl::StatusOr<std::unique_ptr<IOLoop>> IOLoop::Create() {
  absl::StatusOr<std::unique_ptr<Poller>> poller = NewPoller();
  if (!poller.ok()) return poller.status();
  absl::StatusOr<internal::QueueRef> queue = internal::CallbackQueue::Create();
  if (!queue.ok()) return queue.status();
  std::unique_ptr<IOLoop> loop(new IOLoop(*std::move(poller), *std::move(queue)));
  internal::CallbackQueue* raw_queue = loop->queue_.get();
  absl::Status added = loop->AddHandler(raw_queue->wake_fd(), kRead,
                                        [raw_queue](int, uint32_t) { raw_queue->DrainWakeFd(); });
  if (!added.ok()) return added;
  return loop;
}

IOLoop::IOLoop(std::unique_ptr<Poller> poller, internal::QueueRef queue)
    : poller_(std::move(poller)),
      edges_in_arrival_order_(poller_->ListsEdgesInArrivalOrder()),
      queue_(std::move(queue)),
      wall_minus_monotonic_ns_(absl::ToUnixNanos(absl::Now()) - MonotonicNanos()) {}

IOLoop::~IOLoop() {
  // The suspended tasks go first, while the loop still works: what their frames hold (streams,
  // servers) removes its handlers and timers here. Nothing of them runs again: the callbacks
  // that would have resumed them are dropped below.
  tasks_.DestroyAll();
  // Futures may outlive the loop; from now on their callbacks are dropped, not run.
  queue_->Close();
  carried_.clear();
  if (current_loop == this) current_loop = nullptr;
}

IOLoop& IOLoop::Current() {
  if (current_loop == nullptr) {
    absl::StatusOr<std::unique_ptr<IOLoop>> loop = Create();
    GUST_CHECK(loop.ok(), absl::StrCat("IOLoop::Current() could not make a loop: ",
                                       loop.status().ToString()));
    owned_loop = *std::move(loop);
    current_loop = owned_loop.get();
  }
  return *current_loop;
}

void IOLoop::MakeCurrent() {
  current_loop = this;
  if (!running_) queue_->SetLoopThreadToCurrent();
}

absl::Status IOLoop::Start() {
  if (running_) return absl::FailedPreconditionError("IOLoop::Start: the loop is running already");
  running_ = true;
  IOLoop* const previous = current_loop;
  current_loop = this;
  queue_->SetLoopThreadToCurrent();
  absl::Status status;
  while (status.ok()) {
    status = RunOnce();
    if (stop_requested_.exchange(false)) break;
  }
  current_loop = previous;
  running_ = false;
  return status;
}

void IOLoop::Stop() {
  stop_requested_.store(true);
  queue_->Wake();
}

// Inline in RunOnce, which runs a batch after every ready fd whose handler queued something.
[[gnu::always_inline]] inline void IOLoop::RunBatch(std::vector<Callback>& batch) {
  for (Callback& callback : batch) callback();
  batch.clear();
}

absl::Status IOLoop::RunOnce() {
  const absl::Duration timeout =
      (stop_requested_.load() || !queue_->empty() || !carried_.empty() || iteration_end_size_ != 0)
          ? absl::ZeroDuration()
          : PollTimeout(MonotonicNanos());
  absl::Status waited = poller_->Wait(timeout, &ready_);
  if (!waited.ok()) return waited;
  ServeLeastRecentlyServedFirst();

  // The callbacks queued before this iteration, oldest first.
  carried_batch_.swap(carried_);
  queue_->TakeBatch(&batch_);
  RunBatch(carried_batch_);
  RunBatch(batch_);
  CarryQueued();

  // Each event names its registration (fd and generation): a handler may remove another, or
  // remove one and add a new handler on the same fd number, and neither sees the other's
  // readiness. No lookup beyond indexing the slot table.
  dispatching_ = true;
  last_batch_start_ = serve_count_;
  for (const PollEvent& event : ready_) {
    const int fd = FdOf(event.token);
    if (fd < 0 || static_cast<size_t>(fd) >= handlers_.size()) continue;
    HandlerSlot& slot = handlers_[fd];
    if (slot.handler == nullptr || slot.generation != static_cast<uint32_t>(event.token >> 32)) {
      continue;  // removed (or replaced) since the poller saw it
    }
    slot.served = ++serve_count_;
    slot.handler->OnFdEvents(fd, event.events);
    // What the handler set going (the coroutine a read it finished resumes, done callbacks) runs
    // now, while the bytes the handler read are still in the cache: after every other ready
    // fd's handler, a 4 KiB echo over 100 connections sent them back from memory, at 0.79x-0.85x
    // the throughput of a hand-written epoll server (0.96x-1.03x this way).
    if (!queue_->empty()) {
      queue_->TakeBatch(&batch_);
      RunBatch(batch_);
      CarryQueued();
    }
  }
  dispatching_ = false;
  last_batch_end_ = serve_count_;
  std::vector<std::unique_ptr<CallbackHandler>> retired;
  retired.swap(retired_);  // destroyed here: a handler's destructor may touch handlers

  RunDueTimers(MonotonicNanos());

  // By index, not by iterator: a handler may ask again (appending), or cancel another's call.
  for (size_t i = 0; i < iteration_end_size_; ++i) {
    if (internal::FdHandler* handler = std::exchange(iteration_end_[i], nullptr)) {
      handler->OnIterationEnd();
    }
  }
  iteration_end_size_ = 0;
  ++iteration_;
  return absl::OkStatus();
}

// A level-triggered poller (epoll without EPOLLET, poll, select) lists the fds it reported last
// time before those that became ready since (epoll), or all of them in fd order (poll, select).
// Served in that order, a connection whose request just missed one wait is answered last in the
// next iteration, so its next request is likely to miss the wait after that too: under load the
// same connections fell behind (4 KiB echo over 100 connections: the slowest did 0.66-0.97 of
// the busiest's messages on epoll, 0.50 on poll, against 0.99 for an edge-triggered server,
// whose list is in order of arrival; 1.00 on both this way, p99 lower). The fd served longest
// ago first comes close to arrival order: each answer went out in the order the fds were
// served, and the peers' next requests followed them.
//
// Sorting every batch cost about 100 instructions an event (100 ready fds, one line each); the
// fds the last iteration served, most of a busy loop's, are put back in that order by position
// instead (about 50).
void IOLoop::ServeLeastRecentlyServedFirst() {
  if (ready_.size() < 2) return;
  // Edge-triggered registrations on a poller that queues them (epoll) come in the order they
  // became ready: first come, first served, which the reordering below only comes close to.
  // Streams over sockets and pipes register that way; any other fd among them, reorder.
  if (edges_in_arrival_order_ &&
      std::all_of(ready_.begin(), ready_.end(),
                  [](const PollEvent& event) { return (event.token & kEdgeToken) != 0; })) {
    return;
  }
  const uint32_t last_calls = last_batch_end_ - last_batch_start_;
  in_last_batch_.assign(last_calls, 0);
  earlier_.clear();
  for (size_t i = 0; i < ready_.size(); ++i) {
    const HandlerSlot* slot = FindHandler(FdOf(ready_[i].token));
    const uint32_t served = slot != nullptr ? slot->served : 0;
    // Where its call was among the last iteration's (unsigned: any other call is out of range).
    const uint32_t position = served - last_batch_start_ - 1;
    if (served != 0 && position < last_calls) {
      in_last_batch_[position] = static_cast<uint32_t>(i) + 1;
    } else {
      earlier_.push_back((uint64_t{served} << 32) | i);  // never served (0) keeps poller order
    }
  }
  std::sort(earlier_.begin(), earlier_.end());
  ordered_.resize(ready_.size());
  size_t next = 0;
  for (uint64_t key : earlier_) ordered_[next++] = ready_[static_cast<uint32_t>(key)];
  for (uint32_t index : in_last_batch_) {
    if (index != 0) ordered_[next++] = ready_[index - 1];
  }
  ready_.swap(ordered_);
}

void IOLoop::CarryQueuedSlow() {
  queue_->TakeBatch(&carry_);
  for (Callback& callback : carry_) carried_.push_back(std::move(callback));
  carry_.clear();
}

absl::Duration IOLoop::PollTimeout(int64_t now_ns) const {
  for (const Timer& top : timer_heap_) {
    // The heap's top may be a cancelled timer; its deadline is still a safe, early wake-up.
    if (top.deadline_ns == kNever) break;
    if (top.deadline_ns <= now_ns) return absl::ZeroDuration();
    return absl::Nanoseconds(top.deadline_ns - now_ns);
  }
  return absl::InfiniteDuration();
}

void IOLoop::RunDueTimers(int64_t now_ns) {
  // Collect first, then run: a timer added by a timer callback, even with zero delay, waits for
  // the next iteration, as in Tornado. Each is looked up again just before it runs, so one that
  // an earlier callback of this batch cancelled does not run.
  due_.clear();
  while (!timer_heap_.empty() && timer_heap_.front().deadline_ns <= now_ns) {
    due_.push_back(timer_heap_.front().id);
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), LaterTimer);
    timer_heap_.pop_back();
  }
  for (uint64_t id : due_) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    Callback callback = std::move(it->second);
    timers_.erase(it);
    callback();
  }
}

absl::Time IOLoop::Time() const {
  return absl::FromUnixNanos(MonotonicNanos() + wall_minus_monotonic_ns_);
}

IOLoop::TimeoutHandle IOLoop::CallLater(absl::Duration delay, Callback callback) {
  return AddTimer(MonotonicNanos(), delay, std::move(callback));
}

bool IOLoop::running() const { return running_; }

IOLoop::TimeoutHandle IOLoop::CallAt(absl::Time when, Callback callback) {
  // Through the fixed offset, not absl::Now(): timers for the same `when` get the same
  // deadline, and CallAt(Time() + d) is exactly CallLater(d).
  return AddTimer(wall_minus_monotonic_ns_ * -1, when - absl::UnixEpoch(), std::move(callback));
}

IOLoop::TimeoutHandle IOLoop::AddTimer(int64_t base_ns, absl::Duration delay, Callback callback) {
  // A deadline in the past is due at once (in deadline order); an infinite one, or one past
  // the clock's range, never comes (kNever).
  int64_t deadline = kNever;
  if (delay != absl::InfiniteDuration()) {
    const int64_t delay_ns = absl::ToInt64Nanoseconds(delay);  // saturates
    if (__builtin_add_overflow(base_ns, delay_ns, &deadline)) {
      deadline = delay_ns > 0 ? kNever : INT64_MIN;
    }
  }
  const uint64_t id = next_timer_id_++;
  timer_heap_.push_back({deadline, id});
  std::push_heap(timer_heap_.begin(), timer_heap_.end(), LaterTimer);
  timers_.emplace(id, std::move(callback));
  return TimeoutHandle{id};
}

bool IOLoop::RemoveTimeout(TimeoutHandle handle) {
  auto it = timers_.find(handle.id);
  if (it == timers_.end()) return false;
  // Destroy the callback after the map no longer holds it: its destructor may touch timers.
  Callback cancelled = std::move(it->second);
  timers_.erase(it);
  CompactTimers();
  return true;
}

void IOLoop::CompactTimers() {
  // Cancelled timers stay in the heap until they reach its top. If they come to outnumber the
  // live ones, rebuild the heap so that memory stays proportional to the pending timers.
  if (timer_heap_.size() < 64 || timer_heap_.size() < 2 * timers_.size()) return;
  std::erase_if(timer_heap_, [this](const Timer& timer) { return !timers_.contains(timer.id); });
  std::make_heap(timer_heap_.begin(), timer_heap_.end(), LaterTimer);
}

IOLoop::HandlerSlot* IOLoop::FindHandler(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= handlers_.size()) return nullptr;
  HandlerSlot& slot = handlers_[fd];
  return slot.handler != nullptr ? &slot : nullptr;
}

absl::Status IOLoop::AddHandler(int fd, uint32_t events, Handler handler) {
  auto owned = std::make_unique<CallbackHandler>(std::move(handler));
  absl::Status added = AddHandler(fd, events, *owned);
  if (added.ok()) handlers_[fd].owned = std::move(owned);
  return added;
}

absl::Status IOLoop::AddHandler(int fd, uint32_t events, internal::FdHandler& handler) {
  if (FindHandler(fd) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("IOLoop::AddHandler: fd ", fd,
                                                 " already has a handler"));
  }
  const uint32_t generation = next_generation_++;
  absl::Status added = poller_->Add(fd, events, Token(fd, generation, events));  // refuses bad fds
  if (!added.ok()) return added;
  if (static_cast<size_t>(fd) >= handlers_.size()) handlers_.resize(fd + 1);
  handlers_[fd].handler = &handler;
  handlers_[fd].generation = generation;
  handlers_[fd].served = 0;
  return absl::OkStatus();
}

absl::Status IOLoop::UpdateHandler(int fd, uint32_t events) {
  HandlerSlot* slot = FindHandler(fd);
  if (slot == nullptr) {
    return absl::NotFoundError(absl::StrCat("IOLoop::UpdateHandler: fd ", fd, " has no handler"));
  }
  return poller_->Modify(fd, events, Token(fd, slot->generation, events));
}

absl::Status IOLoop::RemoveHandler(int fd) {
  HandlerSlot* slot = FindHandler(fd);
  if (slot == nullptr) {
    return absl::NotFoundError(absl::StrCat("IOLoop::RemoveHandler: fd ", fd, " has no handler"));
  }
  slot->handler = nullptr;
  std::unique_ptr<CallbackHandler> owned = std::move(slot->owned);
  // The poller may have dropped the fd already (epoll does when it is closed); that is fine.
  poller_->Remove(fd).IgnoreError();
  // A handler removed while the ready ones are called may be the one running: keep it until
  // the batch is done. Otherwise it is destroyed on return.
  if (dispatching_ && owned != nullptr) retired_.push_back(std::move(owned));
  return absl::OkStatus();
}

void IOLoop::AddCallback(Callback callback) { queue_->Add(std::move(callback)); }

}  // namespace gust
