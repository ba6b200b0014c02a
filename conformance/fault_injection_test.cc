// Fault-injecting transports, in the manner of BoringSSL's async_bio: subclasses that sit on a
// real socketpair but make short writes, deliver a few bytes at a time, return "would block" at
// random although data is there (EAGAIN storms, and what an interrupted call looks like from
// outside), and reset the connection at a chosen byte offset. FaultStream injects at the fd hooks
// of a BaseIOStream; FaultTlsStream injects under the TLS, at an SSLIOStream's transport hooks,
// so BoringSSL sees records cut anywhere. The tests check that no byte is lost, duplicated or
// reordered, and that every future resolves, for both.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "conformance/stream_fixture.h"
#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/base_io_stream.h"
#include "iostream/errors.h"
#include "iostream/log.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/task.h"

namespace gust {
namespace {

struct Faults {
  size_t max_read = 0;          // most bytes one read delivers; 0: no limit
  size_t max_write = 0;         // most bytes one write takes; 0: no limit
  double would_block = 0;       // chance that a read or write reports EAGAIN regardless
  size_t reset_after_read = 0;  // after this many bytes read, reads fail with ECONNRESET
  int fail_read_errno = 0;      // once set, every read fails with this errno
  bool refuse_writes = false;   // while set, every write would block
  uint32_t seed = 1;
};

// The faults themselves, over a socket; send(2)/recv(2) semantics (-1 with errno).
class FaultyTransport {
 public:
  explicit FaultyTransport(Faults faults) : faults_(faults), random_(faults.seed) {}

  Faults& faults() { return faults_; }
  int reads_refused() const { return reads_refused_; }
  int writes_shortened() const { return writes_shortened_; }
  int writes_refused() const { return writes_refused_; }

  ssize_t Send(int fd, absl::Span<const iovec> data) {
    if (faults_.refuse_writes || Chance(faults_.would_block)) {
      ++writes_refused_;
      errno = EAGAIN;
      return -1;
    }
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
    msghdr message = {};
    message.msg_iov = iov.data();
    message.msg_iovlen = iov.size();
    return sendmsg(fd, &message, MSG_NOSIGNAL);
  }

  ssize_t Receive(int fd, char* data, size_t size) {
    if (faults_.fail_read_errno != 0) {
      errno = faults_.fail_read_errno;
      return -1;
    }
    if (faults_.reset_after_read != 0 && read_total_ >= faults_.reset_after_read) {
      errno = ECONNRESET;
      return -1;
    }
    if (Chance(faults_.would_block)) {
      ++reads_refused_;
      errno = EAGAIN;
      return -1;
    }
    size_t limit = size;
    if (faults_.max_read != 0) limit = std::min(limit, 1 + random_() % faults_.max_read);
    if (faults_.reset_after_read != 0) {
      limit = std::min(limit, faults_.reset_after_read - read_total_);
    }
    const ssize_t n = recv(fd, data, limit, 0);
    if (n > 0) read_total_ += n;
    return n;
  }

 private:
  bool Chance(double p) { return p > 0 && std::uniform_real_distribution<>(0, 1)(random_) < p; }

  Faults faults_;
  std::mt19937 random_;
  size_t read_total_ = 0;
  int reads_refused_ = 0;
  int writes_shortened_ = 0;
  int writes_refused_ = 0;
};

// Faults at a BaseIOStream's fd hooks.
class FaultStream : public BaseIOStream {
 public:
  FaultStream(int fd, Faults faults, const Options& options = Options())
      : BaseIOStream(options), fd_(fd), transport_(faults) {}
  ~FaultStream() override { CloseForDestruction(); }

  int fileno() const override { return fd_; }
  FaultyTransport& transport() { return transport_; }

