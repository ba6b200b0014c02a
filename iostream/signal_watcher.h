// SignalWatcher: delivers POSIX signals (SIGINT, SIGTERM, ...) to an IOLoop as ordinary
// callbacks, for graceful shutdown; Tornado servers do the same with asyncio's add_signal_handler.
//
// The process-wide signal handler only writes the signal's number to a pipe, which is
// async-signal-safe; the loop reads the pipe and calls `on_signal` from its own thread, where
// anything may be done (stop the loop, stop servers, close streams). One watcher may exist per
// process at a time; destroying it restores the signals' previous dispositions.
//
// Example (every example server does this):
//   auto watcher = SignalWatcher::Create({SIGINT, SIGTERM}, [&](int) { loop.Stop(); });
//   loop.Start();  // returns after SIGINT or SIGTERM; then destroy servers and streams

#ifndef GUST_IOSTREAM_SIGNAL_WATCHER_H_
#define GUST_IOSTREAM_SIGNAL_WATCHER_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <signal.h>

#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "iostream/io_loop.h"

namespace gust {

class SignalWatcher {
 public:
  using OnSignal = absl::AnyInvocable<void(int signal_number)>;

  // Watches `signals` on IOLoop::Current(). FailedPreconditionError if another watcher exists;
  // InvalidArgumentError for a signal that cannot be caught (SIGKILL, SIGSTOP).
  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Create(std::vector<int> signals,
                                                               OnSignal on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  SignalWatcher(IOLoop& loop, int read_fd, int write_fd, OnSignal on_signal)
      : loop_(loop), read_fd_(read_fd), write_fd_(write_fd), on_signal_(std::move(on_signal)) {}
  void ReadSignals();

  IOLoop& loop_;
  const int read_fd_;
  const int write_fd_;
  OnSignal on_signal_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_SIGNAL_WATCHER_H_
