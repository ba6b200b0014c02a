// Socket-only behaviors of IOStream (Tornado's TestIOStreamMixin and TestIOStreamWebMixin):
// connect and its failures, errors found inline or by the loop, quiet resets, SIGPIPE, nodelay,
// and a small HTTP exchange, over TCP (IPv4, IPv6) and Unix sockets.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "conformance/stream_fixture.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/io_stream.h"
#include "iostream/task.h"

namespace gust {
namespace {

using ::gust::testing::Listener;
using ::gust::testing::StreamKind;
using ::gust::testing::StreamKindName;
using ::gust::testing::StreamPair;
using ::gust::testing::StreamTest;

class IOStreamTest : public StreamTest {
 protected:
  // An address nothing listens on: a listener's, after the listener is closed.
  SocketAddress DeadAddress() {
    absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
    EXPECT_TRUE(listener.ok()) << listener.status();
    return (*listener)->address();
  }

  std::unique_ptr<IOStream> NewSocket() {
    absl::StatusOr<std::unique_ptr<IOStream>> stream =
        IOStream::Create(DeadAddress().family());
    EXPECT_TRUE(stream.ok()) << stream.status();
    return *std::move(stream);
  }
};

// B061 (refused: StreamClosedError, error() says why), B066 (the close callback runs), B101
// (the errno is ECONNREFUSED, or ENOENT for a Unix path that is gone).
TEST_P(IOStreamTest, B061_B066_B101_ConnectionRefused) {
  const SocketAddress dead = DeadAddress();
  std::unique_ptr<IOStream> stream = NewSocket();
  bool close_callback_ran = false;
  stream->SetCloseCallback([&] { close_callback_ran = true; });
  absl::StatusOr<IOStream*> connected = Await(stream->Connect(dead));
  EXPECT_TRUE(IsStreamClosedError(connected.status())) << connected.status();
  const int error = ErrnoOf(connected.status());
  EXPECT_TRUE(error == ECONNREFUSED || error == ENOENT) << connected.status();
  EXPECT_EQ(ErrnoOf(stream->error()), error);
  EXPECT_NE(std::string(stream->error().message()).find(dead.ToString()), std::string::npos)
      << stream->error();
  RunUntil([&] { return close_callback_ran; });
}

// B062: a name that does not resolve fails the connect future, not the call.
TEST_P(IOStreamTest, B062_ResolutionFailure) {
  if (GetParam() == StreamKind::kUnix) GTEST_SKIP() << "Unix sockets have no host names";
  std::unique_ptr<IOStream> stream = NewSocket();
  absl::StatusOr<IOStream*> connected = Await(stream->Connect("", 80));
  EXPECT_TRUE(IsStreamClosedError(connected.status())) << connected.status();
  EXPECT_NE(std::string(RealError(connected.status()).message()).find("cannot resolve"),
            std::string::npos)
      << connected.status();
  EXPECT_TRUE(stream->closed());
}

// B063 (the connect future gives the stream), B034 (writes made while connecting are sent once
// connected; the connect future resolves first).
TEST_P(IOStreamTest, B034_B063_WriteWhileConnecting) {
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::unique_ptr<IOStream> client = *IOStream::Create((*listener)->family());
  std::vector<std::string> order;
  Future<IOStream*> connected = client->Connect((*listener)->address());
  Future<void> written = client->Write("early bytes");
  connected.AddDoneCallback([&](const absl::StatusOr<IOStream*>& result) {
    EXPECT_EQ(*result, client.get());
    order.push_back("connect");
  });
  written.AddDoneCallback([&](const absl::Status& status) {
    EXPECT_TRUE(status.ok()) << status;
    order.push_back("write");
  });
  IOStream server(*(*listener)->Accept());
  EXPECT_EQ(*Await(server.ReadBytes(11)), "early bytes");
  RunUntil([&] { return order.size() == 2; });
  EXPECT_EQ(order, (std::vector<std::string>{"connect", "write"}));
}

// An empty write made while connecting resolves once connected (found by the TLS fuzzer: a
// client that wrote nothing and awaited it never closed; ssl_io_stream_test has the TLS case).
TEST_P(IOStreamTest, EmptyWriteWhileConnectingResolvesOnceConnected) {
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::unique_ptr<IOStream> client = *IOStream::Create((*listener)->family());
  Future<IOStream*> connected = client->Connect((*listener)->address());
  Future<void> written = client->Write("");
  IOStream server(*(*listener)->Accept());
  EXPECT_TRUE(Await(connected).ok());
  EXPECT_TRUE(Await(written, absl::Seconds(5)).ok());
}

// Tornado 4's connect(address, callback), and the two ends' addresses once connected.
TEST_P(IOStreamTest, ConnectCallbackAndAddresses) {
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::unique_ptr<IOStream> client = *IOStream::Create((*listener)->family());
  EXPECT_FALSE(client->peer_address().ok());  // not connected yet
  absl::StatusOr<IOStream*> connected = absl::UnknownError("not called");
  client->Connect((*listener)->address(),
                  [&](absl::StatusOr<IOStream*> result) { connected = result; });
  IOStream server(*(*listener)->Accept());
  RunUntil([&] { return !absl::IsUnknown(connected.status()); });
  ASSERT_TRUE(connected.ok()) << connected.status();
  EXPECT_EQ(*connected, client.get());
  absl::StatusOr<SocketAddress> peer = client->peer_address();
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->ToString(), (*listener)->address().ToString());
  absl::StatusOr<SocketAddress> local = server.local_address();
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->ToString(), (*listener)->address().ToString());
  if (GetParam() != StreamKind::kUnix) {  // an unbound Unix client has no name
    EXPECT_EQ(server.peer_address()->ToString(), client->local_address()->ToString());
  }
  client->Close();
  EXPECT_TRUE(absl::IsFailedPrecondition(client->peer_address().status()));
}