 protected:
  void CloseFd() override {
    close(fd_);
    fd_ = -1;
  }

  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override {
    const ssize_t n = transport_.Send(fd_, data);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN) return 0;
    return ErrnoError(errno, "fault stream send");
  }

  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    const ssize_t n = transport_.Receive(fd_, buffer.data(), buffer.size());
    if (n >= 0) return std::optional<size_t>(n);
    if (errno == EAGAIN) return std::optional<size_t>();
    return ErrnoError(errno, "fault stream recv");
  }

  absl::Status GetFdError() override { return absl::OkStatus(); }

 private:
  int fd_;
  FaultyTransport transport_;
};

// Faults under the TLS: BoringSSL reads and writes its records through them.
class FaultTlsStream : public SSLIOStream {
 public:
  FaultTlsStream(int fd, std::shared_ptr<const TlsContext> context, bool server_side,
                 Faults faults, const Options& options = Options())
      : SSLIOStream(fd, std::move(context), server_side, "localhost", options),
        transport_(faults) {}
  ~FaultTlsStream() override { CloseForDestruction(); }

  FaultyTransport& transport() { return transport_; }
  using SSLIOStream::ssl;

 protected:
  ssize_t TransportSend(const char* data, size_t size) override {
    const iovec piece = {const_cast<char*>(data), size};
    return transport_.Send(fileno(), absl::MakeConstSpan(&piece, 1));
  }
  ssize_t TransportReceive(char* data, size_t size) override {
    return transport_.Receive(fileno(), data, size);
  }

 private:
  FaultyTransport transport_;
};

enum class Layer { kPlain, kTls };

class FaultFixture : public testing::LoopTest {
 protected:
  // The reader is the server side of a TLS pair.
  void MakePair(Layer layer, const Faults& reader_faults, const Faults& writer_faults,
                const BaseIOStream::Options& options = BaseIOStream::Options()) {
    reader_.reset();
    writer_.reset();
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    // Small kernel buffers make the writer hit EAGAIN for real, too.
    const int size = 4096;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (layer == Layer::kPlain) {
      auto reader = std::make_unique<FaultStream>(fds[0], reader_faults, options);
      auto writer = std::make_unique<FaultStream>(fds[1], writer_faults, options);
      reader_transport_ = &reader->transport();
      writer_transport_ = &writer->transport();
      reader_ = std::move(reader);
      writer_ = std::move(writer);
    } else {
      auto reader = std::make_unique<FaultTlsStream>(fds[0], testing::TestServerContext(), true,
                                                     reader_faults, options);
      auto writer = std::make_unique<FaultTlsStream>(fds[1], testing::TestClientContext(),
                                                     false, writer_faults, options);
      reader_transport_ = &reader->transport();
      writer_transport_ = &writer->transport();
      tls_reader_ = reader.get();
      tls_writer_ = writer.get();
      reader_ = std::move(reader);
      writer_ = std::move(writer);
    }
  }

  // Both handshakes done (nothing to do for plain streams).
  void WaitForHandshakes() {
    if (tls_reader_ == nullptr) return;
    ASSERT_TRUE(Await(tls_reader_->WaitForHandshake()).ok());
    ASSERT_TRUE(Await(tls_writer_->WaitForHandshake()).ok());
  }

  std::unique_ptr<BaseIOStream> reader_;
  std::unique_ptr<BaseIOStream> writer_;
  FaultyTransport* reader_transport_ = nullptr;
  FaultyTransport* writer_transport_ = nullptr;
  FaultTlsStream* tls_reader_ = nullptr;  // kTls only
  FaultTlsStream* tls_writer_ = nullptr;
};

class FaultInjectionTest : public FaultFixture, public ::testing::WithParamInterface<Layer> {
 protected:
  void MakePair(const Faults& reader_faults, const Faults& writer_faults,
                const BaseIOStream::Options& options = BaseIOStream::Options()) {
    FaultFixture::MakePair(GetParam(), reader_faults, writer_faults, options);
  }
};

INSTANTIATE_TEST_SUITE_P(Layers, FaultInjectionTest,
                         ::testing::Values(Layer::kPlain, Layer::kTls),
                         [](const ::testing::TestParamInfo<Layer>& info) {
                           return info.param == Layer::kPlain ? "Plain" : "Tls";
                         });

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

