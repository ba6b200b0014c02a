#include "iostream/ssl_io_stream.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"
#include "iostream/internal/check.h"
#include "iostream/log.h"
#include "iostream/task.h"
#include "iostream/tls_errors.h"

namespace gust {
namespace {

// BoringSSL takes int lengths; Tornado caps each call at 1 GiB for the same reason.
constexpr size_t kMaxTlsCall = size_t{1} << 30;
// Small queued writes are gathered into one record of up to this size.
constexpr size_t kRecordSize = 16 * 1024;

bool IsIpLiteral(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

bool IsConnected(int fd) {
  sockaddr_storage peer;
  socklen_t size = sizeof(peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) == 0;
}

}  // namespace

const BIO_METHOD* SSLIOStream::TransportBioMethod() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gust transport");
    BIO_meth_set_write(m, [](BIO* bio, const char* data, int size) -> int {
      BIO_clear_retry_flags(bio);
      const ssize_t n = static_cast<SSLIOStream*>(BIO_get_data(bio))->TransportSend(data, size);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(bio);
      return static_cast<int>(n);
    });
    BIO_meth_set_read(m, [](BIO* bio, char* data, int size) -> int {
      BIO_clear_retry_flags(bio);
      const ssize_t n =
          static_cast<SSLIOStream*>(BIO_get_data(bio))->TransportReceive(data, size);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(bio);
      return static_cast<int>(n);
    });
    BIO_meth_set_ctrl(m, [](BIO*, int command, long, void*) -> long {
      return command == BIO_CTRL_FLUSH ? 1 : 0;
    });
    BIO_meth_set_create(m, [](BIO* bio) -> int {
      BIO_set_init(bio, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

// MSG_NOSIGNAL: a close_notify sent to a peer that has gone must not raise SIGPIPE (BoringSSL's
// own fd BIO uses write(2)).
ssize_t SSLIOStream::TransportSend(const char* data, size_t size) {
  ssize_t n;
  do {
    n = send(fileno(), data, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

ssize_t SSLIOStream::TransportReceive(char* data, size_t size) {
  ssize_t n;
  do {
    n = recv(fileno(), data, size, 0);
  } while (n < 0 && errno == EINTR);
  return n;
}

SSLIOStream::SSLIOStream(int socket_fd, std::shared_ptr<const TlsContext> context,
                         bool server_side, std::string server_hostname, const Options& options)
    : IOStream(socket_fd, options),
      context_(std::move(context)),
      server_side_(server_side),
      server_hostname_(std::move(server_hostname)),
      handshake_wants_(server_side ? IOLoop::kRead : IOLoop::kWrite) {
  // A connected socket starts its handshake now; an unconnected one after Connect().
  if (IsConnected(socket_fd)) StartConnecting();
}

SSLIOStream::~SSLIOStream() { CloseForDestruction(); }

void SSLIOStream::OnConnectTarget(std::string host) {
  if (server_hostname_.empty()) server_hostname_ = std::move(host);
}

void SSLIOStream::OnConnected() { DoHandshake(); }

void SSLIOStream::HandleConnect() {
  if (tcp_connecting()) {
    IOStream::HandleConnect();  // checks the connect, then OnConnected()
  } else {
    DoHandshake();
  }
}

uint32_t SSLIOStream::ConnectingInterest() const {
  return tcp_connecting() ? IOLoop::kWrite : handshake_wants_;
}

absl::Status SSLIOStream::SetUpSsl() {
  if (context_ == nullptr) return absl::InvalidArgumentError("SSLIOStream: no TlsContext");
  ssl_.reset(SSL_new(context_->ssl_ctx()));
  BIO* bio = BIO_new(TransportBioMethod());
  if (ssl_ == nullptr || bio == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_new: ", internal::TakeSslErrors()));
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO
  // Retrying a write may pass a buffer that moved or grew: the stream's write buffer gathers
  // whatever is queued at the time.
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server_side_) {
    SSL_set_accept_state(ssl_.get());
    return absl::OkStatus();
  }
  SSL_set_connect_state(ssl_.get());
  const bool ip = IsIpLiteral(server_hostname_);
  if (!server_hostname_.empty() && !ip) {
    SSL_set_tlsext_host_name(ssl_.get(), server_hostname_.c_str());
  }
  if (context_->check_hostname()) {
    if (server_hostname_.empty()) {
      return absl::InvalidArgumentError(
          "check_hostname requires server_hostname: give one, connect by host name, or set "
          "TlsOptions::check_hostname = false");
    }
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()),
                                                      server_hostname_.c_str())
                      : SSL_set1_host(ssl_.get(), server_hostname_.c_str());
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot check host name '", server_hostname_, "'"));
    }
  }
  return absl::OkStatus();
}

void SSLIOStream::DoHandshake() {
  if (ssl_ == nullptr) {
    absl::Status set_up = SetUpSsl();
    if (!set_up.ok()) {
      internal::LogLine(
          LogSeverity::kError,
          absl::StrCat("cannot set up TLS, closing the connection: ", set_up.ToString()));
      return Close(std::move(set_up));
    }
  }
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_.get());
  if (result == 1) {
    handshake_done_ = true;
    FinishConnecting();
    ResolveConnect();
    internal::SettleAndClear(handshake_promise_, this);
    return;
  }
  const int error = SSL_get_error(ssl_.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    handshake_wants_ = error == SSL_ERROR_WANT_READ ? IOLoop::kRead : IOLoop::kWrite;
    UpdateConnectingInterest();
    return;
  }
  absl::Status status = HandshakeError(error);
  // A peer that hangs up mid-handshake (port scanners, health checks) is not worth a log line.
  if (error == SSL_ERROR_SSL) {
    internal::LogLine(LogSeverity::kWarning,
                      absl::StrCat("SSL Error on fd ", fileno(), ": ", status.message()));
  }
  Close(std::move(status));
}

absl::Status SSLIOStream::HandshakeError(int ssl_error) {
  const std::string errors = internal::TakeSslErrors();
  if (ssl_error == SSL_ERROR_SSL) {
    // X509_V_ERR_INVALID_CALL: no certificate was verified (the handshake failed before that,
    // or this side verifies none): the TLS error itself is the diagnosis.
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK && verify != X509_V_ERR_INVALID_CALL) {
      return absl::UnauthenticatedError(absl::StrCat(
          "TLS handshake failed: certificate verify failed: ",
          X509_verify_cert_error_string(verify), " (", errors, ")"));
    }
    return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", errors));
  }
  if (ssl_error == SSL_ERROR_SYSCALL && errno != 0) {
    return ErrnoError(errno, "TLS handshake");
  }
  return ErrnoError(ECONNRESET, "TLS handshake: the peer closed the connection");
}

absl::Status SSLIOStream::IoError(int ssl_error, absl::string_view operation) {
  const std::string errors = internal::TakeSslErrors();
  if (ssl_error == SSL_ERROR_SYSCALL) {
    if (errno != 0) return ErrnoError(errno, operation);
    return ErrnoError(ECONNRESET, absl::StrCat(operation, ": TLS connection truncated (the "
                                                          "peer closed without close_notify)"));
  }
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    return ErrnoError(EPIPE, absl::StrCat(operation, ": the peer sent close_notify"));
  }
  if (errors.find("UNEXPECTED_EOF") != std::string::npos) {
    return ErrnoError(ECONNRESET, absl::StrCat(operation, ": TLS connection truncated (",
                                               errors, ")"));
  }
  return absl::UnavailableError(absl::StrCat(operation, ": ", errors));
}

absl::StatusOr<std::optional<size_t>> SSLIOStream::ReadFromFd(absl::Span<char> buffer) {
  if (!handshake_done_) return std::optional<size_t>();
  // One SSL_read gives at most one record (16 KiB): read records until the buffer is full or
  // the transport is drained, so that a short read means "nothing more now", as the stream
  // expects. An error or end after some data is reported by the next call (BoringSSL keeps it).
  size_t total = 0;
  read_wants_write_ = false;
  while (total < buffer.size()) {
    ERR_clear_error();
    errno = 0;
    const int n = SSL_read(ssl_.get(), buffer.data() + total,
                           static_cast<int>(std::min(buffer.size() - total, kMaxTlsCall)));
    if (n > 0) {
      total += static_cast<size_t>(n);
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), n);
    if (total > 0) break;
    read_wants_write_ = error == SSL_ERROR_WANT_WRITE;
    switch (error) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return std::optional<size_t>();
      case SSL_ERROR_ZERO_RETURN:
        return std::optional<size_t>(0);  // close_notify: a clean end of stream
      default:
        return IoError(error, absl::StrCat("TLS read on fd ", fileno()));
    }
  }
  return std::optional<size_t>(total);
}