// B067: an unexpected error inside ReadUntilClose fails it (a reset would not; see B016).
// B068: an error found inside the read call is reported through the future, not logged.
TEST_P(IOStreamTest, B067_B068_InlineReadErrors) {
  StreamPair s = MakePair();
  // Break the fd under the stream: recv now fails with ENOTSOCK on a non-socket fd.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_EQ(dup2(pipe_fds[0], s.reader->fileno()), s.reader->fileno());
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::string> result = Await(s.reader->ReadUntilClose());
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(IsStreamClosedError(result.status())) << result.status();
  EXPECT_EQ(ErrnoOf(result.status()), ENOTSOCK) << result.status();
  EXPECT_EQ(logged, "");
  EXPECT_EQ(ErrnoOf(s.reader->error()), ENOTSOCK);
}

// B016 (a reset during ReadUntilClose delivers what arrived; error() is the reset) and B070
// (resets are not logged).
TEST_P(IOStreamTest, B016_B070_ResetIsAQuietClose) {
  if (GetParam() == StreamKind::kUnix) GTEST_SKIP() << "Unix sockets cannot be reset";
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadUntilClose();
  ASSERT_TRUE(Await(s.writer->Write("partial")).ok());
  RunFor(absl::Milliseconds(10));
  // SO_LINGER with a zero timeout makes close() send a RST.
  linger reset = {1, 0};
  ASSERT_EQ(setsockopt(s.writer->fileno(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
  ::testing::internal::CaptureStderr();
  s.writer->Close();
  absl::StatusOr<std::string> result = Await(read);
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, "partial");
  EXPECT_EQ(ErrnoOf(s.reader->error()), ECONNRESET) << s.reader->error();
  EXPECT_EQ(logged, "");
}

// Writing to a peer that has gone never raises SIGPIPE (the test would die) and fails with
// StreamClosedError whose real error says why.
TEST_P(IOStreamTest, WriteToAClosedPeerFailsWithoutSigpipe) {
  StreamPair s = MakePair();
  s.reader->Close();
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = Await(s.writer->Write(std::string(64 * 1024, 'p')));
  }
  EXPECT_TRUE(IsStreamClosedError(status)) << status;
  const int error = ErrnoOf(status);
  EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << status;
}

// A peer that sends pipelined lines, shuts down its sending side and keeps reading gets an
// answer to every line: the end of stream that arrives behind the lines never closes the stream
// while a read can still be satisfied from the buffer, nor while answers are still unsent.
// (A Tornado server loses the answers still queued when it reads the end of stream.)
TEST_P(IOStreamTest, HalfClosedPeerGetsEveryAnswer) {
  for (const int lines : {66, 1000, 100000}) {
    SCOPED_TRACE(absl::StrCat(lines, " lines"));
    absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const SocketAddress address = (*listener)->address();
    std::string request;
    for (int i = 0; i < lines; ++i) absl::StrAppend(&request, "line ", i, "\n");

    std::atomic<bool> client_done{false};
    std::string answers;
    std::thread client([&] {
      const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd, address.sockaddr_ptr(), address.size()) == 0) {
        // Sends everything before reading anything, as a pipelining client may.
        for (size_t sent = 0; sent < request.size();) {
          const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += n;
        }
        shutdown(fd, SHUT_WR);
        char buffer[65536];
        for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) answers.append(buffer, n);
      }
      close(fd);
      client_done = true;
    });
    absl::StatusOr<int> accepted = (*listener)->Accept();
    ASSERT_TRUE(accepted.ok()) << accepted.status();
    auto server = std::make_unique<IOStream>(*accepted);
    Task<void> echo = [](IOStream& stream) -> Task<void> {
      for (;;) {
        absl::StatusOr<std::string> line = co_await stream.ReadUntil("\n");
        if (!line.ok()) co_return absl::OkStatus();
        stream.Write(*std::move(line));  // not awaited, as line_server does
      }
    }(*server);
    RunUntil([&] { return client_done.load(); }, absl::Seconds(60));
    client.join();
    EXPECT_EQ(answers.size(), request.size());
    EXPECT_TRUE(answers == request) << "the answers differ from the lines sent";
    EXPECT_TRUE(Await(echo.future()).ok());
  }
}

