// The io_uring backend (liburing): readiness through one-shot IORING_OP_POLL_ADD requests.
//
// Level-triggered, like the other backends: a poll request completes once, and the fd's next
// wait arms a new one, which completes at once if the fd is still ready. The requests armed
// for a wait go to the kernel in the same io_uring_enter as the wait itself, so a wait costs
// one system call however many registrations changed (epoll needs one epoll_ctl per change).
// A completion carries a tag in its user_data; a registration changed or removed since it was
// armed has a new tag (or none), so stale completions are dropped, never reported.
//
// Cost: each wait re-arms every fd that was ready in the previous one (an SQE each, no extra
// call); an idle fd costs nothing per wait. Multishot polls would avoid the re-arming, but they
// report edges, not levels, and the loop relies on levels.

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/poll_mask.h"
#include "backends/poller.h"

namespace gust {
namespace {

constexpr unsigned kRingEntries = 256;

// user_data: the tag in the high half (0 for requests whose completion means nothing, such as
// removals), the fd in the low half.
uint64_t UserData(uint32_t tag, int fd) {
  return (uint64_t{tag} << 32) | static_cast<uint32_t>(fd);
}

class IoUringPoller final : public Poller {
 public:
  IoUringPoller() = default;
  ~IoUringPoller() override {
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  absl::Status Init() {
    const int result = io_uring_queue_init(kRingEntries, &ring_, 0);
    initialized_ = result == 0;
    if (result < 0) {
      return absl::UnavailableError(absl::StrCat(
          "io_uring backend: io_uring_setup failed: ", std::strerror(-result),
          " (io_uring may be disabled by kernel.io_uring_disabled, a seccomp filter or a "
          "container; build with --@gust//backends:poller=epoll instead)"));
    }
    return absl::OkStatus();
  }

  absl::string_view name() const override { return "io_uring"; }

  absl::Status Add(int fd, uint32_t events, uint64_t token) override {
    if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("io_uring: bad fd ", fd));
    if (!fds_.try_emplace(fd, Registration{events, token}).second) {
      return absl::AlreadyExistsError(absl::StrCat("io_uring: fd ", fd, " is already registered"));
    }
    to_arm_.push_back(fd);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, uint32_t events, uint64_t token) override {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return NotRegistered(fd);
    Registration& registration = it->second;
    registration.token = token;  // a pending completion reports the current token
    if (events == registration.events) return absl::OkStatus();
    registration.events = events;
    if (registration.armed_tag != 0) {
      absl::Status cancelled = Cancel(fd, registration, /*submit_now=*/false);
      if (!cancelled.ok()) return cancelled;
    }
    to_arm_.push_back(fd);
    return absl::OkStatus();
  }

  absl::Status Remove(int fd) override {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return NotRegistered(fd);
    // Submitted now: a pending poll holds a reference to the file, which the caller is about
    // to close, and the peer must see that close without waiting for our next wait.
    absl::Status cancelled =
        it->second.armed_tag != 0 ? Cancel(fd, it->second, /*submit_now=*/true) : absl::OkStatus();
    fds_.erase(it);
    return cancelled;
  }

  absl::Status Wait(absl::Duration timeout, std::vector<PollEvent>* ready) override {
    ready->clear();
    for (int fd : to_arm_) {
      auto it = fds_.find(fd);
      if (it == fds_.end() || it->second.armed_tag != 0 || it->second.events == 0) continue;
      io_uring_sqe* sqe = NextSqe();
      if (sqe == nullptr) return absl::ResourceExhaustedError("io_uring: no submission entry");
      io_uring_prep_poll_add(sqe, fd, poller_internal::ToPollMask(it->second.events));
      it->second.armed_tag = NextTag();
      io_uring_sqe_set_data64(sqe, UserData(it->second.armed_tag, fd));
    }
    to_arm_.clear();
    int result;
    if (timeout == absl::ZeroDuration()) {
      result = io_uring_submit(&ring_);
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec limit{};
      if (timeout != absl::InfiniteDuration()) {
        // Rounded up to whole milliseconds, as the other backends do: never early.
        const int64_t ms = poller_internal::TimeoutToMillis(timeout);
        limit.tv_sec = ms / 1000;
        limit.tv_nsec = (ms % 1000) * 1000000;
      }
      result = io_uring_submit_and_wait_timeout(
          &ring_, &cqe, 1, timeout == absl::InfiniteDuration() ? nullptr : &limit, nullptr);
    }
    if (result < 0 && result != -ETIME && result != -EINTR && result != -EAGAIN &&
        result != -EBUSY) {
      return absl::ErrnoToStatus(-result, "io_uring_enter");
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      Complete(cqe->user_data, cqe->res, ready);
    }
    io_uring_cq_advance(&ring_, seen);
    return absl::OkStatus();
  }

 private:
  struct Registration {
    uint32_t events;
    uint64_t token;
    uint32_t armed_tag = 0;  // the tag of the pending poll request; 0: none
  };

  static absl::Status NotRegistered(int fd) {
    return absl::NotFoundError(absl::StrCat("io_uring: fd ", fd, " is not registered"));
  }

  uint32_t NextTag() {
    if (++next_tag_ == 0) ++next_tag_;  // 0 means "no request"
    return next_tag_;
  }

  // The next free submission entry; submits what is queued to make room if the ring is full.
  io_uring_sqe* NextSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  absl::Status Cancel(int fd, Registration& registration, bool submit_now) {
    io_uring_sqe* sqe = NextSqe();
    if (sqe == nullptr) return absl::ResourceExhaustedError("io_uring: no submission entry");
    io_uring_prep_poll_remove(sqe, UserData(registration.armed_tag, fd));
    io_uring_sqe_set_data64(sqe, UserData(0, fd));
    registration.armed_tag = 0;
    if (submit_now) {
      const int result = io_uring_submit(&ring_);
      if (result < 0) return absl::ErrnoToStatus(-result, "io_uring_submit");
    }
    return absl::OkStatus();
  }

  void Complete(uint64_t user_data, int result, std::vector<PollEvent>* ready) {
    const uint32_t tag = static_cast<uint32_t>(user_data >> 32);
    if (tag == 0) return;  // a removal's own completion
    const int fd = static_cast<int>(static_cast<uint32_t>(user_data));
    auto it = fds_.find(fd);
    if (it == fds_.end() || it->second.armed_tag != tag) return;  // stale: changed since
    it->second.armed_tag = 0;
    to_arm_.push_back(fd);
    if (result == -ECANCELED) return;
    const uint32_t events =
        result < 0 ? kPollError : poller_internal::FromPollMask(static_cast<unsigned>(result));
    if (events != 0) ready->push_back({it->second.token, events});
  }

  io_uring ring_{};
  bool initialized_ = false;
  absl::flat_hash_map<int, Registration> fds_;
  std::vector<int> to_arm_;  // fds whose poll request must be (re)armed before the next wait
  uint32_t next_tag_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewPoller() {
  auto poller = std::make_unique<IoUringPoller>();
  absl::Status ready = poller->Init();
  if (!ready.ok()) return ready;
  return poller;
}

}  // namespace gust
