// TCPServer, TCPClient and netutil (Tornado's tcpserver, tcpclient and netutil) on every
// backend: echo over real sockets, 1 000 connections on one loop, running out of fds, Stop with
// clients connected, threads, Happy Eyeballs, timeouts and error texts. Loopback only.

#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/stream_fixture.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/netutil.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/tcp_client.h"
#include "iostream/tcp_server.h"

namespace gust {
namespace {

using ::gust::testing::TestClientContext;
using ::gust::testing::TestServerContext;

// Echoes lines until the client closes.
Task<void> EchoLines(std::unique_ptr<IOStream> stream, SocketAddress) {
  for (;;) {
    absl::StatusOr<std::string> line = co_await stream->ReadUntil("\n", 65536);
    if (!line.ok()) co_return absl::OkStatus();
    stream->Write(*std::move(line));
  }
}

// A resolver that answers from a fixed list, for Happy Eyeballs tests.
class FixedResolver : public Resolver {
 public:
  explicit FixedResolver(std::vector<SocketAddress> addresses) : addresses_(addresses) {}
  Future<std::vector<SocketAddress>> Resolve(std::string, uint16_t, int) override {
    return MakeReadyFuture<std::vector<SocketAddress>>(addresses_);
  }

 private:
  std::vector<SocketAddress> addresses_;
};

class TcpTest : public testing::LoopTest {
 protected:

  uint16_t PortOf(const TCPServer& server) { return server.addresses().at(0).port(); }

  // Closes the clients and waits for every handler to finish: a coroutine left suspended on a
  // loop that never runs again would never end.
  void Shutdown(TCPServer& server, std::vector<IOStream*> clients) {
    for (IOStream* client : clients) client->Close();
    server.Stop();
    EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
  }

  // Sends a line on `stream` and expects it back.
  void ExpectEcho(IOStream& stream, const std::string& line) {
    stream.Write(line);
    absl::StatusOr<std::string> echoed = Await(stream.ReadUntil("\n"));
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_EQ(*echoed, line);
  }

  // A listening socket on ::1 whose backlog is full and that never accepts: connecting to it
  // neither succeeds nor fails (the SYNs are dropped).
  SocketAddress BlackHole() {
    black_hole_ = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SocketAddress address = *SocketAddress::FromIp("::1", 0);
    EXPECT_EQ(bind(black_hole_, address.sockaddr_ptr(), address.size()), 0);
    EXPECT_EQ(listen(black_hole_, 0), 0);
    address = SocketAddress::LocalOf(black_hole_);
    for (int i = 0; i < 4; ++i) {
      const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      connect(fd, address.sockaddr_ptr(), address.size());
      fillers_.push_back(fd);
    }
    absl::SleepFor(absl::Milliseconds(50));
    return address;
  }

  void TearDown() override {
    for (int fd : fillers_) close(fd);
    if (black_hole_ >= 0) close(black_hole_);
  }

  int black_hole_ = -1;
  std::vector<int> fillers_;
};

TEST_F(TcpTest, EchoThroughServerAndClient) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  TCPClient client;
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("127.0.0.1", PortOf(server)));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ExpectEcho(**stream, "hello\n");
  ExpectEcho(**stream, std::string(60000, 'x') + "\n");
  Shutdown(server, {stream->get()});
}

// The default resolver resolves off the loop; "localhost" may give ::1 and 127.0.0.1, and the
// server listens on both.
TEST_F(TcpTest, ConnectByNameWithTheDefaultResolver) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "localhost").ok());
  absl::StatusOr<std::vector<SocketAddress>> addresses =
      Await(DefaultResolver()->Resolve("localhost", 80));
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_FALSE(addresses->empty());
  TCPClient client;
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("localhost", PortOf(server)));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ExpectEcho(**stream, "by name\n");
  EXPECT_EQ(Await(DefaultResolver()->Resolve("", 80)).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::unique_ptr<IOStream>> unresolvable = Await(client.Connect("", 4242));
  EXPECT_EQ(unresolvable.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(unresolvable.status().message()).find(":4242"), std::string::npos)
      << unresolvable.status();
  Shutdown(server, {stream->get()});
}