// Which of several streams that became readable in one wait the loop serves first: on epoll,
// where socket streams register edge-triggered and the ready list is a queue, the one whose
// data came first; elsewhere, the one served longest ago (IOLoop::ServeLeastRecentlyServedFirst).
// Either way a connection that just missed a wait is not answered last again.
TEST_P(IOStreamTest, ReadyStreamsAreServedFirstComeOnEpollLeastRecentlyServedElsewhere) {
  std::vector<StreamPair> pairs;
  for (int i = 0; i < 3; ++i) pairs.push_back(MakePair());
  std::vector<int> served;
  auto read_one = [&](int i) {
    pairs[i].reader->ReadBytes(1, /*partial=*/false,
                               [&served, i](const absl::StatusOr<std::string>& byte) {
                                 if (byte.ok()) served.push_back(i);
                               });
  };
  // Stream 0 is served first, then 1, then 2: 0 is the one served longest ago.
  for (int i = 0; i < 3; ++i) {
    read_one(i);
    RunFor(absl::Milliseconds(5));  // the read waits for the fd
    ASSERT_EQ(send(pairs[i].writer->fileno(), "x", 1, MSG_NOSIGNAL), 1);
    RunUntil([&] { return served.size() == static_cast<size_t>(i) + 1; });
  }
  served.clear();
  for (int i = 0; i < 3; ++i) read_one(i);
  // Data comes to 2, then 1, then 0, from a callback: the loop's next wait sees the three and
  // nothing else (the wake-up that ended the last RunFor is taken by the wait before).
  loop().AddCallback([&] {
    for (int i = 2; i >= 0; --i)
      EXPECT_EQ(send(pairs[i].writer->fileno(), "y", 1, MSG_NOSIGNAL), 1);
  });
  RunUntil([&] { return served.size() == 3; });
  const std::vector<int> expected =
      loop().backend_name() == "epoll" ? std::vector<int>{2, 1, 0} : std::vector<int>{0, 1, 2};
  EXPECT_EQ(served, expected);
}

// A stream on an fd the backend cannot watch (select: fd >= FD_SETSIZE) fails its read with the
// reason and says so on stderr; the other backends serve it.
TEST_P(IOStreamTest, AnFdTheBackendCannotWatchIsReportedNotDroppedSilently) {
  if (testing::RaiseFdLimit(2048) < 2048) GTEST_SKIP() << "cannot raise the fd limit to 2048";
  StreamPair s = MakePair();
  const int high = fcntl(s.reader->fileno(), F_DUPFD_CLOEXEC, 1500);
  ASSERT_GE(high, 1500);
  IOStream stream(high);
  s.writer->Write("hi");
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::string> read = Await(stream.ReadBytes(2), absl::Seconds(5));
  const std::string logged = ::testing::internal::GetCapturedStderr();
  if (loop().backend_name() == "select") {
    EXPECT_TRUE(IsStreamClosedError(read.status())) << read.status();
    EXPECT_TRUE(absl::IsInvalidArgument(RealError(read.status()))) << read.status();
    EXPECT_NE(logged.find("cannot watch fd"), std::string::npos) << logged;
  } else {
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, "hi");
  }
}

// B089
TEST_P(IOStreamTest, B089_SetNodelay) {
  StreamPair s = MakePair();
  s.writer->SetNodelay(true);
  int value = 0;
  socklen_t size = sizeof(value);
  const int result =
      getsockopt(s.writer->fileno(), IPPROTO_TCP, TCP_NODELAY, &value, &size);
  if (GetParam() == StreamKind::kUnix) {
    EXPECT_TRUE(result != 0 || value == 0);  // a no-op on Unix sockets
  } else {
    ASSERT_EQ(result, 0);
    EXPECT_EQ(value, 1);
    s.writer->SetNodelay(false);
    getsockopt(s.writer->fileno(), IPPROTO_TCP, TCP_NODELAY, &value, &size);
    EXPECT_EQ(value, 0);
  }
  s.writer->Close();
  s.writer->SetNodelay(true);  // a no-op on a closed stream
}