// Every write's future, the data across all read kinds, under short writes, trickled reads and
// random EAGAIN on both sides.
TEST_P(FaultInjectionTest, NoByteLostDuplicatedOrReorderedUnderShortIoAndEagainStorms) {
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
  EXPECT_GT(reader_transport_->reads_refused(), 0);
  EXPECT_GT(writer_transport_->writes_shortened(), 0);
}

// A reset at any byte offset: the reader gets exactly the bytes before it, then
// StreamClosedError carrying ECONNRESET; every write future resolves one way or the other.
TEST_P(FaultInjectionTest, ResetAtArbitraryOffsetsLosesNothingBeforeIt) {
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
    if (GetParam() == Layer::kPlain) {
      EXPECT_EQ(received, sent.substr(0, offset));
    } else {
      // The offset counts ciphertext: the records completed before it arrive, nothing else.
      EXPECT_LE(received.size(), offset);
      EXPECT_TRUE(received == sent.substr(0, received.size())) << "data lost or reordered";
    }
    writer_->Close();  // the writer may have unsent data nobody will read
    for (Future<void>& write : writes) {
      absl::Status status = Await(write);
      EXPECT_TRUE(status.ok() || IsStreamClosedError(status)) << status;
    }
  }
}

// B069: an unexpected error found by the loop while a read is pending is logged once and
// closes the stream; the close callback runs.
TEST_P(FaultInjectionTest, B069_AsyncReadErrorIsLoggedAndCloses) {
  MakePair(Faults{}, Faults{});
  WaitForHandshakes();
  bool close_callback_ran = false;
  reader_->SetCloseCallback([&] { close_callback_ran = true; });
  Future<std::string> read = reader_->ReadBytes(10);
  reader_transport_->faults().fail_read_errno = EIO;
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

namespace gust {
namespace {

class TlsFaultTest : public FaultFixture {};
class CrossWaitTest : public FaultFixture {};

// A KeyUpdate that asks for an answer, received while the transport refuses writes: BoringSSL
// owes the peer a KeyUpdate of its own, which goes out with the next write once the transport
// takes bytes again; the data on both sides of it arrives, under the new keys.
TEST_F(TlsFaultTest, KeyUpdateAnsweredWhileTheTransportRefusesWrites) {
  MakePair(Layer::kTls, Faults{}, Faults{});
  WaitForHandshakes();
  reader_transport_->faults().refuse_writes = true;
  ASSERT_EQ(SSL_key_update(tls_writer_->ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  Future<void> sent = writer_->Write("after the key update\n");
  absl::StatusOr<std::string> line = Await(reader_->ReadUntil("\n"));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "after the key update\n");
  EXPECT_TRUE(Await(sent).ok());
  Future<void> answered = reader_->Write("answer\n");
  RunFor(absl::Milliseconds(20));
  EXPECT_GT(reader_transport_->writes_refused(), 0);
  EXPECT_FALSE(answered.done());
  reader_transport_->faults().refuse_writes = false;
  EXPECT_TRUE(Await(answered).ok());
  absl::StatusOr<std::string> answer = Await(writer_->ReadUntil("\n"));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, "answer\n");
  EXPECT_TRUE(Await(writer_->Write("and again\n")).ok());
  line = Await(reader_->ReadUntil("\n"));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "and again\n");
}

// A transport in the manner of TLS (SSL_read returning WANT_WRITE): a read takes what the socket
// has, but hands it over only after sending one acknowledgement byte. While the acknowledgement
// cannot go, the socket is already drained, so only the fd becoming writable can finish the
// read: the stream must watch for that (CrossWaits) and retry the read when it comes.
class AckBeforeDeliverStream : public FaultStream {
 public:
  using FaultStream::FaultStream;
  ~AckBeforeDeliverStream() override { CloseForDestruction(); }

 protected:
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    if (held_.empty()) {
      char chunk[4096];
      const ssize_t n = recv(fileno(), chunk, sizeof(chunk), 0);
      if (n == 0) return std::optional<size_t>(0);
      if (n < 0 && errno == EAGAIN) return std::optional<size_t>();
      if (n < 0) return ErrnoError(errno, "recv");
      held_.assign(chunk, n);
      acked_ = false;
    }
    if (!acked_) {
      const iovec ack = {const_cast<char*>("!"), 1};
      waiting_to_ack_ = transport().Send(fileno(), absl::MakeConstSpan(&ack, 1)) < 0;
      if (waiting_to_ack_) return std::optional<size_t>();
      acked_ = true;
    }
    const size_t n = std::min(buffer.size(), held_.size());
    std::copy_n(held_.data(), n, buffer.data());
    held_.erase(0, n);
    return std::optional<size_t>(n);
  }

  uint32_t CrossWaits() const override { return waiting_to_ack_ ? IOLoop::kWrite : 0; }

 private:
  std::string held_;
  bool acked_ = false;
  bool waiting_to_ack_ = false;
};

TEST_F(CrossWaitTest, AReadWaitingToSendIsRetriedWhenTheFdTurnsWritable) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  auto reader = std::make_unique<AckBeforeDeliverStream>(fds[0], Faults{.refuse_writes = true});
  FaultStream writer(fds[1], Faults{});
  Future<std::string> read = reader->ReadUntil("\n");
  ASSERT_TRUE(Await(writer.Write("held until acknowledged\n")).ok());
  RunFor(absl::Milliseconds(20));
  EXPECT_FALSE(read.done());
  // Refusals are injected: the socket itself has been writable all along.
  reader->transport().faults().refuse_writes = false;
  absl::StatusOr<std::string> line = Await(read, absl::Seconds(5));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "held until acknowledged\n");
  absl::StatusOr<std::string> ack = Await(writer.ReadBytes(1));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(*ack, "!");
}

}  // namespace
}  // namespace gust