TEST_F(TcpTest, OneThousandConnectionsOnOneLoop) {
  if (loop().backend_name() == "select") {
    GTEST_SKIP() << "2 000 fds in one process: past select's FD_SETSIZE (1024), by design";
  }
  constexpr int kClients = 1000;
  if (testing::RaiseFdLimit(2 * kClients + 200) < 2 * kClients + 200) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";
  }
  TCPServer server(EchoLines);
  // A listen queue that holds every client: with the default 128, the kernel answers the
  // overflow with SYN cookies, and a client's late retransmission can then make a second,
  // ghost connection after the real one closed, which nothing ever closes (its peer is in
  // TIME_WAIT), so Drain would wait for it in vain (seen as 8-41 stuck handlers in 1 run of 20).
  absl::StatusOr<std::vector<int>> sockets =
      BindSockets(0, "127.0.0.1", AF_INET, /*backlog=*/2 * kClients);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  ASSERT_TRUE(server.AddSockets(*std::move(sockets)).ok());
  TCPClient client;
  std::vector<Future<std::unique_ptr<IOStream>>> connecting;
  for (int i = 0; i < kClients; ++i) connecting.push_back(client.Connect("127.0.0.1", PortOf(server)));
  std::vector<std::unique_ptr<IOStream>> streams;
  for (auto& future : connecting) {
    absl::StatusOr<std::unique_ptr<IOStream>> stream = Await(future);
    ASSERT_TRUE(stream.ok()) << stream.status();
    streams.push_back(*std::move(stream));
  }
  std::vector<Future<std::string>> replies;
  for (int i = 0; i < kClients; ++i) {
    streams[i]->Write(absl::StrCat("client ", i, "\n"));
    replies.push_back(streams[i]->ReadUntil("\n"));
  }
  for (int i = 0; i < kClients; ++i) {
    absl::StatusOr<std::string> reply = Await(replies[i]);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, absl::StrCat("client ", i, "\n"));
  }
  EXPECT_EQ(server.active_connections(), kClients);
  streams.clear();
  connecting.clear();  // the futures hold the streams too
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
}

// The accept callback may destroy its own handler (a server stopping from inside it): the
// handler accepts nothing more, and touches nothing of itself after the call (ASan would see it).
TEST_F(TcpTest, AcceptCallbackMayDestroyItsHandler) {
  absl::StatusOr<std::vector<int>> listening = BindSockets(0, "127.0.0.1");
  ASSERT_TRUE(listening.ok());
  const int listen_fd = listening->at(0);
  const SocketAddress address = SocketAddress::LocalOf(listen_fd);
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {  // all in the backlog before the first readiness
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(fd, address.sockaddr_ptr(), address.size()), 0);
    clients.push_back(fd);
  }
  std::unique_ptr<AcceptHandler> handler;
  std::vector<int> accepted;
  absl::StatusOr<std::unique_ptr<AcceptHandler>> added =
      AcceptHandler::Add(listen_fd, [&](int fd, SocketAddress) {
        accepted.push_back(fd);
        handler.reset();
      });
  ASSERT_TRUE(added.ok());
  handler = *std::move(added);
  RunUntil([&] { return handler == nullptr; });
  RunFor(absl::Milliseconds(20));
  EXPECT_EQ(accepted.size(), 1u);
  for (int fd : accepted) close(fd);
  for (int fd : clients) close(fd);
  close(listen_fd);
}

// Out of fds: accepting pauses and backs off (no busy loop), and recovers once fds are free.
TEST_F(TcpTest, AcceptRecoversFromEmfile) {
  absl::StatusOr<std::vector<int>> listening = BindSockets(0, "127.0.0.1");
  ASSERT_TRUE(listening.ok());
  const int listen_fd = listening->at(0);
  const SocketAddress address = SocketAddress::LocalOf(listen_fd);
  std::vector<int> accepted;
  absl::StatusOr<std::unique_ptr<AcceptHandler>> handler =
      AcceptHandler::Add(listen_fd, [&](int fd, SocketAddress) { accepted.push_back(fd); });
  ASSERT_TRUE(handler.ok());

  // Use up every fd but a few, then connect more clients than there are fds left.
  rlimit original;
  getrlimit(RLIMIT_NOFILE, &original);
  rlimit low = original;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(fd, address.sockaddr_ptr(), address.size());
    clients.push_back(fd);
  }
  ::testing::internal::CaptureStderr();  // before the fds run out: it needs one
  std::vector<int> hogs;
  for (;;) {
    const int fd = dup(0);
    if (fd < 0) break;
    hogs.push_back(fd);
  }
  ASSERT_FALSE(hogs.empty());
  for (int i = 0; i < 3; ++i) {  // leave room for 3 accepts
    close(hogs.back());
    hogs.pop_back();
  }
  RunFor(absl::Milliseconds(200));
  const int backoffs_while_starved = (*handler)->backoffs();
  EXPECT_EQ(accepted.size(), 3u);
  EXPECT_GT(backoffs_while_starved, 0);
  EXPECT_LT(backoffs_while_starved, 20) << "backing off should not spin";
  for (int fd : hogs) close(fd);
  setrlimit(RLIMIT_NOFILE, &original);
  RunUntil([&] { return accepted.size() == clients.size(); });
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(accepted.size(), clients.size());
  for (int fd : accepted) close(fd);
  for (int fd : clients) close(fd);
  handler->reset();
  close(listen_fd);
}

