#include "conformance/stream_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"
#include "iostream/pipe_io_stream.h"

namespace gust {
namespace testing {

std::string StreamKindName(const ::testing::TestParamInfo<StreamKind>& info) {
  switch (info.param) {
    case StreamKind::kTcp4:
      return "Tcp4";
    case StreamKind::kTcp6:
      return "Tcp6";
    case StreamKind::kUnix:
      return "Unix";
    case StreamKind::kPipe:
      return "Pipe";
    case StreamKind::kTls:
      return "Tls";
  }
  return "Unknown";
}

std::string TestCert(absl::string_view name) {
  return absl::StrCat("conformance/testcerts/", name);
}

std::shared_ptr<const TlsContext> TestServerContext(absl::string_view cert,
                                                    std::vector<std::string> alpn) {
  TlsOptions options;
  options.cert_chain_file = TestCert(absl::StrCat(cert, ".pem"));
  options.private_key_file = TestCert(absl::StrCat(cert, ".key"));
  options.alpn_protocols = std::move(alpn);
  absl::StatusOr<std::shared_ptr<const TlsContext>> context = TlsContext::Create(true, options);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? *context : nullptr;
}

std::shared_ptr<const TlsContext> TestClientContext(std::vector<std::string> alpn) {
  TlsOptions options;
  options.ca_file = TestCert("ca.pem");
  options.alpn_protocols = std::move(alpn);
  absl::StatusOr<std::shared_ptr<const TlsContext>> context = TlsContext::Create(false, options);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? *context : nullptr;
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Open(StreamKind kind) {
  absl::StatusOr<SocketAddress> address;
  std::string path;
  switch (kind) {
    case StreamKind::kTcp4:
    case StreamKind::kTls:
      address = SocketAddress::FromIp("127.0.0.1", 0);
      break;
    case StreamKind::kTcp6:
      address = SocketAddress::FromIp("::1", 0);
      break;
    case StreamKind::kUnix: {
      // Not TEST_TMPDIR: under Bazel's sandbox it is longer than sockaddr_un allows. Not the
      // pid either: sandboxed tests running side by side may all have the same one.
      char dir[] = "/tmp/gust-XXXXXX";
      if (mkdtemp(dir) == nullptr) return ErrnoError(errno, "mkdtemp");
      path = absl::StrCat(dir, "/socket");
      address = SocketAddress::FromUnixPath(path);
      break;
    }
    case StreamKind::kPipe:
      return absl::InvalidArgumentError("pipes have no listener");
  }
  if (!address.ok()) return address.status();
  const int fd = socket(address->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, address->sockaddr_ptr(), address->size()) != 0 || listen(fd, 128) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError(error, absl::StrCat("bind/listen ", address->ToString()));
  }
  // getsockname gives the port picked for port 0; a Unix socket keeps the path it was given.
  SocketAddress actual = kind == StreamKind::kUnix ? *address : SocketAddress::LocalOf(fd);
  return std::make_unique<Listener>(fd, actual, path);
}

Listener::~Listener() {
  close(fd_);
  if (!path_.empty()) {
    unlink(path_.c_str());
    rmdir(path_.substr(0, path_.rfind('/')).c_str());
  }
}

absl::StatusOr<int> Listener::Accept() {
  pollfd ready = {fd_, POLLIN, 0};
  if (poll(&ready, 1, 10000) != 1) return absl::DeadlineExceededError("nothing to accept");
  const int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "accept");
  return fd;
}

StreamPair StreamTest::MakePair(const BaseIOStream::Options& reader_options,
                                const BaseIOStream::Options& writer_options) {
  StreamPair pair;
  if (IsPipe()) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pair.reader = std::make_unique<PipeIOStream>(fds[0], reader_options);
    pair.writer = std::make_unique<PipeIOStream>(fds[1], writer_options);
    return pair;
  }
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Open(GetParam());
  if (!listener.ok()) {
    if (GetParam() == StreamKind::kTcp6) {
      ADD_FAILURE() << "no IPv6 loopback here: " << listener.status();
    } else {
      ADD_FAILURE() << listener.status();
    }
    return pair;
  }
  std::unique_ptr<IOStream> client;
  if (IsTls()) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    client = std::make_unique<SSLIOStream>(fd, TestClientContext(), /*server_side=*/false,
                                           "localhost", writer_options);
  } else {
    absl::StatusOr<std::unique_ptr<IOStream>> created =
        IOStream::Create((*listener)->family(), writer_options);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return pair;
    client = *std::move(created);
  }
  Future<IOStream*> connected = client->Connect((*listener)->address());
  absl::StatusOr<int> accepted = (*listener)->Accept();
  EXPECT_TRUE(accepted.ok()) << accepted.status();
  if (!accepted.ok()) return pair;
  if (IsTls()) {
    pair.reader = std::make_unique<SSLIOStream>(*accepted, TestServerContext(),
                                                /*server_side=*/true, "", reader_options);
  } else {
    pair.reader = std::make_unique<IOStream>(*accepted, reader_options);
  }
  absl::StatusOr<IOStream*> result = Await(connected);
  EXPECT_TRUE(result.ok()) << result.status();
  pair.writer = std::move(client);
  return pair;
}


}  // namespace testing
}  // namespace gust
