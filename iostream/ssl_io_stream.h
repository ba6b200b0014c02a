// SSLIOStream: an IOStream that speaks TLS (BoringSSL); Tornado's tornado.iostream.SSLIOStream.
//
// Every read and write behaves as on an IOStream; the handshake runs first, on its own, and
// reads and writes made meanwhile wait for it. A client verifies the server's certificate and
// name by default (see tls_context.h) and sends the host name as SNI. A failed handshake closes
// the stream; every pending future then fails with StreamClosedError whose real error carries
// BoringSSL's reason ("certificate verify failed: certificate has expired", ...).
//
// Ends of stream: a peer's close_notify is a clean end (error() stays OK); a peer that closes
// the connection without one (a truncation) ends the stream like a reset: ReadUntilClose
// gets the data that arrived, and error() says the connection was truncated (ErrnoOf() gives
// ECONNRESET). Close() sends close_notify when the handshake had finished. Renegotiation is
// refused (BoringSSL's default).
//
// Example (client):
//   TlsOptions options;  // verify against the system store
//   auto stream = std::make_unique<SSLIOStream>(socket(...), *TlsContext::Create(false, options),
//                                               /*server_side=*/false);
//   co_await stream->Connect("example.com", 443);  // resolves after the handshake

#ifndef GUST_IOSTREAM_SSL_IO_STREAM_H_
#define GUST_IOSTREAM_SSL_IO_STREAM_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <sys/types.h>

#include <openssl/ssl.h>

#include "iostream/io_stream.h"
#include "iostream/tls_context.h"

namespace gust {

class SSLIOStream : public IOStream {
 public:
  // Takes ownership of `socket_fd`. A server stream takes an accepted socket and starts its
  // handshake at once (in the loop's next iterations). A client stream takes either an
  // unconnected socket (then Connect(), which resolves after the handshake) or a connected one
  // (the handshake starts at once). `server_hostname` (clients) is sent as SNI and checked
  // against the certificate; when empty, the host given to Connect() is used.
  SSLIOStream(int socket_fd, std::shared_ptr<const TlsContext> context, bool server_side,
              std::string server_hostname = "", const Options& options = Options());
  ~SSLIOStream() override;

  // Tornado: wait_for_handshake(). Resolves with this stream once the handshake has finished
  // (at once if it has). Calling it again while the first call is pending is a
  // FailedPreconditionError ("Already waiting").
  Future<SSLIOStream*> WaitForHandshake();
  // Tornado 4: wait_for_handshake(callback). `callback` runs from the loop with the result.
  void WaitForHandshake(absl::AnyInvocable<void(absl::StatusOr<SSLIOStream*>)> callback);

  // Closes the stream (ETIMEDOUT: "TLS handshake timed out after ...") unless the handshake has
  // finished within `timeout` from now: a peer that says nothing, or half a ClientHello, holds
  // nothing for longer. TCPServer sets it on every TLS stream it accepts.
  void SetHandshakeTimeout(absl::Duration timeout);

  bool handshake_done() const { return handshake_done_; }
  // After the handshake: the ALPN protocol chosen ("" if none), the SNI name the client sent
  // (server side), the TLS version ("TLSv1.3"), the cipher, and the peer's certificate (null if
  // it sent none).
  std::string alpn_protocol() const;
  std::string server_name() const;
  std::string tls_version() const;
  std::string cipher() const;
  bssl::UniquePtr<X509> peer_certificate() const;
  // The peer certificate's subject, one line ("CN=localhost"), or "".
  std::string peer_certificate_subject() const;