// Stop() stops accepting; connections being served go on, and Drain waits for them.
TEST_F(TcpTest, StopWhileClientsAreConnected) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  const uint16_t port = PortOf(server);
  TCPClient client;
  std::unique_ptr<IOStream> stream = *Await(client.Connect("127.0.0.1", port));
  ExpectEcho(*stream, "before stop\n");
  server.Stop();
  ExpectEcho(*stream, "after stop\n");
  absl::StatusOr<std::unique_ptr<IOStream>> refused = Await(client.Connect("127.0.0.1", port));
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(server.active_connections(), 1);
  stream->Close();
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
}

int CountOpenFds() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++count;
    closedir(dir);
  }
  return count;
}

// Connects a blocking client to 127.0.0.1:`port` and sends `bytes` (maybe none).
int RawClient(uint16_t port, absl::string_view bytes) {
  const SocketAddress address = *SocketAddress::FromIp("127.0.0.1", port);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(connect(fd, address.sockaddr_ptr(), address.size()), 0);
  if (!bytes.empty()) {
    EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  return fd;
}

// Opens `n` blocking client sockets to `port`, each having sent half a line.
std::vector<int> HalfLineClients(uint16_t port, int n) {
  std::vector<int> clients;
  for (int i = 0; i < n; ++i) clients.push_back(RawClient(port, "half a li"));
  return clients;
}

// After a server is gone: only the clients' fds are left of what the process had `before`, each
// client sees the server close its connection (end of stream, or a reset), and closing them
// brings the fd count back.
void ExpectOnlyClientsLeft(const std::vector<int>& clients, int before) {
  EXPECT_EQ(CountOpenFds(), before + static_cast<int>(clients.size()));
  for (int fd : clients) {
    timeval timeout = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char byte;
    // EINTR is possible on any blocking call, and happens here on io_uring: a completion for
    // this thread's own ring interrupts a recv that has a timeout (see the README's backends).
    ssize_t n;
    do {
      n = recv(fd, &byte, 1, 0);
    } while (n < 0 && errno == EINTR);
    EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << errno;
    close(fd);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

// Destroying a server with connections mid-read destroys their handlers (suspended in a read),
// which closes their streams: every fd the server had is freed, and LeakSanitizer (under
// --config=asan) finds nothing.
TEST_F(TcpTest, DestroyingTheServerFreesEveryConnection) {
  testing::RaiseFdLimit(500);
  const int before = CountOpenFds();
  std::vector<int> clients;
  {
    TCPServer server(EchoLines);
    ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
    clients = HalfLineClients(PortOf(server), 100);
    RunUntil([&] { return server.active_connections() == 100; });
  }
  ExpectOnlyClientsLeft(clients, before);
}

// The same with worker threads: destroying the server destroys their loops, and the loops the
// handlers suspended on them.
TEST_F(TcpTest, DestroyingAThreadedServerFreesEveryConnection) {
  testing::RaiseFdLimit(500);
  const int before = CountOpenFds();
  std::vector<int> clients;
  {
    TCPServer server(EchoLines);
    ASSERT_TRUE(server.Bind(0, "127.0.0.1").ok());
    ASSERT_TRUE(server.Start(2).ok());
    clients = HalfLineClients(PortOf(server), 100);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (server.active_connections() < 100 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(server.active_connections(), 100);
  }
  ExpectOnlyClientsLeft(clients, before);
}

// Drain cannot run the loop it is called from: an error, not a spin or a stray Stop.
TEST_F(TcpTest, DrainFromTheRunningLoopIsAnError) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  absl::Status drained;
  ASSERT_TRUE(loop().RunSync([&] { drained = server.Drain(absl::Seconds(5)); }).ok());
  EXPECT_EQ(drained.code(), absl::StatusCode::kFailedPrecondition) << drained;
  // Nothing stray: the next RunSync runs to its result.
  Promise<void> later;
  Future<void> future = later.future();
  loop().CallLater(absl::Milliseconds(20), [&] { later.SetResult(absl::OkStatus()); });
  EXPECT_TRUE(loop().RunSync([&] { return future; }, absl::Seconds(5)).ok());
}

long ResidentKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A client that sends 16 MiB of empty lines and never reads: with the server's default
// backpressure the process grows by a few MiB, not by the 16 MiB times the cost of a queued
// answer (over 1 GiB before).
TEST_F(TcpTest, AClientThatNeverReadsCannotGrowTheServer) {
  // Small kernel buffers on both ends, so that the kernel does not absorb megabytes of answers
  // (one byte each) before the server's own backlog is what holds it back.
  TCPServer server([](std::unique_ptr<IOStream> stream, SocketAddress peer) {
    const int window = 64 * 1024;
    setsockopt(stream->fileno(), SOL_SOCKET, SO_SNDBUF, &window, sizeof(window));
    return EchoLines(std::move(stream), std::move(peer));
  });
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  const long before = ResidentKib();
  std::atomic<bool> done{false};
  size_t sent = 0;
  std::thread client([&, port = PortOf(server)] {
    const SocketAddress address = *SocketAddress::FromIp("127.0.0.1", port);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int window = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof(window));
    if (connect(fd, address.sockaddr_ptr(), address.size()) == 0) {
      timeval stall = {1, 0};  // a second without progress: the server has stopped reading
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall));
      const std::string lines(1 << 20, '\n');
      while (sent < (16u << 20)) {
        const ssize_t n = send(fd, lines.data(), lines.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += n;
      }
    }
    done = true;
    absl::SleepFor(absl::Milliseconds(200));  // while the server's size is measured
    close(fd);
  });
  RunUntil([&] { return done.load(); }, absl::Seconds(60));
  RunFor(absl::Milliseconds(50));
  const long grown_kib = ResidentKib() - before;
  client.join();
  RecordProperty("sent_bytes", sent);
  RecordProperty("rss_growth_kib", grown_kib);
  EXPECT_LT(sent, 16u << 20) << "the server read everything: nothing held it back";
  EXPECT_LE(grown_kib, 64 * 1024) << "grew by " << grown_kib << " KiB after " << sent << " bytes";
  server.Stop();
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
}

// A handler that fails is logged (Tornado: "Error in connection callback"); one that ends
// because its stream closed or it was cancelled is not.
TEST_F(TcpTest, FailedHandlersAreLogged) {
  TCPServer server([](std::unique_ptr<IOStream> stream, SocketAddress) -> Task<void> {
    absl::StatusOr<std::string> line = co_await stream->ReadUntil("\n");
    if (!line.ok()) co_return line.status();
    line->pop_back();  // the delimiter
    co_return absl::InternalError(absl::StrCat("refused ", *line));
  });
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  ::testing::internal::CaptureStderr();
  const int refused = RawClient(PortOf(server), "bad request\n");
  const int gone = RawClient(PortOf(server), "");
  RunUntil([&] { return server.active_connections() == 1; });
  close(gone);  // its handler ends with StreamClosedError
  RunUntil([&] { return server.active_connections() == 0; });
  RunFor(absl::Milliseconds(10));
  const std::string log = ::testing::internal::GetCapturedStderr();
  close(refused);
  EXPECT_NE(log.find("handler failed: INTERNAL: refused bad request"), std::string::npos) << log;
  EXPECT_EQ(log.find("Stream closed"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  server.Stop();
}

// A handler that ends before it first waits is counted out, and its failure logged, like one
// that ends later.
TEST_F(TcpTest, HandlersThatEndAtOnceAreCountedOut) {
  TCPServer server([](std::unique_ptr<IOStream> stream, SocketAddress) -> Task<void> {
    co_return absl::PermissionDeniedError("refused at once");
  });
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  ::testing::internal::CaptureStderr();
  const int client = RawClient(PortOf(server), "");
  char byte;
  RunUntil([&] { return recv(client, &byte, 1, MSG_DONTWAIT) == 0; });  // the server closed
  const std::string log = ::testing::internal::GetCapturedStderr();
  close(client);
  EXPECT_EQ(server.active_connections(), 0);
  EXPECT_NE(log.find("handler failed: PERMISSION_DENIED: refused at once"), std::string::npos)
      << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  server.Stop();
}

// Silent clients and half a ClientHello do not hold a TLS server's connections past its
// handshake timeout (on by default; short here).
TEST_F(TcpTest, TlsHandshakesAreBounded) {
  TCPServer::Options options;
  options.tls = TestServerContext();
  options.handshake_timeout = absl::Milliseconds(200);
  TCPServer server(EchoLines, options);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  std::vector<int> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(RawClient(PortOf(server), ""));
  // A TLS record header announcing a ClientHello that never comes.
  for (int i = 0; i < 20; ++i) {
    clients.push_back(RawClient(PortOf(server), "\x16\x03\x01\x02\x00"));
  }
  RunUntil([&] { return server.active_connections() == 40; });
  const absl::Time start = absl::Now();
  ::testing::internal::CaptureStderr();
  RunUntil([&] { return server.active_connections() == 0; }, absl::Seconds(5));
  ::testing::internal::GetCapturedStderr();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  for (int fd : clients) close(fd);
  EXPECT_EQ(TCPServer::Options().handshake_timeout, absl::Seconds(10));  // the default
  server.Stop();
}

// TCPClient's timeout covers the TLS handshake: a server that accepts and never answers fails
// the connect with DeadlineExceededError in time.
TEST_F(TcpTest, TcpClientTimeoutCoversTheTlsHandshake) {
  absl::StatusOr<std::unique_ptr<testing::Listener>> silent =
      testing::Listener::Open(testing::StreamKind::kTcp4);
  ASSERT_TRUE(silent.ok());
  ConnectOptions options;
  options.tls = TestClientContext();
  options.server_hostname = "localhost";
  options.timeout = absl::Milliseconds(300);
  TCPClient client;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("127.0.0.1", (*silent)->address().port(), options));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(absl::IsDeadlineExceeded(stream.status())) << stream.status();
  EXPECT_NE(std::string(stream.status().message()).find("TLS handshake"), std::string::npos)
      << stream.status();
}

// StartTls with a handshake timeout fails against a silent peer; without one, the pending
// handshake belongs to the loop, and destroying the loop frees it (LeakSanitizer, under
// --config=asan, would report the stream and its fd otherwise).
TEST_F(TcpTest, StartTlsHandshakesAreBoundedAndOwned) {
  absl::StatusOr<std::unique_ptr<testing::Listener>> silent =
      testing::Listener::Open(testing::StreamKind::kTcp4);
  ASSERT_TRUE(silent.ok());
  std::unique_ptr<IOStream> plain = *IOStream::Create(AF_INET);
  ASSERT_TRUE(Await(plain->Connect((*silent)->address())).ok());
  absl::StatusOr<std::unique_ptr<SSLIOStream>> tls = Await(
      StartTls(*plain, false, TestClientContext(), "localhost", absl::Milliseconds(100)));
  EXPECT_EQ(ErrnoOf(tls.status()), ETIMEDOUT) << tls.status();

  const int before = CountOpenFds();
  {
    std::unique_ptr<IOLoop> other = *IOLoop::Create();
    other->MakeCurrent();
    std::unique_ptr<IOStream> stream = *IOStream::Create(AF_INET);
    other->RunSync([&] { return stream->Connect((*silent)->address()); }).IgnoreError();
    Future<std::unique_ptr<SSLIOStream>> pending =
        StartTls(*stream, false, TestClientContext(), "localhost");
    other->RunSync([] {}, absl::Milliseconds(20)).IgnoreError();
    EXPECT_FALSE(pending.done());
  }
  loop().MakeCurrent();
  EXPECT_EQ(CountOpenFds(), before);
}

// The idle timeout (off by default) closes a connection that moves no byte for that long, and
// leaves a busy one alone.
TEST_F(TcpTest, IdleTimeoutClosesOnlyIdleConnections) {
  TCPServer::Options options;
  options.idle_timeout = absl::Milliseconds(100);
  TCPServer server(EchoLines, options);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  TCPClient client;
  std::unique_ptr<IOStream> idle = *Await(client.Connect("127.0.0.1", PortOf(server)));
  std::unique_ptr<IOStream> busy = *Await(client.Connect("127.0.0.1", PortOf(server)));
  for (int i = 0; i < 10; ++i) {  // 400 ms of a line every 40 ms
    ExpectEcho(*busy, "still here\n");
    RunFor(absl::Milliseconds(40));
  }
  absl::StatusOr<std::string> read = Await(idle->ReadUntilClose(), absl::Seconds(5));
  EXPECT_TRUE(read.ok()) << read.status();  // the server closed it
  EXPECT_FALSE(busy->closed());
  ExpectEcho(*busy, "and still\n");
  EXPECT_EQ(TCPServer::Options().idle_timeout, absl::InfiniteDuration());  // the default
  Shutdown(server, {busy.get()});
}

// Bind + Start(n): n threads, each with its own loop and SO_REUSEPORT sockets.
TEST_F(TcpTest, MultiThreadedServer) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Bind(0, "127.0.0.1").ok());
  ASSERT_TRUE(server.Start(2).ok());
  const uint16_t port = PortOf(server);
  TCPClient client;
  std::vector<std::unique_ptr<IOStream>> streams;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<IOStream>> stream = Await(client.Connect("127.0.0.1", port));
    ASSERT_TRUE(stream.ok()) << stream.status();
    ExpectEcho(**stream, absl::StrCat("thread test ", i, "\n"));
    streams.push_back(*std::move(stream));
  }
  streams.clear();
  server.Stop();
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
}

