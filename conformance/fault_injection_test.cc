// A fault-injecting stream, in the manner of BoringSSL's async_bio: a BaseIOStream subclass
// whose fd hooks (the documented extension points) sit on a real socketpair but make short
// writes, deliver a few bytes at a time, return "would block" at random although data is there
// (EAGAIN storms, and what an interrupted call looks like from outside), and reset the
// connection at a chosen byte offset. The tests check that no byte is lost, duplicated or
// reordered, and that every future resolves.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/base_io_stream.h"
#include "iostream/errors.h"
#include "iostream/task.h"

namespace gust {
namespace {

struct Faults {
  size_t max_read = 0;          // most bytes one read delivers; 0: no limit
  size_t max_write = 0;         // most bytes one write takes; 0: no limit
  double would_block = 0;       // chance that a read or write reports EAGAIN regardless
  size_t reset_after_read = 0;  // after this many bytes read, reads fail with ECONNRESET
  int fail_read_errno = 0;      // once set, every read fails with this errno
  uint32_t seed = 1;
};

class FaultStream : public BaseIOStream {
 public:
  FaultStream(int fd, Faults faults, const Options& options = Options())
      : BaseIOStream(options), fd_(fd), faults_(faults), random_(faults.seed) {}
  ~FaultStream() override { CloseForDestruction(); }

  int fileno() const override { return fd_; }
  Faults& faults() { return faults_; }
  int reads_refused() const { return reads_refused_; }
  int writes_shortened() const { return writes_shortened_; }

 protected:
  void CloseFd() override {
    close(fd_);
    fd_ = -1;
  }

  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override {
    if (Chance(faults_.would_block)) return 0;
    size_t limit = SIZE_MAX;
    if (faults_.max_write != 0) {
      limit = 1 + random_() % faults_.max_write;
      ++writes_shortened_;
    }
    // Gather into at most `limit` bytes, as a short writev would take.
    std::vector<iovec> iov;
    for (const iovec& piece : data) {
      if (limit == 0) break;
      const size_t n = std::min(limit, piece.iov_len);
      iov.push_back({piece.iov_base, n});
      limit -= n;
    }
    const ssize_t n = sendmsg(fd_, Message(iov), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN) return 0;
    return ErrnoError(errno, "fault stream send");
  }

  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    if (faults_.fail_read_errno != 0) return ErrnoError(faults_.fail_read_errno, "injected");
    if (faults_.reset_after_read != 0 && read_total_ >= faults_.reset_after_read) {
      return ErrnoError(ECONNRESET, "injected reset");
    }
    if (Chance(faults_.would_block)) {
      ++reads_refused_;
      return std::optional<size_t>();
    }
    size_t limit = buffer.size();
    if (faults_.max_read != 0) limit = std::min(limit, 1 + random_() % faults_.max_read);
    if (faults_.reset_after_read != 0) {
      limit = std::min(limit, faults_.reset_after_read - read_total_);
    }
    const ssize_t n = recv(fd_, buffer.data(), limit, 0);
    if (n > 0) read_total_ += n;
    if (n >= 0) return std::optional<size_t>(n);
    if (errno == EAGAIN) return std::optional<size_t>();
    return ErrnoError(errno, "fault stream recv");
  }

  absl::Status GetFdError() override { return absl::OkStatus(); }

 private:
  bool Chance(double p) { return p > 0 && std::uniform_real_distribution<>(0, 1)(random_) < p; }
  static msghdr* Message(std::vector<iovec>& iov) {
    static thread_local msghdr message;
    message = {};
    message.msg_iov = iov.data();
    message.msg_iovlen = iov.size();
    return &message;
  }

  int fd_;
  Faults faults_;
  std::mt19937 random_;
  size_t read_total_ = 0;
  int reads_refused_ = 0;
  int writes_shortened_ = 0;
};

class FaultInjectionTest : public testing::LoopTest {
 protected:
  void MakePair(const Faults& reader_faults, const Faults& writer_faults,
                const BaseIOStream::Options& options = BaseIOStream::Options()) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    // Small kernel buffers make the writer hit EAGAIN for real, too.
    const int size = 4096;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    reader_ = std::make_unique<FaultStream>(fds[0], reader_faults, options);
    writer_ = std::make_unique<FaultStream>(fds[1], writer_faults, options);
  }


