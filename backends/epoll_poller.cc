// The epoll backend: level-triggered unless a registration asks for edges (kPollEdgeTriggered),
// one epoll_ctl per registration change, O(ready) per wait.

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/poller.h"

namespace gust {
namespace {

uint32_t ToEpoll(uint32_t events) {
  uint32_t out = 0;
  if (events & kPollRead) out |= EPOLLIN | EPOLLRDHUP;
  if (events & kPollWrite) out |= EPOLLOUT;
  if (events & kPollEdgeTriggered) out |= EPOLLET;
  return out;
}

uint32_t FromEpoll(uint32_t events) {
  uint32_t out = 0;
  if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) out |= kPollRead;
  if (events & EPOLLRDHUP) out |= kPollPeerClosed;
  if (events & EPOLLOUT) out |= kPollWrite;
  if (events & (EPOLLERR | EPOLLHUP)) out |= kPollError;
  return out;
}

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(int epoll_fd) : epoll_fd_(epoll_fd), buffer_(64) {}
  ~EpollPoller() override { close(epoll_fd_); }

  absl::string_view name() const override { return "epoll"; }
  bool ListsEdgesInArrivalOrder() const override { return true; }

  absl::Status Add(int fd, uint32_t events, uint64_t token) override {
    return Control(EPOLL_CTL_ADD, fd, events, token, "add");
  }
  absl::Status Modify(int fd, uint32_t events, uint64_t token) override {
    return Control(EPOLL_CTL_MOD, fd, events, token, "modify");
  }
  absl::Status Remove(int fd) override { return Control(EPOLL_CTL_DEL, fd, 0, 0, "remove"); }

  absl::Status Wait(absl::Duration timeout, std::vector<PollEvent>* ready) override {
    ready->clear();
    const int n = epoll_wait(epoll_fd_, buffer_.data(), static_cast<int>(buffer_.size()),
                             poller_internal::TimeoutToMillis(timeout));
    if (n < 0) {
      if (errno == EINTR) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      ready->push_back({buffer_[i].data.u64, FromEpoll(buffer_[i].events)});
    }
    // A full buffer means more fds may be ready: take more of them next time.
    if (static_cast<size_t>(n) == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    return absl::OkStatus();
  }

 private:
  absl::Status Control(int op, int fd, uint32_t events, uint64_t token, absl::string_view what) {
    if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("epoll: bad fd ", fd));
    epoll_event event{};
    event.events = ToEpoll(events);
    event.data.u64 = token;
    if (epoll_ctl(epoll_fd_, op, fd, &event) == 0) return absl::OkStatus();
    const int error = errno;
    if (error == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("epoll: fd ", fd, " is already registered"));
    }
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("epoll: fd ", fd, " is not registered"));
    }
    return absl::ErrnoToStatus(error, absl::StrCat("epoll_ctl ", what, " fd ", fd));
  }

  const int epoll_fd_;
  std::vector<epoll_event> buffer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewPoller() {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
  return std::make_unique<EpollPoller>(fd);
}

}  // namespace gust