TEST_F(TcpTest, TlsServerAndClient) {
  TCPServer::Options options;
  options.tls = TestServerContext();
  TCPServer server(EchoLines, options);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  ConnectOptions tls;
  tls.tls = TestClientContext();
  tls.server_hostname = "localhost";
  TCPClient client;
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("127.0.0.1", PortOf(server), tls));
  ASSERT_TRUE(stream.ok()) << stream.status();
  SSLIOStream* tls_stream = AsTls(**stream);
  ASSERT_NE(tls_stream, nullptr);
  EXPECT_TRUE(tls_stream->handshake_done());
  ExpectEcho(**stream, "over tls\n");
  Shutdown(server, {stream->get()});
}

// Happy Eyeballs: the IPv6 address never answers; after the delay the IPv4 one is tried and
// wins, and the attempt on IPv6 is abandoned.
TEST_F(TcpTest, HappyEyeballsFallsBackToTheOtherFamily) {
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  const SocketAddress v6 = BlackHole();
  const SocketAddress v4 = *SocketAddress::FromIp("127.0.0.1", PortOf(server));
  TCPClient client(std::make_shared<FixedResolver>(std::vector<SocketAddress>{v6, v4}));
  ConnectOptions options;
  options.happy_eyeballs_delay = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("dual.example", v4.port(), options));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(5));
  ExpectEcho(**stream, "via ipv4\n");
  Shutdown(server, {stream->get()});
}