 protected:
  void CloseFd() override;
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override;
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override;
  // Both buffers through ReadFromFd, as BaseIOStream's default does: IOStream's readv would hand
  // over the socket's records, ciphertext, as data.
  absl::StatusOr<std::optional<size_t>> ReadFromFdScattered(absl::Span<char> first,
                                                            absl::Span<char> second) override;
  bool HasReadableInput() const override;
  // False: a read ends with a TLS record, and more records may wait on the socket.
  bool ReadsDrainTheFd() const override { return false; }
  uint32_t CrossWaits() const override;
  void HandleConnect() override;
  void FailPendingOperations(const absl::Status& closed_error) override;
  uint32_t ConnectingInterest() const override;
  void OnConnectTarget(std::string host) override;
  void OnConnected() override;

  // The transport TLS runs over: send(2) and recv(2) on the socket. Same contract: the bytes
  // moved, 0 at the end of the stream (receive only), or -1 with errno set (EAGAIN: would
  // block). A subclass may put another transport under the TLS (a test transport that
  // trickles bytes and refuses at random, as BoringSSL's async_bio does); it must not call
  // back into the stream.
  virtual ssize_t TransportSend(const char* data, size_t size);
  virtual ssize_t TransportReceive(char* data, size_t size);
  // The connection's BoringSSL object (null before the handshake starts), for subclasses that
  // need what the stream does not offer. Reading or writing through it bypasses the stream.
  SSL* ssl() const { return ssl_.get(); }

 private:
  // Routes BoringSSL's reads and writes through TransportSend/TransportReceive.
  static const BIO_METHOD* TransportBioMethod();

  void DoHandshake();
  absl::Status SetUpSsl();
  absl::Status HandshakeError(int ssl_error);
  absl::Status IoError(int ssl_error, absl::string_view operation);

  const std::shared_ptr<const TlsContext> context_;
  const bool server_side_;
  std::string server_hostname_;
  bssl::UniquePtr<SSL> ssl_;
  bool handshake_done_ = false;
  uint32_t handshake_wants_ = IOLoop::kWrite;
  // After the handshake, BoringSSL may need to send while reading (a KeyUpdate it answers,
  // an alert) or, in principle, to receive while writing; see CrossWaits().
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  std::optional<Promise<SSLIOStream*>> handshake_promise_;
  std::string scratch_;  // gathers small queued writes into one TLS record
};

// The SSLIOStream behind a stream that TCPServer or TCPClient hands out with TLS on (as a
// std::unique_ptr<IOStream>, the one ownership model of every stream gust gives out); nullptr
// if `stream` does not speak TLS. Checked, unlike a static_cast.
SSLIOStream* AsTls(IOStream& stream);

// Tornado: IOStream.start_tls(server_side, ssl_options, server_hostname). Hands `stream`'s
// socket to a new SSLIOStream, which the future resolves with once the handshake is done. A free
// function rather than a member, so that IOStream does not depend on the TLS library. `stream`
// must be idle: connected, nothing pending, nothing buffered either way (else
// FailedPreconditionError and the stream stays as it is); bad options fail the same way and
// change nothing. Once it succeeds `stream` is closed (without closing the socket) and must not
// be used; the new stream has its close callback and its Options, max_write_buffer_size included
// (Tornado drops that one). A handshake failure fails the future with StreamClosedError whose
// real error is BoringSSL's reason. `server_hostname` is sent as SNI and checked against the
// certificate. With a finite `handshake_timeout`, a handshake not done by then fails (ETIMEDOUT)
// and closes the new stream. Until the handshake ends, the new stream belongs to this thread's
// loop: destroying the loop destroys it.
Future<std::unique_ptr<SSLIOStream>> StartTls(
    IOStream& stream, bool server_side, const TlsOptions& options = TlsOptions(),
    std::string server_hostname = "", absl::Duration handshake_timeout = absl::InfiniteDuration());
Future<std::unique_ptr<SSLIOStream>> StartTls(
    IOStream& stream, bool server_side, std::shared_ptr<const TlsContext> context,
    std::string server_hostname = "", absl::Duration handshake_timeout = absl::InfiniteDuration());

}  // namespace gust

#endif  // GUST_IOSTREAM_SSL_IO_STREAM_H_