// A connect on a closed stream, or a second one, is a clear error.
TEST_P(IOStreamTest, ConnectUsageErrors) {
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
  ASSERT_TRUE(listener.ok());
  std::unique_ptr<IOStream> client = *IOStream::Create((*listener)->family());
  Future<IOStream*> first = client->Connect((*listener)->address());
  Future<IOStream*> second = client->Connect((*listener)->address());
  ASSERT_TRUE(second.done());
  EXPECT_EQ(second.result().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Await(first).ok());
  client->Close();
  Future<IOStream*> closed = client->Connect((*listener)->address());
  ASSERT_TRUE(closed.done());
  EXPECT_TRUE(IsStreamClosedError(closed.result().status()));
}

// --- Tornado's TestIOStreamWebMixin, against a small HTTP/1.0 server written with gust. ---

// Serves one request: reads the header block, answers "Hello", closes.
Task<void> ServeHello(std::unique_ptr<IOStream> stream) {
  absl::StatusOr<std::string> request = co_await stream->ReadUntil("\r\n\r\n", 65536);
  if (!request.ok()) co_return request.status();
  co_await stream->Write(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nHello");
  stream->Close();
  co_return absl::OkStatus();
}

class WebTest : public IOStreamTest {
 protected:
  // Connects a client to a fresh server and sends a GET.
  std::unique_ptr<IOStream> Fetch() {
    listener_ = *Listener::Open(GetParam());
    std::unique_ptr<IOStream> client = *IOStream::Create(listener_->family());
    Future<IOStream*> connected = client->Connect(listener_->address());
    server_ = ServeHello(std::make_unique<IOStream>(*listener_->Accept()));
    EXPECT_TRUE(Await(connected).ok());
    client->Write("GET / HTTP/1.0\r\n\r\n");
    return client;
  }
  void TearDown() override {
    if (server_.has_value()) {
      EXPECT_TRUE(Await(server_->future()).ok());
    }
  }
  std::unique_ptr<Listener> listener_;
  std::optional<Task<void>> server_;
};

// B002 (futures), B001 (zero-byte read), B014 (ReadUntilClose after the headers).
TEST_P(WebTest, B001_B002_B014_FutureInterface) {
  std::unique_ptr<IOStream> client = Fetch();
  EXPECT_EQ(*Await(client->ReadBytes(9)), "HTTP/1.1 ");
  EXPECT_EQ(*Await(client->ReadBytes(0)), "");
  EXPECT_EQ(*Await(client->ReadBytes(3)), "200");
  EXPECT_EQ(*Await(client->ReadUntil("\r\n")), " OK\r\n");
  absl::StatusOr<std::string> headers = Await(client->ReadUntil("\r\n\r\n"));
  ASSERT_TRUE(headers.ok());
  EXPECT_EQ(*headers, "Content-Length: 5\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(*Await(client->ReadUntilClose()), "Hello");
  EXPECT_TRUE(client->closed());
  Future<std::string> after = client->ReadBytes(1);
  ASSERT_TRUE(after.done());
  EXPECT_TRUE(IsStreamClosedError(after.result().status()));
}

// B002: headers with ReadUntil, then the body with ReadBytes(Content-Length).
TEST_P(WebTest, B002_ReadBytesContentLength) {
  std::unique_ptr<IOStream> client = Fetch();
  absl::StatusOr<std::string> head = Await(client->ReadUntil("\r\n\r\n"));
  ASSERT_TRUE(head.ok());
  const size_t at = head->find("Content-Length: ");
  ASSERT_NE(at, std::string::npos);
  size_t length = 0;
  ASSERT_TRUE(absl::SimpleAtoi(head->substr(at + 16, head->find("\r\n", at) - at - 16), &length));
  EXPECT_EQ(*Await(client->ReadBytes(length)), "Hello");
}

// B012, B041: the whole response arrives before the close is seen.
TEST_P(WebTest, B012_B041_ReadUntilCloseGetsTheWholeResponse) {
  std::unique_ptr<IOStream> client = Fetch();
  absl::StatusOr<std::string> response = Await(client->ReadUntilClose());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(response->substr(response->size() - 5), "Hello");
}

// B042: a read longer than the response fails when the server closes.
TEST_P(WebTest, B042_CloseWhileReading) {
  std::unique_ptr<IOStream> client = Fetch();
  EXPECT_TRUE(IsStreamClosedError(Await(client->ReadBytes(1024 * 1024)).status()));
}

const auto kSocketKinds =
    ::testing::Values(StreamKind::kTcp4, StreamKind::kTcp6, StreamKind::kUnix);
INSTANTIATE_TEST_SUITE_P(Sockets, IOStreamTest, kSocketKinds, StreamKindName);
INSTANTIATE_TEST_SUITE_P(Sockets, WebTest, kSocketKinds, StreamKindName);

}  // namespace
}  // namespace gust
