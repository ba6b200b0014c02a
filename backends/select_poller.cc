// The select backend, for portability and for comparison. fd_set is a fixed bitmap of
// FD_SETSIZE (1024 on Linux) bits: an fd at or above it is refused with a clear status, never
// written past the set. A wait copies two fd_sets (no allocation) and scans up to the highest
// registered fd, so it costs O(highest fd).
//
// select() has no error bit. A hang-up shows as readable; an fd that was closed while still
// registered makes the whole call fail with EBADF, so the poller then finds the closed fds and
// reports them as kPollError instead of failing the loop.

#include <fcntl.h>
#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/poller.h"

namespace gust {
namespace {

class SelectPoller final : public Poller {
 public:
  SelectPoller() {
    FD_ZERO(&read_set_);
    FD_ZERO(&write_set_);
  }

  absl::string_view name() const override { return "select"; }

  absl::Status Add(int fd, uint32_t events, uint64_t token) override {
    if (fd < 0 || fd >= FD_SETSIZE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "select: fd ", fd, " is outside [0, FD_SETSIZE=", FD_SETSIZE,
          "); use the epoll or poll backend (--@gust//backends:poller) for this many fds"));
    }
    if (registered_[fd]) {
      return absl::AlreadyExistsError(absl::StrCat("select: fd ", fd, " is already registered"));
    }
    registered_[fd] = true;
    tokens_[fd] = token;
    if (fd > max_fd_) max_fd_ = fd;
    Set(fd, events);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, uint32_t events, uint64_t token) override {
    if (!IsRegistered(fd)) return NotRegistered(fd);
    tokens_[fd] = token;
    Set(fd, events);
    return absl::OkStatus();
  }

  absl::Status Remove(int fd) override {
    if (!IsRegistered(fd)) return NotRegistered(fd);
    registered_[fd] = false;
    Set(fd, 0);
    while (max_fd_ >= 0 && !registered_[max_fd_]) --max_fd_;
    return absl::OkStatus();
  }

  absl::Status Wait(absl::Duration timeout, std::vector<PollEvent>* ready) override {
    ready->clear();
    fd_set readable = read_set_;
    fd_set writable = write_set_;
    timeval tv;
    timeval* tv_ptr = nullptr;
    if (timeout != absl::InfiniteDuration()) {
      tv = absl::ToTimeval(std::max(timeout, absl::ZeroDuration()));
      tv_ptr = &tv;
    }
    const int n = select(max_fd_ + 1, &readable, &writable, nullptr, tv_ptr);
    if (n < 0) {
      if (errno == EINTR) return absl::OkStatus();
      if (errno == EBADF) {
        ReportClosedFds(ready);
        return absl::OkStatus();
      }
      return absl::ErrnoToStatus(errno, "select");
    }
    for (int fd = 0; fd <= max_fd_ && static_cast<int>(ready->size()) < n; ++fd) {
      uint32_t events = 0;
      if (FD_ISSET(fd, &readable)) events |= kPollRead;
      if (FD_ISSET(fd, &writable)) events |= kPollWrite;
      if (events != 0) ready->push_back({tokens_[fd], events});
    }
    return absl::OkStatus();
  }

 private:
  bool IsRegistered(int fd) const { return fd >= 0 && fd < FD_SETSIZE && registered_[fd]; }

  static absl::Status NotRegistered(int fd) {
    return absl::NotFoundError(absl::StrCat("select: fd ", fd, " is not registered"));
  }

  void Set(int fd, uint32_t events) {
    if (events & kPollRead) {
      FD_SET(fd, &read_set_);
    } else {
      FD_CLR(fd, &read_set_);
    }
    if (events & kPollWrite) {
      FD_SET(fd, &write_set_);
    } else {
      FD_CLR(fd, &write_set_);
    }
  }

  void ReportClosedFds(std::vector<PollEvent>* ready) const {
    for (int fd = 0; fd <= max_fd_; ++fd) {
      if (registered_[fd] && fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
        ready->push_back({tokens_[fd], kPollError});
      }
    }
  }

  fd_set read_set_;
  fd_set write_set_;
  bool registered_[FD_SETSIZE] = {};
  uint64_t tokens_[FD_SETSIZE] = {};
  int max_fd_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewPoller() { return std::make_unique<SelectPoller>(); }

}  // namespace gust