TEST_F(TcpTest, ConnectTimeoutNamesWhatWasTried) {
  const SocketAddress v6 = BlackHole();
  TCPClient client(std::make_shared<FixedResolver>(std::vector<SocketAddress>{v6}));
  ConnectOptions options;
  options.timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("slow.example", v6.port(), options));
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kDeadlineExceeded) << stream.status();
  EXPECT_NE(std::string(stream.status().message()).find("slow.example"), std::string::npos)
      << stream.status();
}

// IOStream::Connect's timeout cancels the connect: the stream closes, the error is ETIMEDOUT.
TEST_F(TcpTest, IOStreamConnectTimeoutClosesTheStream) {
  const SocketAddress black_hole = BlackHole();
  std::unique_ptr<IOStream> stream = *IOStream::Create(AF_INET6);
  const absl::Time start = absl::Now();
  absl::StatusOr<IOStream*> connected =
      Await(stream->Connect(black_hole, absl::Milliseconds(100)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(IsStreamClosedError(connected.status())) << connected.status();
  EXPECT_EQ(ErrnoOf(connected.status()), ETIMEDOUT) << connected.status();
  EXPECT_TRUE(stream->closed());
  // A connect that succeeds in time is not disturbed by its timer.
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  std::unique_ptr<IOStream> client = *IOStream::Create(AF_INET);
  ASSERT_TRUE(Await(client->Connect(*SocketAddress::FromIp("127.0.0.1", PortOf(server)),
                                    absl::Milliseconds(100)))
                  .ok());
  RunFor(absl::Milliseconds(150));
  EXPECT_FALSE(client->closed());
  ExpectEcho(*client, "still open\n");
  client->Close();
  server.Stop();
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
}

TEST_F(TcpTest, RefusedConnectionNamesEveryAddressTried) {
  // A port nothing listens on: one a socket was just bound to and let go of.
  const int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const SocketAddress any = *SocketAddress::FromIp("127.0.0.1", 0);
  ASSERT_EQ(bind(probe, any.sockaddr_ptr(), any.size()), 0);
  const uint16_t port = SocketAddress::LocalOf(probe).port();
  close(probe);
  const SocketAddress v4 = *SocketAddress::FromIp("127.0.0.1", port);
  const SocketAddress v6 = *SocketAddress::FromIp("::1", port);
  TCPClient client(std::make_shared<FixedResolver>(std::vector<SocketAddress>{v6, v4}));
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("nowhere.example", port));
  ASSERT_FALSE(stream.ok());
  const std::string message(stream.status().message());
  EXPECT_NE(message.find(absl::StrCat("nowhere.example:", port)), std::string::npos) << message;
  EXPECT_NE(message.find(v4.ToString()), std::string::npos) << message;
  EXPECT_NE(message.find(v6.ToString()), std::string::npos) << message;
  EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
}

// The local end can be bound to a chosen address and port (Tornado: source_ip, source_port).
TEST_F(TcpTest, SourceAddressAndPort) {
  SocketAddress seen_peer;
  TCPServer server([&seen_peer](std::unique_ptr<IOStream> stream,
                                SocketAddress peer) -> Task<void> {
    seen_peer = peer;
    co_return co_await EchoLines(std::move(stream), peer);
  });
  ASSERT_TRUE(server.Listen(0, "127.0.0.1").ok());
  ConnectOptions options;
  options.source_ip = "127.0.0.2";
  TCPClient client;
  absl::StatusOr<std::unique_ptr<IOStream>> stream =
      Await(client.Connect("127.0.0.1", PortOf(server), options));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ExpectEcho(**stream, "from 127.0.0.2\n");
  EXPECT_EQ(seen_peer.host(), "127.0.0.2");
  const uint16_t source_port = seen_peer.port();
  Shutdown(server, {stream->get()});

  TCPServer second(EchoLines);
  ASSERT_TRUE(second.Listen(0, "127.0.0.1").ok());
  options.source_port = source_port;  // free again once the first connection is gone
  options.source_ip = "";
  absl::StatusOr<std::unique_ptr<IOStream>> bound =
      Await(client.Connect("127.0.0.1", PortOf(second), options));
  if (bound.ok()) {
    ExpectEcho(**bound, "fixed port\n");
    Shutdown(second, {bound->get()});
  } else {
    // The port may linger in TIME_WAIT: then the error must say which bind failed.
    EXPECT_NE(std::string(bound.status().message()).find("bind"), std::string::npos)
        << bound.status();
  }
}

TEST_F(TcpTest, BindUnixSocket) {
  char dir[] = "/tmp/gust-unix-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/server.sock");
  absl::StatusOr<int> first = BindUnixSocket(path, 0660);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  close(*first);
  absl::StatusOr<int> again = BindUnixSocket(path);  // the stale socket file is replaced
  ASSERT_TRUE(again.ok()) << again.status();
  TCPServer server(EchoLines);
  ASSERT_TRUE(server.AddSockets({*again}).ok());
  // A path does not fit an address's inline storage: copies and moves must keep it.
  const SocketAddress address = *SocketAddress::FromUnixPath(path);
  SocketAddress copy = address;
  const SocketAddress moved = std::move(copy);
  EXPECT_EQ(moved.ToString(), absl::StrCat("unix:", path));
  EXPECT_EQ(address.ToString(), absl::StrCat("unix:", path));
  ASSERT_EQ(server.addresses().size(), 1u);
  EXPECT_EQ(server.addresses()[0].ToString(), absl::StrCat("unix:", path));
  std::unique_ptr<IOStream> stream = *IOStream::Create(AF_UNIX);
  ASSERT_TRUE(Await(stream->Connect(moved)).ok());
  ExpectEcho(*stream, "unix\n");
  stream->Close();
  server.Stop();
  EXPECT_TRUE(server.Drain(absl::Seconds(10)).ok());
  const std::string file = absl::StrCat(dir, "/regular");
  std::ofstream(file) << "not a socket";
  EXPECT_EQ(BindUnixSocket(file).status().code(), absl::StatusCode::kAlreadyExists);
  unlink(file.c_str());
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace gust
