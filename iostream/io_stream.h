// IOStream: a BaseIOStream over a stream socket (TCP over IPv4 or IPv6, or Unix domain);
// Tornado's tornado.iostream.IOStream.
//
// Example (Tornado's documentation example, as a coroutine):
//   absl::StatusOr<std::unique_ptr<IOStream>> stream = IOStream::Create(AF_INET);
//   co_await (*stream)->Connect(*SocketAddress::FromIp("127.0.0.1", 8888));
//   co_await (*stream)->Write("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
//   absl::StatusOr<std::string> header = co_await (*stream)->ReadUntil("\r\n\r\n");

#ifndef GUST_IOSTREAM_IO_STREAM_H_
#define GUST_IOSTREAM_IO_STREAM_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "iostream/base_io_stream.h"
#include "iostream/future.h"
#include "iostream/socket_address.h"

namespace gust {

class IOStream : public BaseIOStream {
 public:
  // Takes ownership of `socket_fd` (connected or not) and makes it non-blocking.
  explicit IOStream(int socket_fd, const Options& options = Options());
  ~IOStream() override;

  // A new unconnected stream socket of `family` (AF_INET, AF_INET6, AF_UNIX).
  static absl::StatusOr<std::unique_ptr<IOStream>> Create(int family,
                                                          const Options& options = Options());

  // Tornado: connect(address). Connects the socket without blocking; resolves with this stream
  // once connected. Writes made meanwhile are sent after the connection is up (the connect
  // future resolves first). A refused or failed connection closes the stream and fails the
  // future with StreamClosedError whose real error says why (ErrnoOf() gives ECONNREFUSED, ...);
  // the close callback runs too. With a finite `timeout`, a connect (and, on an SSLIOStream,
  // its handshake) not done by then is cancelled: the stream closes and the future fails with
  // a StreamClosedError whose real error is ETIMEDOUT.
  Future<IOStream*> Connect(const SocketAddress& address,
                            absl::Duration timeout = absl::InfiniteDuration());
  // Resolves `host` synchronously first, as Tornado's connect((host, port)) does (it blocks the
  // loop: prefer a numeric address); a failed resolution fails the future the same way.
  Future<IOStream*> Connect(absl::string_view host, uint16_t port,
                            absl::Duration timeout = absl::InfiniteDuration());
  // Tornado 4: connect(address, callback). `callback` runs from the loop with the result.
  using ConnectCallback = absl::AnyInvocable<void(absl::StatusOr<IOStream*>)>;
  void Connect(const SocketAddress& address, ConnectCallback callback,
               absl::Duration timeout = absl::InfiniteDuration());

  // The addresses of the connection's two ends (getpeername, getsockname), or
  // FailedPreconditionError once the stream is closed, or the system error (ENOTCONN before
  // the connection is up). Not stream methods in Tornado, which users reach through
  // stream.socket.getpeername().
  absl::StatusOr<SocketAddress> peer_address() const;
  absl::StatusOr<SocketAddress> local_address() const;

  // Hands the socket over to another stream, as StartTls (ssl_io_stream.h) does. The stream
  // must be idle: connected, nothing pending, nothing buffered either way (else
  // FailedPreconditionError, and nothing changes). Then this stream is closed without closing
  // the socket and must not be used; the caller owns the fd, and gets this stream's Options and
  // close callback to pass on.
  struct DetachedSocket {
    int fd;
    Options options;
    CloseCallback close_callback;
  };
  absl::StatusOr<DetachedSocket> DetachSocket();

  // Tornado: set_nodelay(). TCP_NODELAY on TCP sockets; ignored for Unix sockets and errors.
  void SetNodelay(bool value) override;

  int fileno() const override { return fd_; }

 protected:
  void CloseFd() override;
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override;
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override;
  // readv(2) on the socket. A subclass whose ReadFromFd reads otherwise must override this too,
  // as SSLIOStream does.
  absl::StatusOr<std::optional<size_t>> ReadFromFdScattered(absl::Span<char> first,
                                                            absl::Span<char> second) override;
  absl::Status GetFdError() override;
  // True: a stream socket's short read has taken all it held. A subclass whose ReadFromFd
  // reads otherwise must say whether that still holds (SSLIOStream's does not).
  bool ReadsDrainTheFd() const override { return true; }
  void HandleConnect() override;
  void FailPendingOperations(const absl::Status& closed_error) override;

  // Called by Connect with the host it connects to (the name given, or the numeric address).
  virtual void OnConnectTarget(std::string host) {}
  // Called once the TCP connection is up; finishes connecting and resolves Connect's future.
  // SSLIOStream starts its handshake here instead.
  virtual void OnConnected();
  void ResolveConnect();
  // Closes the stream with ETIMEDOUT ("`what` timed out after ...") unless ResolveConnect or a
  // close comes first; an infinite timeout arms nothing.
  void ArmConnectTimer(absl::Duration timeout, std::string what);
  bool tcp_connecting() const { return connect_ != nullptr && connect_->tcp_connecting; }

 private:
  Future<IOStream*> ConnectTo(const SocketAddress& address, std::string host,
                              absl::Duration timeout);
  void CancelConnectTimer();
  // The socket's address family (SO_DOMAIN); AF_UNSPEC if it cannot be read.
  int Family() const;

  // What a connect (or a server's TLS handshake, which shares its timer) needs while it is in
  // progress: made when it starts, freed when it ends, so an established stream does not carry it.
  struct ConnectState {
    bool tcp_connecting = false;
    std::string address;  // for error messages
    std::optional<Promise<IOStream*>> promise;
    std::optional<IOLoop::TimeoutHandle> timer;
  };
  ConnectState& StartConnectState();
  void EndConnectState(FutureResult<IOStream*> result);

  bool connect_started_ = false;  // before fd_: both fit in BaseIOStream's tail padding
  int fd_;
  std::unique_ptr<ConnectState> connect_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_IO_STREAM_H_
