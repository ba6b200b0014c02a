// TLS behaviors (Tornado's TestIOStreamStartTLS, WaitForHandshakeTest, TestIOStreamCheckHostname
// and the TLS parts of B065-B084) on every backend, with certificates made at build time by
// make_test_certs.sh. The read/write behaviors over TLS run in read_write_test.cc (kind "Tls").

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/stream_fixture.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/task.h"

namespace gust {
namespace {

using ::gust::testing::Listener;
using ::gust::testing::StreamKind;
using ::gust::testing::TestCert;
using ::gust::testing::TestClientContext;
using ::gust::testing::TestServerContext;

class SslTest : public testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    listener_ = *Listener::Open(StreamKind::kTls);
  }


  int NewSocket() { return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

  // Starts a client connect and accepts it as a TLS server presenting `cert`.
  struct Connection {
    std::unique_ptr<SSLIOStream> client;
    std::unique_ptr<SSLIOStream> server;
    Future<IOStream*> connected;
  };
  Connection Connect(std::shared_ptr<const TlsContext> client_context,
                     std::shared_ptr<const TlsContext> server_context,
                     std::string server_hostname = "localhost") {
    Connection c;
    c.client = std::make_unique<SSLIOStream>(NewSocket(), std::move(client_context), false,
                                             std::move(server_hostname));
    c.connected = c.client->Connect(listener_->address());
    c.server = std::make_unique<SSLIOStream>(*listener_->Accept(), std::move(server_context),
                                             /*server_side=*/true);
    return c;
  }

  // Expects the client's connect to fail verification with `reason` in the real error.
  void ExpectVerifyFailure(Connection& c, absl::string_view reason) {
    bool client_closed = false;
    c.client->SetCloseCallback([&] { client_closed = true; });
    ::testing::internal::CaptureStderr();
    absl::StatusOr<IOStream*> connected = Await(c.connected);
    Await(c.server->WaitForHandshake()).IgnoreError();  // the server fails too
    RunUntil([&] { return client_closed; });  // B066
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(IsStreamClosedError(connected.status())) << connected.status();
    const absl::Status real = RealError(connected.status());
    EXPECT_EQ(real.code(), absl::StatusCode::kUnauthenticated) << real;
    EXPECT_NE(std::string(real.message()).find(std::string(reason)), std::string::npos) << real;
    EXPECT_EQ(c.client->error(), real);
    EXPECT_NE(logged.find("SSL Error"), std::string::npos) << logged;  // B074
  }

  std::unique_ptr<Listener> listener_;
};

// Tornado 4's wait_for_handshake(callback).
TEST_F(SslTest, WaitForHandshakeCallback) {
  Connection c = Connect(TestClientContext(), TestServerContext());
  absl::StatusOr<SSLIOStream*> done = absl::UnknownError("not called");
  c.server->WaitForHandshake([&](absl::StatusOr<SSLIOStream*> result) { done = result; });
  RunUntil([&] { return !absl::IsUnknown(done.status()); });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, c.server.get());
  EXPECT_TRUE(Await(c.connected).ok());
}

// An empty write made during the handshake resolves once it is done.
TEST_F(SslTest, EmptyWriteDuringTheHandshakeResolvesAfterIt) {
  Connection c = Connect(TestClientContext(), TestServerContext());
  Future<void> written = c.client->Write("");
  EXPECT_TRUE(Await(c.connected).ok());
  EXPECT_TRUE(Await(written, absl::Seconds(5)).ok());
}

// B076 (the server gets the stream before its handshake; WaitForHandshake resolves), the
// client's connect resolves after the handshake, and what both sides see afterwards.
TEST_F(SslTest, B076_WaitForHandshakeAndConnectionDetails) {
  Connection c = Connect(TestClientContext({"h2", "http/1.1"}),
                         TestServerContext("server", {"http/1.1", "h2"}));
  EXPECT_FALSE(c.server->handshake_done());
  EXPECT_EQ(c.server->cipher(), "");
  absl::StatusOr<SSLIOStream*> handshake = Await(c.server->WaitForHandshake());
  ASSERT_TRUE(handshake.ok()) << handshake.status();
  EXPECT_EQ(*handshake, c.server.get());
  absl::StatusOr<IOStream*> connected = Await(c.connected);
  ASSERT_TRUE(connected.ok()) << connected.status();
  EXPECT_TRUE(c.client->handshake_done());
  EXPECT_NE(c.client->cipher(), "");
  EXPECT_EQ(c.client->tls_version(), "TLSv1.3");
  EXPECT_EQ(c.server->server_name(), "localhost");               // SNI
  EXPECT_EQ(c.client->alpn_protocol(), "http/1.1");              // the server's preference
  EXPECT_EQ(c.server->alpn_protocol(), "http/1.1");
  EXPECT_EQ(c.client->peer_certificate_subject(), "/CN=localhost");
  EXPECT_EQ(c.server->peer_certificate(), nullptr);  // no client certificate asked for
}