absl::StatusOr<std::optional<size_t>> SSLIOStream::ReadFromFdScattered(absl::Span<char> first,
                                                                       absl::Span<char> second) {
  return BaseIOStream::ReadFromFdScattered(first, second);
}

bool SSLIOStream::HasReadableInput() const {
  return ssl_ != nullptr && handshake_done_ && SSL_pending(ssl_.get()) > 0;
}

uint32_t SSLIOStream::CrossWaits() const {
  return (read_wants_write_ ? IOLoop::kWrite : 0) | (write_wants_read_ ? IOLoop::kRead : 0);
}

absl::StatusOr<size_t> SSLIOStream::WriteToFd(absl::Span<const iovec> data) {
  if (!handshake_done_) return 0;
  const char* bytes;
  size_t size;
  if (data.size() == 1 || data[0].iov_len >= kRecordSize) {
    bytes = static_cast<const char*>(data[0].iov_base);
    size = std::min(data[0].iov_len, kMaxTlsCall);
  } else {
    scratch_.clear();
    for (const iovec& piece : data) {
      const size_t n = std::min(piece.iov_len, kRecordSize - scratch_.size());
      scratch_.append(static_cast<const char*>(piece.iov_base), n);
      if (scratch_.size() == kRecordSize) break;
    }
    bytes = scratch_.data();
    size = scratch_.size();
  }
  ERR_clear_error();
  errno = 0;
  const int n = SSL_write(ssl_.get(), bytes, static_cast<int>(size));
  write_wants_read_ = false;
  if (n > 0) return static_cast<size_t>(n);
  const int error = SSL_get_error(ssl_.get(), n);
  write_wants_read_ = error == SSL_ERROR_WANT_READ;
  if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return 0;
  return IoError(error, absl::StrCat("TLS write on fd ", fileno()));
}

