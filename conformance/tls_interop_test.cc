// SSLIOStream against real TLS peers: gust as a client of `openssl s_server` (TLS 1.2 and 1.3,
// ALPN, and the failure cases) and of a Tornado TLS server (python3-tornado), and gust as a
// server for `openssl s_client` (including a refused renegotiation) and `curl`. Everything runs
// on 127.0.0.1 with the certificates make_test_certs.sh made for this build.

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "conformance/stream_fixture.h"
#include "conformance/subprocess.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/task.h"

namespace gust {
namespace {

using ::gust::testing::FreePort;
using ::gust::testing::Listener;
using ::gust::testing::StreamKind;
using ::gust::testing::Subprocess;
using ::gust::testing::TestCert;
using ::gust::testing::TestClientContext;
using ::gust::testing::TestServerContext;
using ::gust::testing::WaitForPort;

class TlsInteropTest : public testing::LoopTest {
 protected:

  // `openssl s_server` presenting `cert`, reversing each line it gets (-rev). The port is
  // picked free and then bound by s_server, so another process may take it in between: then
  // it tries another.
  std::unique_ptr<Subprocess> OpensslServer(absl::string_view cert,
                                            std::vector<std::string> extra = {}) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = FreePort();
      std::vector<std::string> argv = {"openssl", "s_server", "-accept",
                                       absl::StrCat("127.0.0.1:", port_), "-cert",
                                       TestCert(absl::StrCat(cert, ".pem")), "-key",
                                       TestCert(absl::StrCat(cert, ".key")), "-rev"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Start(argv);
      if (!server.ok()) {
        ADD_FAILURE() << server.status();
        return nullptr;
      }
      if (WaitForPort(port_)) return *std::move(server);
    }
    ADD_FAILURE() << "openssl s_server did not start";
    return nullptr;
  }

  std::unique_ptr<SSLIOStream> Client(std::shared_ptr<const TlsContext> context) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return std::make_unique<SSLIOStream>(fd, std::move(context), false, "localhost");
  }

  int port_ = 0;
};

TEST_F(TlsInteropTest, ClientAgainstOpensslServerTls13AndTls12WithAlpn) {
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    SCOPED_TRACE(version);
    std::unique_ptr<Subprocess> server = OpensslServer("server", {version, "-alpn", "http/1.1"});
    std::unique_ptr<SSLIOStream> client = Client(TestClientContext({"h2", "http/1.1"}));
    absl::StatusOr<IOStream*> connected =
        Await(client->Connect(*SocketAddress::FromIp("127.0.0.1", port_)));
    ASSERT_TRUE(connected.ok()) << connected.status();
    EXPECT_EQ(client->tls_version(), std::string(version) == "-tls1_3" ? "TLSv1.3" : "TLSv1.2");
    EXPECT_EQ(client->alpn_protocol(), "http/1.1");
    client->Write("hello gust\n");
    absl::StatusOr<std::string> line = Await(client->ReadUntil("\n"));
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "tsug olleh\n");
  }
}

TEST_F(TlsInteropTest, ClientFailuresAgainstOpensslServer) {
  struct Case {
    const char* cert;
    const char* reason;
  };
  for (const Case& c : {Case{"expired", "certificate has expired"},
                        Case{"wronghost", "Hostname mismatch"},
                        Case{"untrusted", "unable to get local issuer certificate"}}) {
    SCOPED_TRACE(c.cert);
    std::unique_ptr<Subprocess> server = OpensslServer(c.cert);
    std::unique_ptr<SSLIOStream> client = Client(TestClientContext());
    ::testing::internal::CaptureStderr();
    absl::StatusOr<IOStream*> connected =
        Await(client->Connect(*SocketAddress::FromIp("127.0.0.1", port_)));
    ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(IsStreamClosedError(connected.status())) << connected.status();
    EXPECT_NE(std::string(RealError(connected.status()).message()).find(c.reason),
              std::string::npos)
        << connected.status();
  }
}