// B077 (a second wait while one is pending is an error; the first still resolves), B078 (after
// the handshake, it resolves at once).
TEST_F(SslTest, B077_B078_WaitForHandshakeTwice) {
  Connection c = Connect(TestClientContext(), TestServerContext());
  Future<SSLIOStream*> first = c.server->WaitForHandshake();
  Future<SSLIOStream*> second = c.server->WaitForHandshake();
  ASSERT_TRUE(second.done());
  EXPECT_EQ(second.result().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Await(first).ok());
  Future<SSLIOStream*> after = c.server->WaitForHandshake();
  ASSERT_TRUE(after.done());
  EXPECT_EQ(*after.result(), c.server.get());
  EXPECT_TRUE(Await(c.connected).ok());
}

// Verification failures, each with the verify error's text (B074, B080 and the cases).
TEST_F(SslTest, ExpiredCertificate) {
  Connection c = Connect(TestClientContext(), TestServerContext("expired"));
  ExpectVerifyFailure(c, "certificate has expired");
}

TEST_F(SslTest, B080_WrongHost) {
  Connection c = Connect(TestClientContext(), TestServerContext("wronghost"));
  ExpectVerifyFailure(c, "Hostname mismatch");
}

TEST_F(SslTest, UntrustedCa) {
  Connection c = Connect(TestClientContext(), TestServerContext("untrusted"));
  ExpectVerifyFailure(c, "unable to get local issuer certificate");
}

TEST_F(SslTest, B074_SelfSignedWithDefaultOptionsIsRefused) {
  // Default options: the system trust store, which does not know the test certificates.
  Connection c = Connect(*TlsContext::Create(false, TlsOptions()), TestServerContext("selfsigned"));
  ExpectVerifyFailure(c, "self signed certificate");
}

// B075: the name checked is the one given; an IP address is checked as an IP address.
TEST_F(SslTest, B075_IpAddressServerHostname) {
  Connection good = Connect(TestClientContext(), TestServerContext(), "127.0.0.1");
  EXPECT_TRUE(Await(good.connected).ok());
  Connection bad = Connect(TestClientContext(), TestServerContext("wronghost"), "127.0.0.1");
  ExpectVerifyFailure(bad, "IP address mismatch");
}

// B079 (a matching name), B081 (check_hostname off: the chain is still verified).
TEST_F(SslTest, B079_B081_HostnameMatchAndCheckDisabled) {
  Connection match = Connect(TestClientContext(), TestServerContext("wronghost"), "wrong.example");
  EXPECT_TRUE(Await(match.connected).ok());

  TlsOptions options;
  options.ca_file = TestCert("ca.pem");
  options.check_hostname = false;
  Connection unchecked =
      Connect(*TlsContext::Create(false, options), TestServerContext("wronghost"), "bar.example");
  EXPECT_TRUE(Await(unchecked.connected).ok());
  Connection untrusted =
      Connect(*TlsContext::Create(false, options), TestServerContext("untrusted"), "bar.example");
  ExpectVerifyFailure(untrusted, "unable to get local issuer certificate");
}