void SSLIOStream::CloseFd() {
  if (ssl_ != nullptr && handshake_done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // sends close_notify if the socket takes it; never blocks
    ERR_clear_error();
  }
  IOStream::CloseFd();
}

void SSLIOStream::FailPendingOperations(const absl::Status& closed_error) {
  IOStream::FailPendingOperations(closed_error);
  internal::SettleAndClear(handshake_promise_, closed_error);
}

void SSLIOStream::SetHandshakeTimeout(absl::Duration timeout) {
  if (handshake_done_) return;
  // The connect timer: DoHandshake's ResolveConnect cancels it, as does a close.
  ArmConnectTimer(timeout, "TLS handshake");
}

Future<SSLIOStream*> SSLIOStream::WaitForHandshake() {
  if (handshake_done_) return MakeReadyFuture<SSLIOStream*>(this);
  if (handshake_promise_.has_value()) {
    return MakeReadyFuture<SSLIOStream*>(absl::FailedPreconditionError(
        "WaitForHandshake: Already waiting (a handshake future is pending)"));
  }
  if (closed()) return MakeReadyFuture<SSLIOStream*>(StreamClosedError(error()));
  return handshake_promise_.emplace().future();
}

void SSLIOStream::WaitForHandshake(
    absl::AnyInvocable<void(absl::StatusOr<SSLIOStream*>)> callback) {
  WaitForHandshake().AddDoneCallback(
      [callback = std::move(callback)](const absl::StatusOr<SSLIOStream*>& result) mutable {
        callback(result);
      });
}

