// The fuzzers' stream over a script instead of a peer: reads find fuzzer-given data in
// fuzzer-chosen pieces, then the end of the stream; writes take fuzzer-chosen amounts into
// sent(). Both answer "would block" now and then (never more than three times running: the
// peer is slow, not gone).

#ifndef GUST_TOOLS_FUZZ_SCRIPTED_STREAM_H_
#define GUST_TOOLS_FUZZ_SCRIPTED_STREAM_H_

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "iostream/base_io_stream.h"

namespace gust_fuzz {

// Its fd is an eventfd, always readable and writable, so the loop keeps offering readiness and
// the script decides what a read finds and how much a write takes. An empty step list reads
// a byte at a time and writes everything.
class ScriptedStream : public gust::BaseIOStream {
 public:
  ScriptedStream(std::string data, std::vector<uint8_t> read_steps,
                 std::vector<uint8_t> write_steps, const Options& options)
      : BaseIOStream(options),
        fd_(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC)),
        data_(std::move(data)),
        read_steps_(std::move(read_steps)),
        write_steps_(std::move(write_steps)) {}
  ~ScriptedStream() override { CloseForDestruction(); }
  int fileno() const override { return fd_; }

  // Every byte a write has taken so far, in order.
  const std::string& sent() const { return sent_; }

 protected:
  void CloseFd() override {
    close(fd_);
    fd_ = -1;
  }
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override {
    const uint8_t step =
        write_steps_.empty() ? 3 : write_steps_[next_write_++ % write_steps_.size()];
    if (step % 6 == 0 && ++write_blocked_ <= 3) return 0;
    write_blocked_ = 0;
    // All of it, or up to 1..65,026 bytes: a piece cut anywhere, also inside an iovec. The cuts
    // double every 1,024 calls: 70 KiB pieces cut into 2-byte writes, a loop iteration each, made
    // a run take seconds (a few runs a second in all), and added nothing the first calls do not.
    const size_t scale = size_t{1} << std::min<size_t>(next_write_ / 1024, 16);
    const size_t limit = step % 4 == 3 ? SIZE_MAX : (1 + size_t{step} * step) * scale;
    size_t n = 0;
    for (const iovec& piece : data) {
      const size_t take = std::min(piece.iov_len, limit - n);
      sent_.append(static_cast<const char*>(piece.iov_base), take);
      n += take;
      if (n == limit) break;
    }
    return n;
  }
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    const uint8_t step = read_steps_.empty() ? 64 : read_steps_[next_read_++ % read_steps_.size()];
    if (step % 5 == 0 && pos_ < data_.size() && ++read_blocked_ <= 3) {
      return std::optional<size_t>();
    }
    read_blocked_ = 0;
    const size_t n = std::min({buffer.size(), data_.size() - pos_, size_t{1} + step % 64});
    if (n == 0) return std::optional<size_t>(0);  // end of stream
    std::copy_n(data_.data() + pos_, n, buffer.data());
    pos_ += n;
    return std::optional<size_t>(n);
  }
  absl::Status GetFdError() override { return absl::OkStatus(); }

 private:
  int fd_;
  const std::string data_;
  const std::vector<uint8_t> read_steps_;
  const std::vector<uint8_t> write_steps_;
  std::string sent_;
  size_t next_read_ = 0;
  size_t next_write_ = 0;
  size_t pos_ = 0;
  int read_blocked_ = 0;
  int write_blocked_ = 0;
};

}  // namespace gust_fuzz

#endif  // GUST_TOOLS_FUZZ_SCRIPTED_STREAM_H_