// B083: checking a host name without one is a clear error; verify = kNone needs none.
TEST_F(SslTest, B083_CheckHostnameRequiresAServerHostname) {
  // A connected socket, so Connect() supplies no host either.
  absl::StatusOr<std::unique_ptr<IOStream>> plain = IOStream::Create(AF_INET);
  ASSERT_TRUE(Await((*plain)->Connect(listener_->address())).ok());
  const int server_fd = *listener_->Accept();
  const int client_fd = dup((*plain)->fileno());
  (*plain)->Close();
  ::testing::internal::CaptureStderr();
  SSLIOStream client(client_fd, TestClientContext(), /*server_side=*/false);
  SSLIOStream server(server_fd, TestServerContext(), /*server_side=*/true);
  Future<void> write = client.Write("never sent");
  absl::StatusOr<SSLIOStream*> handshake = Await(client.WaitForHandshake());
  ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(IsStreamClosedError(handshake.status())) << handshake.status();
  EXPECT_EQ(RealError(handshake.status()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(RealError(handshake.status()).message()).find("server_hostname"),
            std::string::npos);
  EXPECT_TRUE(IsStreamClosedError(Await(write)));  // every pending future fails

  TlsOptions no_verify;
  no_verify.verify = TlsOptions::Verify::kNone;
  Connection c = Connect(*TlsContext::Create(false, no_verify), TestServerContext("selfsigned"), "");
  EXPECT_TRUE(Await(c.connected).ok());
}

// Bad options are statuses naming the file and the reason.
TEST_F(SslTest, BadOptions) {
  TlsOptions missing;
  missing.cert_chain_file = "/nonexistent/cert.pem";
  missing.private_key_file = TestCert("server.key");
  absl::Status status = TlsContext::Create(true, missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("/nonexistent/cert.pem"), std::string::npos);
  EXPECT_NE(std::string(status.message()).find("No such file"), std::string::npos) << status;

  TlsOptions mismatch;
  mismatch.cert_chain_file = TestCert("server.pem");
  mismatch.private_key_file = TestCert("expired.key");
  status = TlsContext::Create(true, mismatch).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("does not match"), std::string::npos) << status;
  EXPECT_NE(std::string(status.message()).find("expired.key"), std::string::npos) << status;

  TlsOptions not_pem;
  not_pem.cert_chain_file = TestCert("server.key");  // a key is not a certificate
  not_pem.private_key_file = TestCert("server.key");
  EXPECT_EQ(TlsContext::Create(true, not_pem).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(TlsContext::Create(true, TlsOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);  // a server needs a certificate
  TlsOptions bad_ca;
  bad_ca.ca_file = "/nonexistent/ca.pem";
  status = TlsContext::Create(false, bad_ca).status();
  EXPECT_NE(std::string(status.message()).find("/nonexistent/ca.pem"), std::string::npos);
}

// A caller-configured SSL_CTX (Tornado's ssl.SSLContext form).
TEST_F(SslTest, CallerOwnedSslCtx) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  ASSERT_TRUE(SSL_CTX_load_verify_locations(ctx.get(), TestCert("ca.pem").c_str(), nullptr));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::shared_ptr<const TlsContext> context = TlsContext::FromSslCtx(ctx.get(), true);
  ctx.reset();  // the TlsContext holds its own reference
  Connection c = Connect(context, TestServerContext());
  EXPECT_TRUE(Await(c.connected).ok());
}

// B073: an SMTP-like exchange in cleartext, then STARTTLS on both sides, then more lines over
// TLS. B082: StartTls refuses a stream with buffered data, and carries the close callback and
// the options (max_write_buffer_size included) over.
TEST_F(SslTest, B073_B082_StartTls) {
  absl::StatusOr<std::unique_ptr<IOStream>> client = IOStream::Create(AF_INET);
  Future<IOStream*> connected = (*client)->Connect(listener_->address());
  BaseIOStream::Options options;
  options.max_write_buffer_size = 1 << 20;
  IOStream server(*listener_->Accept(), options);
  ASSERT_TRUE(Await(connected).ok());

  auto exchange = [&](BaseIOStream& from, BaseIOStream& to, const std::string& line) {
    from.Write(line);
    absl::StatusOr<std::string> got = Await(to.ReadUntil("\r\n"));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, line);
  };
  exchange(server, **client, "220 mail.example.com ESMTP\r\n");
  exchange(**client, server, "EHLO mail.example.com\r\n");
  exchange(server, **client, "250-mail.example.com welcome\r\n");
  exchange(server, **client, "250 STARTTLS\r\n");
  exchange(**client, server, "STARTTLS\r\n");

  // Refused while data is buffered: the client has a line it has not read yet.
  server.Write("220 Go ahead\r\n");
  ASSERT_TRUE(Await((*client)->ReadBytes(3)).ok());
  Future<std::unique_ptr<SSLIOStream>> refused = StartTls(**client, false, TlsOptions());
  ASSERT_TRUE(refused.done());
  EXPECT_EQ(refused.result().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Await((*client)->ReadUntil("\r\n")).ok());

  bool server_close_callback_ran = false;
  server.SetCloseCallback([&] { server_close_callback_ran = true; });
  TlsOptions client_options;
  client_options.ca_file = TestCert("ca.pem");
  TlsOptions server_options;
  server_options.cert_chain_file = TestCert("server.pem");
  server_options.private_key_file = TestCert("server.key");
  Future<std::unique_ptr<SSLIOStream>> client_tls =
      StartTls(**client, false, client_options, "localhost");
  Future<std::unique_ptr<SSLIOStream>> server_tls = StartTls(server, true, server_options);
  EXPECT_TRUE((*client)->closed());
  absl::StatusOr<std::unique_ptr<SSLIOStream>> client_stream = Await(client_tls);
  absl::StatusOr<std::unique_ptr<SSLIOStream>> server_stream = Await(server_tls);
  ASSERT_TRUE(client_stream.ok()) << client_stream.status();
  ASSERT_TRUE(server_stream.ok()) << server_stream.status();
  exchange(**client_stream, **server_stream, "EHLO mail.example.com\r\n");
  exchange(**server_stream, **client_stream, "250 mail.example.com welcome\r\n");
  EXPECT_EQ((*server_stream)->options().max_write_buffer_size, 1u << 20);
  (*client_stream)->Close();
  EXPECT_TRUE(IsStreamClosedError(Await((*server_stream)->ReadBytes(1)).status()));
  RunUntil([&] { return server_close_callback_ran; });
}