std::string SSLIOStream::alpn_protocol() const {
  if (ssl_ == nullptr) return "";
  const uint8_t* data = nullptr;
  unsigned size = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::string SSLIOStream::server_name() const {
  if (ssl_ == nullptr) return "";
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? name : "";
}

std::string SSLIOStream::tls_version() const {
  return ssl_ != nullptr && handshake_done_ ? SSL_get_version(ssl_.get()) : "";
}

std::string SSLIOStream::cipher() const {
  if (ssl_ == nullptr || !handshake_done_) return "";
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get());
  return cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
}

bssl::UniquePtr<X509> SSLIOStream::peer_certificate() const {
  if (ssl_ == nullptr) return nullptr;
  return bssl::UniquePtr<X509>(SSL_get_peer_certificate(ssl_.get()));
}

std::string SSLIOStream::peer_certificate_subject() const {
  bssl::UniquePtr<X509> certificate = peer_certificate();
  if (certificate == nullptr) return "";
  char text[512];
  X509_NAME_oneline(X509_get_subject_name(certificate.get()), text, sizeof(text));
  return text;
}

namespace {

// Holds the new stream in its frame (which its loop owns) until the handshake ends: the stream's
// own handshake promise never holds the stream, so a peer that never answers leaks nothing.
Task<std::unique_ptr<SSLIOStream>> FinishStartTls(std::unique_ptr<SSLIOStream> tls) {
  absl::StatusOr<SSLIOStream*> done = co_await tls->WaitForHandshake();
  if (!done.ok()) co_return done.status();
  co_return std::move(tls);
}

}  // namespace

SSLIOStream* AsTls(IOStream& stream) { return dynamic_cast<SSLIOStream*>(&stream); }

Future<std::unique_ptr<SSLIOStream>> StartTls(IOStream& stream, bool server_side,
                                              const TlsOptions& options,
                                              std::string server_hostname,
                                              absl::Duration handshake_timeout) {
  absl::StatusOr<std::shared_ptr<const TlsContext>> context =
      TlsContext::Create(server_side, options);
  if (!context.ok()) return MakeReadyFuture<std::unique_ptr<SSLIOStream>>(context.status());
  return StartTls(stream, server_side, *std::move(context), std::move(server_hostname),
                  handshake_timeout);
}

Future<std::unique_ptr<SSLIOStream>> StartTls(IOStream& stream, bool server_side,
                                              std::shared_ptr<const TlsContext> context,
                                              std::string server_hostname,
                                              absl::Duration handshake_timeout) {
  if (context == nullptr) {
    return MakeReadyFuture<std::unique_ptr<SSLIOStream>>(
        absl::InvalidArgumentError("StartTls: no TlsContext"));
  }
  absl::StatusOr<IOStream::DetachedSocket> socket = stream.DetachSocket();
  if (!socket.ok()) {
    return MakeReadyFuture<std::unique_ptr<SSLIOStream>>(absl::FailedPreconditionError(
        absl::StrCat("StartTls: ", socket.status().message())));
  }
  auto tls = std::make_unique<SSLIOStream>(socket->fd, std::move(context), server_side,
                                           std::move(server_hostname), socket->options);
  if (socket->close_callback != nullptr) tls->SetCloseCallback(std::move(socket->close_callback));
  tls->SetHandshakeTimeout(handshake_timeout);
  return FinishStartTls(std::move(tls));
}

namespace internal {

const TlsStreamMakers kTlsStreamMakers = {
    .accept = [](int fd, std::shared_ptr<const TlsContext> context,
                 const BaseIOStream::Options& options,
                 absl::Duration handshake_timeout) -> std::unique_ptr<IOStream> {
      auto stream =
          std::make_unique<SSLIOStream>(fd, std::move(context), /*server_side=*/true, "", options);
      stream->SetHandshakeTimeout(handshake_timeout);
      return stream;
    },
    .start_tls = StartTls,
};

}  // namespace internal

}  // namespace gust
