#include "iostream/internal/callback_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#ifdef __linux__
#include <sys/eventfd.h>
#endif

namespace gust {
namespace internal {

namespace callback_queue_internal {
constinit thread_local char thread_tag = 0;
}  // namespace callback_queue_internal

absl::StatusOr<QueueRef> CallbackQueue::Create() {
#ifdef __linux__
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "eventfd");
  return QueueRef(new CallbackQueue(fd, fd));
#else
  int fds[2];
  if (pipe(fds) != 0) return absl::ErrnoToStatus(errno, "pipe");
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return QueueRef(new CallbackQueue(fds[0], fds[1]));
#endif
}

CallbackQueue::~CallbackQueue() {
  Close();
  close(read_fd_);
  if (write_fd_ != read_fd_) close(write_fd_);
}

void CallbackQueue::AddFromOtherThread(Callback callback) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_.load(std::memory_order_relaxed)) return;  // destroyed outside the lock
    remote_.push_back(std::move(callback));
    remote_pending_.store(true, std::memory_order_release);
    if (!wake_pending_) {
      wake_pending_ = true;
      wake = true;
    }
  }
  if (wake) WriteWakeFd();
}

void CallbackQueue::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_.load(std::memory_order_relaxed) || wake_pending_) return;
    wake_pending_ = true;
    remote_pending_.store(true, std::memory_order_release);
  }
  WriteWakeFd();
}

void CallbackQueue::TakeRemote(std::vector<Callback>* batch) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Callback& callback : remote_) batch->push_back(std::move(callback));
  remote_.clear();
  remote_pending_.store(false, std::memory_order_relaxed);
  wake_pending_ = false;
}

void CallbackQueue::WriteWakeFd() {
  const uint64_t one = 1;
  // EAGAIN means the counter (or pipe) is already full, so the loop is awake anyway.
  while (write(write_fd_, &one, write_fd_ == read_fd_ ? sizeof(one) : 1) < 0 && errno == EINTR) {
  }
}

void CallbackQueue::DrainWakeFd() {
  char buffer[64];
  for (;;) {
    const ssize_t n = read(read_fd_, buffer, sizeof(buffer));
    if (n > 0 && read_fd_ != write_fd_) continue;  // a pipe may hold more; an eventfd is empty
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

void CallbackQueue::Close() {
  std::vector<Callback> dropped;
  std::vector<Callback> dropped_remote;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.store(true, std::memory_order_relaxed);
    dropped_remote.swap(remote_);
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  // Outside the lock: a callback's destructor may call Add() (and is then refused).
  dropped.swap(local_);
}

}  // namespace internal
}  // namespace gust
