// PipeIOStream: a BaseIOStream over one end of a pipe (or any non-socket fd that supports
// read/write); Tornado's tornado.iostream.PipeIOStream. One-way: read from a read end, write to
// a write end.
//
// Writing to a pipe whose reader has gone raises SIGPIPE, which no flag can suppress for a
// pipe; so the first PipeIOStream sets SIGPIPE to SIG_IGN if it is still at its default (as
// Python, and so Tornado, always runs). The write then fails with StreamClosedError whose real
// error is EPIPE.

#ifndef GUST_IOSTREAM_PIPE_IO_STREAM_H_
#define GUST_IOSTREAM_PIPE_IO_STREAM_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <optional>

#include "iostream/base_io_stream.h"

namespace gust {

class PipeIOStream : public BaseIOStream {
 public:
  // Takes ownership of `fd` and makes it non-blocking.
  explicit PipeIOStream(int fd, const Options& options = Options());
  ~PipeIOStream() override;

  int fileno() const override { return fd_; }

 protected:
  void CloseFd() override;
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override;
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override;
  absl::Status GetFdError() override { return absl::OkStatus(); }
  bool ReadsDrainTheFd() const override { return true; }  // a pipe's short read empties it

 private:
  int fd_;
  // A write end: reading it fails with EBADF, which there means the reader has gone.
  const bool write_only_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_PIPE_IO_STREAM_H_
