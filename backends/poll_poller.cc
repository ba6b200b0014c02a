// The poll backend: a dense pollfd array kept between waits (swap-remove, and a table from fd to
// slot indexed by fd, 4 bytes per fd), so a wait allocates nothing and a registration change
// costs O(1). Each wait is still O(all fds) in the kernel and in the scan of revents: that is
// poll's nature, and the benchmark shows it.

#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/poll_mask.h"
#include "backends/poller.h"

namespace gust {
namespace {

short ToPoll(uint32_t events) { return static_cast<short>(poller_internal::ToPollMask(events)); }

uint32_t FromPoll(short revents) {
  return poller_internal::FromPollMask(static_cast<unsigned short>(revents));
}

class PollPoller final : public Poller {
 public:
  absl::string_view name() const override { return "poll"; }

  absl::Status Add(int fd, uint32_t events, uint64_t token) override {
    if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("poll: bad fd ", fd));
    if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(fd + 1, kNoSlot);
    if (slots_[fd] != kNoSlot) {
      return absl::AlreadyExistsError(absl::StrCat("poll: fd ", fd, " is already registered"));
    }
    slots_[fd] = static_cast<int32_t>(fds_.size());
    fds_.push_back({fd, ToPoll(events), 0});
    tokens_.push_back(token);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, uint32_t events, uint64_t token) override {
    const int32_t slot = SlotOf(fd);
    if (slot == kNoSlot) return NotRegistered(fd);
    fds_[slot].events = ToPoll(events);
    tokens_[slot] = token;
    return absl::OkStatus();
  }

  absl::Status Remove(int fd) override {
    const int32_t slot = SlotOf(fd);
    if (slot == kNoSlot) return NotRegistered(fd);
    slots_[fd] = kNoSlot;
    if (static_cast<size_t>(slot) != fds_.size() - 1) {
      fds_[slot] = fds_.back();
      tokens_[slot] = tokens_.back();
      slots_[fds_[slot].fd] = slot;
    }
    fds_.pop_back();
    tokens_.pop_back();
    return absl::OkStatus();
  }

  absl::Status Wait(absl::Duration timeout, std::vector<PollEvent>* ready) override {
    ready->clear();
    int n = poll(fds_.data(), fds_.size(), poller_internal::TimeoutToMillis(timeout));
    if (n < 0) {
      if (errno == EINTR) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "poll");
    }
    for (size_t i = 0; i < fds_.size() && n > 0; ++i) {
      if (fds_[i].revents == 0) continue;
      --n;
      ready->push_back({tokens_[i], FromPoll(fds_[i].revents)});
    }
    return absl::OkStatus();
  }

 private:
  static constexpr int32_t kNoSlot = -1;

  int32_t SlotOf(int fd) const {
    return fd >= 0 && static_cast<size_t>(fd) < slots_.size() ? slots_[fd] : kNoSlot;
  }
  static absl::Status NotRegistered(int fd) {
    return absl::NotFoundError(absl::StrCat("poll: fd ", fd, " is not registered"));
  }

  std::vector<pollfd> fds_;
  std::vector<uint64_t> tokens_;  // parallel to fds_
  std::vector<int32_t> slots_;  // by fd: its index in fds_, or kNoSlot
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewPoller() { return std::make_unique<PollPoller>(); }

}  // namespace gust