namespace gust {
namespace {

class LogSinkTest : public FaultFixture {
 protected:
  void TearDown() override {
    SetLogSink(nullptr);
    SetMinLogSeverity(LogSeverity::kInfo);
    FaultFixture::TearDown();
  }

  // An error the loop finds on a stream with a pending read, which gust logs (B069).
  void ProvokeReadError() {
    MakePair(Layer::kPlain, Faults{}, Faults{});
    Future<std::string> read = reader_->ReadBytes(10);
    reader_transport_->faults().fail_read_errno = EIO;
    writer_->Write("data");
    EXPECT_FALSE(Await(read).ok());
  }
};

// The sink gets gust's lines instead of stderr; lines under the minimum severity go nowhere.
TEST_F(LogSinkTest, LinesGoToTheSinkAndBelowTheMinimumNowhere) {
  std::vector<std::pair<LogSeverity, std::string>> lines;
  absl::Mutex mutex;
  SetLogSink([&](LogSeverity severity, absl::string_view message) {
    absl::MutexLock lock(&mutex);
    lines.emplace_back(severity, std::string(message));
  });
  ::testing::internal::CaptureStderr();
  ProvokeReadError();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  {
    absl::MutexLock lock(&mutex);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].first, LogSeverity::kWarning);
    EXPECT_NE(lines[0].second.find("error on read"), std::string::npos) << lines[0].second;
    EXPECT_EQ(LogSeverityName(lines[0].first), "WARNING");
  }
  SetMinLogSeverity(LogSeverity::kError);
  ProvokeReadError();
  {
    absl::MutexLock lock(&mutex);
    EXPECT_EQ(lines.size(), 1u);
  }
  SetLogSink(nullptr);
  SetMinLogSeverity(LogSeverity::kInfo);
  ::testing::internal::CaptureStderr();
  ProvokeReadError();
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("gust WARNING: error on read"),
            std::string::npos);
}

}  // namespace
}  // namespace gust