// close_notify is a clean end; a connection cut without one is a truncation: the data that
// arrived is delivered and error() says what happened.
TEST_F(SslTest, CloseNotifyAndTruncation) {
  {
    Connection c = Connect(TestClientContext(), TestServerContext());
    ASSERT_TRUE(Await(c.connected).ok());
    c.client->Write("goodbye");
    c.client->Close();
    absl::StatusOr<std::string> rest = Await(c.server->ReadUntilClose());
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(*rest, "goodbye");
    EXPECT_TRUE(c.server->error().ok()) << c.server->error();
  }
  {
    Connection c = Connect(TestClientContext(), TestServerContext());
    ASSERT_TRUE(Await(c.connected).ok());
    ASSERT_TRUE(Await(c.client->Write("cut short")).ok());
    // Cut the TCP connection under the TLS stream: no close_notify is sent.
    ASSERT_EQ(shutdown(c.client->fileno(), SHUT_RDWR), 0);
    absl::StatusOr<std::string> rest = Await(c.server->ReadUntilClose());
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(*rest, "cut short");
    EXPECT_EQ(ErrnoOf(c.server->error()), ECONNRESET) << c.server->error();
    EXPECT_NE(std::string(c.server->error().message()).find("truncated"), std::string::npos)
        << c.server->error();
  }
}

// Bytes the TLS library has already taken off the socket cannot wake the poller: a read that
// stops after its chunk budget with decrypted data left inside the library must come back for
// it. One 16,301-byte record read in 1,000-byte chunks, or with a small buffer limit.
TEST_F(SslTest, DataDecryptedInsideTheTlsLibraryIsNotStalled) {
  for (const size_t limit : {size_t{0}, size_t{20000}}) {
    BaseIOStream::Options options;
    if (limit == 0) {
      options.read_chunk_size = 1000;
    } else {
      options.max_buffer_size = limit;
    }
    SCOPED_TRACE(absl::StrCat("read_chunk_size ", options.read_chunk_size, " max_buffer_size ",
                              options.max_buffer_size));
    auto client = std::make_unique<SSLIOStream>(NewSocket(), TestClientContext(), false,
                                                "localhost");
    Future<IOStream*> connected = client->Connect(listener_->address());
    auto server = std::make_unique<SSLIOStream>(*listener_->Accept(), TestServerContext(),
                                                /*server_side=*/true, "", options);
    ASSERT_TRUE(Await(connected).ok());
    const std::string record = std::string(16300, 'r') + "\n";  // one record holds 16 KiB
    client->Write(record);
    absl::StatusOr<std::string> line = Await(server->ReadUntil("\n"), absl::Seconds(5));
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, record);
  }
}

