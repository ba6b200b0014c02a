// Subprocess: runs a peer program (openssl, curl, python3) for interop tests, with its stdin
// and its stdout+stderr on pipes, and kills it if the test leaves it running.

#ifndef GUST_CONFORMANCE_SUBPROCESS_H_
#define GUST_CONFORMANCE_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gust {
namespace testing {

class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv);
  Subprocess(pid_t pid, int stdin_fd, int stdout_fd)
      : pid_(pid), stdin_fd_(stdin_fd), stdout_fd_(stdout_fd) {}
  ~Subprocess();

  void Write(const std::string& data);
  void CloseStdin();
  // Reads output until it contains `wanted` (or the end of it, or the timeout).
  std::string ReadUntil(const std::string& wanted, absl::Duration timeout = absl::Seconds(10));
  // Reads all output until the process closes it (or the timeout), then waits for it; returns
  // the output. exit_code() is then set (-1 if it was killed).
  std::string Finish(absl::Duration timeout = absl::Seconds(10));
  int exit_code() const { return exit_code_; }

 private:
  pid_t pid_;
  int stdin_fd_;
  int stdout_fd_;
  int exit_code_ = -1;
  std::string output_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
// Waits until something accepts connections on 127.0.0.1:`port`.
bool WaitForPort(int port, absl::Duration timeout = absl::Seconds(10));

}  // namespace testing
}  // namespace gust

#endif  // GUST_CONFORMANCE_SUBPROCESS_H_
