#include "iostream/pipe_io_stream.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"

namespace gust {
namespace {

void IgnoreSigpipeIfDefault() {
  static const bool done = [] {
    struct sigaction current = {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
    return true;
  }();
  (void)done;
}

}  // namespace

PipeIOStream::PipeIOStream(int fd, const Options& options)
    : BaseIOStream(options), fd_(fd), write_only_((fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
  IgnoreSigpipeIfDefault();
  const int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

PipeIOStream::~PipeIOStream() { CloseForDestruction(); }

void PipeIOStream::CloseFd() {
  close(fd_);
  fd_ = -1;
}

absl::StatusOr<size_t> PipeIOStream::WriteToFd(absl::Span<const iovec> data) {
  for (;;) {
    const ssize_t n = writev(fd_, data.data(), static_cast<int>(data.size()));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return FdCallError(errno, "write on pipe", fd_);
  }
}

absl::StatusOr<std::optional<size_t>> PipeIOStream::ReadFromFd(absl::Span<char> buffer) {
  for (;;) {
    const ssize_t n = read(fd_, buffer.data(), buffer.size());
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<size_t>();
    // Tornado: EBADF on a pipe read means the other half was closed. For a read end that is the
    // end of stream; for a write end (watched for a close) the reader has gone: a broken pipe.
    if (errno == EBADF) {
      if (write_only_) return ErrnoError(EPIPE, absl::StrCat("pipe fd ", fd_, ": the reader closed"));
      return std::optional<size_t>(0);
    }
    return FdCallError(errno, "read on pipe", fd_);
  }
}

}  // namespace gust
