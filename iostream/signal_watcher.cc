#include "iostream/signal_watcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"

namespace gust {
namespace {

// The write end of the live watcher's pipe, or -1.
std::atomic<int> signal_pipe{-1};

extern "C" void WriteSignalNumber(int signal_number) {
  const int saved_errno = errno;  // the interrupted code may be between a call and its errno check
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  const int fd = signal_pipe.load(std::memory_order_relaxed);
  if (fd >= 0) (void)!write(fd, &byte, 1);  // a full pipe drops it: the loop is awake anyway
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalWatcher>> SignalWatcher::Create(std::vector<int> signals,
                                                                     OnSignal on_signal) {
  for (int signal_number : signals) {
    if (signal_number <= 0 || signal_number >= 256 || signal_number == SIGKILL ||
        signal_number == SIGSTOP) {
      return absl::InvalidArgumentError(
          absl::StrCat("SignalWatcher: signal ", signal_number, " cannot be caught"));
    }
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return ErrnoError(errno, "SignalWatcher: pipe");
  int expected = -1;
  if (!signal_pipe.compare_exchange_strong(expected, fds[1])) {
    close(fds[0]);
    close(fds[1]);
    return absl::FailedPreconditionError("SignalWatcher: another watcher exists");
  }
  std::unique_ptr<SignalWatcher> watcher(
      new SignalWatcher(IOLoop::Current(), fds[0], fds[1], std::move(on_signal)));
  absl::Status added = watcher->loop_.AddHandler(
      fds[0], IOLoop::kRead, [raw = watcher.get()](int, uint32_t) { raw->ReadSignals(); });
  if (!added.ok()) return added;  // the destructor undoes the rest
  for (int signal_number : signals) {
    struct sigaction action = {};
    action.sa_handler = WriteSignalNumber;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    struct sigaction previous;
    if (sigaction(signal_number, &action, &previous) != 0) {
      return ErrnoError(errno, absl::StrCat("SignalWatcher: sigaction ", signal_number));
    }
    watcher->previous_.emplace_back(signal_number, previous);
  }
  return watcher;
}

SignalWatcher::~SignalWatcher() {
  for (auto& [signal_number, previous] : previous_) sigaction(signal_number, &previous, nullptr);
  signal_pipe.store(-1);
  loop_.RemoveHandler(read_fd_).IgnoreError();
  close(read_fd_);
  close(write_fd_);
}

void SignalWatcher::ReadSignals() {
  unsigned char numbers[64];
  for (;;) {
    const ssize_t n = read(read_fd_, numbers, sizeof(numbers));
    if (n <= 0) return;
    for (ssize_t i = 0; i < n; ++i) on_signal_(numbers[i]);
  }
}

}  // namespace gust