// A client that speaks plaintext (or garbage) to a TLS server: the server's diagnosis is the TLS
// error, not "certificate verify failed" (no certificate was verified).
TEST_F(SslTest, PlaintextToATlsServerIsDiagnosedAsSuch) {
  const int client = NewSocket();
  connect(client, listener_->address().sockaddr_ptr(), listener_->address().size());
  auto server = std::make_unique<SSLIOStream>(*listener_->Accept(), TestServerContext(),
                                              /*server_side=*/true);
  ASSERT_EQ(send(client, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<SSLIOStream*> handshake = Await(server->WaitForHandshake());
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(handshake.ok());
  const absl::Status real = RealError(handshake.status());
  EXPECT_NE(real.code(), absl::StatusCode::kUnauthenticated) << real;
  EXPECT_EQ(std::string(real.message()).find("certificate"), std::string::npos) << real;
  // BoringSSL recognizes the HTTP request.
  EXPECT_NE(std::string(real.message()).find("HTTP_REQUEST"), std::string::npos) << real;
  EXPECT_EQ(logged.find("certificate verify failed"), std::string::npos) << logged;
  close(client);
}

// Writing (and sending close_notify) to a peer that has gone never raises SIGPIPE, which would
// kill this test; the write fails with StreamClosedError saying why.
TEST_F(SslTest, WritingToAGonePeerDoesNotRaiseSigpipe) {
  Connection c = Connect(TestClientContext(), TestServerContext());
  ASSERT_TRUE(Await(c.connected).ok());
  ASSERT_TRUE(Await(c.server->WaitForHandshake()).ok());
  c.server.reset();
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = Await(c.client->Write(std::string(64 * 1024, 'p')));
  }
  EXPECT_TRUE(IsStreamClosedError(status)) << status;
  const int error = ErrnoOf(status);
  EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << status;

  Connection d = Connect(TestClientContext(), TestServerContext());
  ASSERT_TRUE(Await(d.connected).ok());
  ASSERT_TRUE(Await(d.server->WaitForHandshake()).ok());
  d.server.reset();
  RunFor(absl::Milliseconds(5));
  d.client->Close();  // sends close_notify into a closed connection
}

// TLS records split in every way: a proxy between client and server forwards one byte per loop
// iteration in each direction.
TEST_F(SslTest, RecordsSplitIntoSingleBytes) {
  absl::StatusOr<std::unique_ptr<Listener>> front = Listener::Open(StreamKind::kTls);
  SSLIOStream client(NewSocket(), TestClientContext(), false, "localhost");
  Future<IOStream*> connected = client.Connect((*front)->address());
  IOStream proxy_front(*(*front)->Accept());
  std::unique_ptr<IOStream> proxy_back = *IOStream::Create(AF_INET);
  ASSERT_TRUE(Await(proxy_back->Connect(listener_->address())).ok());
  SSLIOStream server(*listener_->Accept(), TestServerContext(), true);

  auto pump = [](BaseIOStream& from, BaseIOStream& to) -> Task<void> {
    for (;;) {
      absl::StatusOr<std::string> byte = co_await from.ReadBytes(1);
      if (!byte.ok()) {
        to.Close();
        co_return absl::OkStatus();
      }
      co_await to.Write(*byte);
    }
  };
  Task<void> up = pump(proxy_front, *proxy_back);
  Task<void> down = pump(*proxy_back, proxy_front);
  ASSERT_TRUE(Await(connected).ok());
  std::string payload;
  for (int i = 0; i < 3000; ++i) payload += static_cast<char>('a' + i % 26);
  client.Write(payload);
  absl::StatusOr<std::string> received = Await(server.ReadBytes(payload.size()));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(*received, payload);
  server.Write("done\n");
  EXPECT_EQ(*Await(client.ReadUntil("\n")), "done\n");
  client.Close();
  EXPECT_TRUE(Await(up.future()).ok());
  EXPECT_TRUE(Await(down.future()).ok());
}

}  // namespace
}  // namespace gust