  std::unique_ptr<FaultStream> reader_;
  std::unique_ptr<FaultStream> writer_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

// Every write's future, the data across all read kinds, under short writes, trickled reads and
// random EAGAIN on both sides.
TEST_F(FaultInjectionTest, NoByteLostDuplicatedOrReorderedUnderShortIoAndEagainStorms) {
  Faults reader_faults{.max_read = 7, .would_block = 0.3, .seed = 11};
  Faults writer_faults{.max_write = 5000, .would_block = 0.3, .seed = 12};
  MakePair(reader_faults, writer_faults);
  // Lines of random length, so that ReadUntil and ReadUntilRegex have delimiters to find.
  std::mt19937 random(3);
  std::string sent;
  std::vector<Future<void>> writes;
  while (sent.size() < 300000) {
    std::string piece = RandomBytes(random() % 3000, random());
    std::replace(piece.begin(), piece.end(), '\n', ' ');
    piece += '\n';
    sent += piece;
    if (random() % 2) {
      writes.push_back(writer_->Write(piece));
    } else {
      writes.push_back(writer_->Write(std::move(piece)));
    }
  }
  auto consume = [&]() -> Task<std::string> {
    std::mt19937 choices(5);
    std::string received;
    while (received.size() < sent.size()) {
      const size_t left = sent.size() - received.size();
      absl::StatusOr<std::string> data;
      switch (choices() % 5) {
        case 0:
          data = co_await reader_->ReadUntil("\n");
          break;
        case 1:
          data = co_await reader_->ReadUntilRegex("\n", 1 << 20);
          break;
        case 2:
          data = co_await reader_->ReadBytes(std::min<size_t>(left, 1 + choices() % 5000));
          break;
        case 3:
          data = co_await reader_->ReadBytes(std::min<size_t>(left, 1 + choices() % 5000), true);
          break;
        default: {
          std::string buffer(std::min<size_t>(left, 1 + choices() % 5000), '\0');
          absl::StatusOr<size_t> n = co_await reader_->ReadInto(absl::MakeSpan(buffer), true);
          if (!n.ok()) co_return n.status();
          buffer.resize(*n);
          data = std::move(buffer);
        }
      }
      if (!data.ok()) co_return data.status();
      received += *data;
    }
    co_return received;
  };
  absl::StatusOr<std::string> received = Await(consume().future());
  ASSERT_TRUE(received.ok()) << received.status();
  ASSERT_EQ(received->size(), sent.size());
  EXPECT_TRUE(*received == sent) << "data lost, duplicated or reordered";
  for (Future<void>& write : writes) EXPECT_TRUE(Await(write).ok());
  EXPECT_GT(reader_->reads_refused(), 0);
  EXPECT_GT(writer_->writes_shortened(), 0);
}

// A reset at any byte offset: the reader gets exactly the bytes before it, then
// StreamClosedError carrying ECONNRESET; every write future resolves one way or the other.
TEST_F(FaultInjectionTest, ResetAtArbitraryOffsetsLosesNothingBeforeIt) {
  const std::string sent = RandomBytes(50000, 8);
  for (size_t offset : {1, 2, 4095, 4096, 4097, 12345, 49999}) {
    SCOPED_TRACE(absl::StrCat("reset after ", offset, " bytes"));
    Faults reader_faults{.max_read = 3000, .would_block = 0.2,
                         .reset_after_read = offset, .seed = static_cast<uint32_t>(offset)};
    MakePair(reader_faults, Faults{.max_write = 4000});
    std::vector<Future<void>> writes;
    for (size_t at = 0; at < sent.size(); at += 1000) {
      writes.push_back(writer_->Write(absl::string_view(sent).substr(at, 1000)));
    }
    std::string received;
    absl::Status end;
    while (end.ok()) {
      absl::StatusOr<std::string> data = Await(reader_->ReadBytes(777, true));
      if (data.ok()) {
        received += *data;
      } else {
        end = data.status();
      }
    }
    EXPECT_TRUE(IsStreamClosedError(end)) << end;
    EXPECT_EQ(ErrnoOf(end), ECONNRESET) << end;
    EXPECT_EQ(received, sent.substr(0, offset));
    writer_->Close();  // the writer may have unsent data nobody will read
    for (Future<void>& write : writes) {
      absl::Status status = Await(write);
      EXPECT_TRUE(status.ok() || IsStreamClosedError(status)) << status;
    }
  }
}

// B069: an unexpected error found by the loop while a read is pending is logged once and
// closes the stream; the close callback runs.
TEST_F(FaultInjectionTest, B069_AsyncReadErrorIsLoggedAndCloses) {
  MakePair(Faults{}, Faults{});
  bool close_callback_ran = false;
  reader_->SetCloseCallback([&] { close_callback_ran = true; });
  Future<std::string> read = reader_->ReadBytes(10);
  reader_->faults().fail_read_errno = EIO;
  ::testing::internal::CaptureStderr();
  writer_->Write("data");
  absl::StatusOr<std::string> result = Await(read);
  RunUntil([&] { return close_callback_ran; });
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(IsStreamClosedError(result.status())) << result.status();
  EXPECT_EQ(ErrnoOf(reader_->error()), EIO);
  size_t count = 0;
  for (size_t at = logged.find("error on read"); at != std::string::npos;
       at = logged.find("error on read", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << logged;
}

}  // namespace
}  // namespace gust
