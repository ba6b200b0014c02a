// libFuzzer target for the read side of BaseIOStream: fuzzer-chosen stream options, bytes, chunk
// boundaries and "would block" answers, and a sequence of ReadBytes / ReadUntil /
// ReadUntilRegex / ReadInto / ReadUntilClose calls with small limits. The model: the bytes the
// reads deliver are always a prefix of what was sent, each byte exactly once and in order; a
// stream that ends cleanly delivers all of it; every read resolves (a hang is a crash).
// Built and run by tools/fuzz.sh (clang's libFuzzer; Bazel here builds with gcc).

#include <fuzzer/FuzzedDataProvider.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "iostream/base_io_stream.h"
#include "iostream/internal/spare_strings.h"
#include "tools/fuzz/read_ops.h"

namespace {

// The fd hooks over a script: data delivered in fuzzer-chosen chunks, with "would block"
// answers, then the end of stream. Its fd is an eventfd that is always readable, so the loop
// keeps offering readiness and the script decides what a read finds.
class ScriptedStream : public gust::BaseIOStream {
 public:
  ScriptedStream(std::string data, std::vector<uint8_t> chunks, const Options& options)
      : BaseIOStream(options), data_(std::move(data)), chunks_(std::move(chunks)) {
    fd_ = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~ScriptedStream() override { CloseForDestruction(); }
  int fileno() const override { return fd_; }

 protected:
  void CloseFd() override {
    close(fd_);
    fd_ = -1;
  }
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override {
    size_t n = 0;
    for (const iovec& piece : data) n += piece.iov_len;
    return n;
  }
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    const uint8_t step = chunks_.empty() ? 64 : chunks_[next_++ % chunks_.size()];
    // Would block now and then (never more than three times running: the peer is slow, not
    // gone).
    if (step % 5 == 0 && pos_ < data_.size() && ++blocked_ <= 3) return std::optional<size_t>();
    blocked_ = 0;
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
  const std::vector<uint8_t> chunks_;
  size_t next_ = 0;
  size_t pos_ = 0;
  int blocked_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider input(bytes, size);
  gust_fuzz::Loop();  // made current before any stream is, so the streams run on it
  gust::BaseIOStream::Options options;
  options.max_buffer_size = input.ConsumeIntegralInRange<size_t>(0, 2048);
  options.read_chunk_size = input.ConsumeIntegralInRange<size_t>(0, 256);
  const std::vector<gust_fuzz::ReadOp> ops = gust_fuzz::ConsumeReadOps(input);
  std::vector<uint8_t> chunks = input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange(0, 32));
  const std::string data = input.ConsumeRemainingBytesAsString();

  gust_fuzz::trace = absl::StrCat("max_buffer_size=", options.max_buffer_size,
                                  " read_chunk_size=", options.read_chunk_size,
                                  " data=", data.size(), " bytes;");
  ScriptedStream stream(data, std::move(chunks), options);
  std::string delivered;
  if (gust_fuzz::RunReadOps(stream, ops, data, delivered)) {
    gust_fuzz::Check(delivered == data, "a clean end of stream lost bytes");
  }
  gust::internal::ReleaseSpareStrings();  // see spare_strings.h
  return 0;
}