TEST_F(TlsInteropTest, ClientAgainstTornadoServer) {
  absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Start(
      {"/usr/bin/python3", "conformance/tornado_tls_echo.py", TestCert("server.pem"),
       TestCert("server.key")});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string first_line = (*server)->ReadUntil("\n");
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(first_line.substr(0, first_line.find('\n')), &port))
      << first_line;
  std::unique_ptr<SSLIOStream> client = Client(TestClientContext());
  ASSERT_TRUE(Await(client->Connect(*SocketAddress::FromIp("127.0.0.1", port))).ok());
  for (int i = 0; i < 3; ++i) {
    const std::string line = absl::StrCat("line ", i, " ", std::string(10000 * i, 'x'), "\n");
    client->Write(line);
    absl::StatusOr<std::string> echoed = Await(client->ReadUntil("\n"));
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_EQ(*echoed, line);
  }
}

// A gust TLS server that answers each connection with what `serve` does.
class GustServer {
 public:
  GustServer() : listener_(*Listener::Open(StreamKind::kTls)) {}
  int port() const { return listener_->address().port(); }
  std::unique_ptr<SSLIOStream> Accept(std::vector<std::string> alpn = {}) {
    return std::make_unique<SSLIOStream>(*listener_->Accept(), TestServerContext("server", alpn),
                                         /*server_side=*/true);
  }

 private:
  std::unique_ptr<Listener> listener_;
};

TEST_F(TlsInteropTest, ServerForOpensslClient) {
  GustServer server;
  absl::StatusOr<std::unique_ptr<Subprocess>> client = Subprocess::Start(
      {"openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", server.port()), "-CAfile",
       TestCert("ca.pem"), "-servername", "localhost", "-verify_return_error", "-alpn",
       "http/1.1", "-quiet"});
  ASSERT_TRUE(client.ok());
  std::unique_ptr<SSLIOStream> stream = server.Accept({"h2", "http/1.1"});
  (*client)->Write("ping from openssl\n");
  absl::StatusOr<std::string> line = Await(stream->ReadUntil("\n"));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "ping from openssl\n");
  EXPECT_EQ(stream->server_name(), "localhost");
  EXPECT_EQ(stream->alpn_protocol(), "http/1.1");
  ASSERT_TRUE(Await(stream->Write("pong from gust\n")).ok());
  EXPECT_NE((*client)->ReadUntil("pong from gust").find("pong from gust"), std::string::npos);
  stream->Close();
  (*client)->Finish();
}

// TLS 1.2 client-initiated renegotiation ("R" on s_client's stdin) is refused: the connection
// ends with an error that says so, and nothing hangs.
TEST_F(TlsInteropTest, RenegotiationIsRefused) {
  GustServer server;
  absl::StatusOr<std::unique_ptr<Subprocess>> client = Subprocess::Start(
      {"openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", server.port()), "-CAfile",
       TestCert("ca.pem"), "-servername", "localhost", "-tls1_2"});
  ASSERT_TRUE(client.ok());
  std::unique_ptr<SSLIOStream> stream = server.Accept();
  ASSERT_TRUE(Await(stream->WaitForHandshake()).ok());
  (*client)->ReadUntil("---\n", absl::Seconds(5));
  (*client)->Write("R\n");
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::string> read = Await(stream->ReadUntilClose());
  ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->error().ok());
  EXPECT_NE(std::string(stream->error().message()).find("RENEGOTIATION"), std::string::npos)
      << stream->error();
  (*client)->Finish();
}

// An HTTPS request from curl to a tiny HTTP responder written on gust.
TEST_F(TlsInteropTest, ServerForCurl) {
  GustServer server;
  absl::StatusOr<std::unique_ptr<Subprocess>> curl = Subprocess::Start(
      {"curl", "-sS", "--cacert", TestCert("ca.pem"), "--resolve",
       absl::StrCat("localhost:", server.port(), ":127.0.0.1"),
       absl::StrCat("https://localhost:", server.port(), "/hello")});
  ASSERT_TRUE(curl.ok());
  std::unique_ptr<SSLIOStream> stream = server.Accept({"http/1.1"});
  absl::StatusOr<std::string> request = Await(stream->ReadUntil("\r\n\r\n", 65536));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->rfind("GET /hello HTTP/1.1\r\n", 0), 0u) << *request;
  stream->Write("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nHello curl\n");
  stream->Close();
  const std::string output = (*curl)->Finish();
  EXPECT_EQ((*curl)->exit_code(), 0) << output;
  EXPECT_EQ(output, "Hello curl\n");
}

}  // namespace
}  // namespace gust
