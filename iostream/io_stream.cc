#include "iostream/io_stream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"

namespace gust {

IOStream::IOStream(int socket_fd, const Options& options)
    : BaseIOStream(options), fd_(socket_fd) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

IOStream::~IOStream() { CloseForDestruction(); }

absl::StatusOr<std::unique_ptr<IOStream>> IOStream::Create(int family, const Options& options) {
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  return std::make_unique<IOStream>(fd, options);
}

Future<IOStream*> IOStream::Connect(const SocketAddress& address, absl::Duration timeout) {
  return ConnectTo(address, address.host(), timeout);
}

Future<IOStream*> IOStream::Connect(absl::string_view host, uint16_t port,
                                    absl::Duration timeout) {
  if (closed() || connect_started_) {
    return ConnectTo(SocketAddress(), "", timeout);  // the same errors
  }
  absl::StatusOr<SocketAddress> address = SocketAddress::Resolve(host, port, Family());
  if (!address.ok()) {
    connect_started_ = true;
    Future<IOStream*> future = StartConnectState().promise.emplace().future();
    Close(address.status());  // fails the future, as a failed connect would
    return future;
  }
  return ConnectTo(*address, std::string(host), timeout);
}

Future<IOStream*> IOStream::ConnectTo(const SocketAddress& address, std::string host,
                                      absl::Duration timeout) {
  if (closed()) return MakeReadyFuture<IOStream*>(StreamClosedError(error()));
  if (connect_started_) {
    return MakeReadyFuture<IOStream*>(absl::FailedPreconditionError(
        "IOStream::Connect: called twice (connect takes an unconnected socket)"));
  }
  connect_started_ = true;
  ConnectState& state = StartConnectState();
  state.address = address.ToString();
  OnConnectTarget(std::move(host));
  Future<IOStream*> future = state.promise.emplace().future();
  ArmConnectTimer(timeout, absl::StrCat("connect to ", state.address));
  int result;
  do {
    result = connect(fd_, address.sockaddr_ptr(), address.size());
  } while (result != 0 && errno == EINTR);
  if (result == 0) {
    // Unix sockets (and some loopback cases) connect at once.
    StartConnecting();
    OnConnected();
  } else if (errno == EINPROGRESS || errno == EAGAIN) {
    connect_->tcp_connecting = true;
    StartConnecting();
  } else {
    const int error = errno;
    Close(ErrnoError(error, absl::StrCat("connect to ", connect_->address)));
  }
  return future;
}

void IOStream::HandleConnect() {
  if (tcp_connecting()) {
    // Reworded so that the error says where the connect was going.
    if (absl::Status error = GetFdError(); !error.ok()) {
      return Close(ErrnoError(ErrnoOf(error), absl::StrCat("connect to ", connect_->address)));
    }
    connect_->tcp_connecting = false;
  }
  OnConnected();
}

void IOStream::OnConnected() {
  FinishConnecting();
  ResolveConnect();
}

void IOStream::ResolveConnect() { EndConnectState(this); }

IOStream::ConnectState& IOStream::StartConnectState() {
  if (connect_ == nullptr) connect_ = std::make_unique<ConnectState>();
  return *connect_;
}

void IOStream::EndConnectState(FutureResult<IOStream*> result) {
  if (connect_ == nullptr) return;
  CancelConnectTimer();
  std::unique_ptr<ConnectState> state = std::move(connect_);
  internal::SettleAndClear(state->promise, std::move(result));
}

void IOStream::ArmConnectTimer(absl::Duration timeout, std::string what) {
  if (timeout == absl::InfiniteDuration() || closed()) return;
  CancelConnectTimer();
  // Cancelled by ResolveConnect and by Close (FailPendingOperations), so `this` is alive.
  StartConnectState().timer = io_loop().CallLater(timeout, [this, timeout, what = std::move(what)] {
    connect_->timer.reset();
    Close(ErrnoError(ETIMEDOUT,
                     absl::StrCat(what, " timed out after ", absl::FormatDuration(timeout))));
  });
}

void IOStream::CancelConnectTimer() {
  if (connect_ == nullptr || !connect_->timer.has_value()) return;
  io_loop().RemoveTimeout(*connect_->timer);
  connect_->timer.reset();
}

void IOStream::FailPendingOperations(const absl::Status& closed_error) {
  EndConnectState(closed_error);
}

void IOStream::Connect(const SocketAddress& address, ConnectCallback callback,
                       absl::Duration timeout) {
  Connect(address, timeout)
      .AddDoneCallback([callback = std::move(callback)](
                           const absl::StatusOr<IOStream*>& result) mutable { callback(result); });
}

namespace {

// What ReadFromFd returns for a read call (`read`: recv or readv), retried on EINTR.
template <typename Read>
absl::StatusOr<std::optional<size_t>> RetryingRead(int fd, absl::string_view call, Read read) {
  for (;;) {
    const ssize_t n = read();
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<size_t>();
    return FdCallError(errno, call, fd);
  }
}

// getpeername or getsockname of `fd`, as a SocketAddress or the system's error.
absl::StatusOr<SocketAddress> SocketName(int fd, bool peer) {
  sockaddr_storage address;
  socklen_t size = sizeof(address);
  sockaddr* const raw = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? getpeername(fd, raw, &size) : getsockname(fd, raw, &size)) != 0) {
    return ErrnoError(errno, peer ? "getpeername" : "getsockname");
  }
  return SocketAddress::FromSockaddr(raw, size);
}

}  // namespace

absl::StatusOr<SocketAddress> IOStream::peer_address() const {
  if (closed()) return absl::FailedPreconditionError("peer_address: the stream is closed");
  return SocketName(fd_, /*peer=*/true);
}

absl::StatusOr<SocketAddress> IOStream::local_address() const {
  if (closed()) return absl::FailedPreconditionError("local_address: the stream is closed");
  return SocketName(fd_, /*peer=*/false);
}

absl::StatusOr<IOStream::DetachedSocket> IOStream::DetachSocket() {
  if (!idle()) {
    return absl::FailedPreconditionError(
        "IOStream is not idle; cannot hand its socket over (it is closed or connecting, a read "
        "or write is pending, or data is buffered)");
  }
  DetachedSocket detached{fd_, options(), TakeCloseCallback()};
  Detach();
  fd_ = -1;
  return detached;
}

void IOStream::SetNodelay(bool value) {
  if (closed()) return;
  // Tried on any socket: a Unix socket refuses it (EOPNOTSUPP), which is ignored as Tornado
  // ignores its errors, and asking for the family first cost a system call per connection.
  const int flag = value ? 1 : 0;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &flag, sizeof(flag));
}

int IOStream::Family() const {
  int family = AF_UNSPEC;
  socklen_t size = sizeof(family);
  if (getsockopt(fd_, SOL_SOCKET, SO_DOMAIN, &family, &size) != 0) return AF_UNSPEC;
  return family;
}

void IOStream::CloseFd() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<size_t> IOStream::WriteToFd(absl::Span<const iovec> data) {
  msghdr message = {};
  message.msg_iov = const_cast<iovec*>(data.data());
  message.msg_iovlen = data.size();
  for (;;) {
    // MSG_NOSIGNAL: a peer that has gone away gives EPIPE here instead of killing the process.
    // One buffer (an echo's answer, a batch of lines) goes by send(), which spares the kernel
    // copying in a msghdr and an iovec array.
    const ssize_t n = data.size() == 1 ? send(fd_, data[0].iov_base, data[0].iov_len, MSG_NOSIGNAL)
                                       : sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return FdCallError(errno, "send on", fd_);
  }
}

absl::StatusOr<std::optional<size_t>> IOStream::ReadFromFd(absl::Span<char> buffer) {
  return RetryingRead(fd_, "recv on", [&] { return recv(fd_, buffer.data(), buffer.size(), 0); });
}

absl::StatusOr<std::optional<size_t>> IOStream::ReadFromFdScattered(absl::Span<char> first,
                                                                    absl::Span<char> second) {
  iovec iov[2] = {{first.data(), first.size()}, {second.data(), second.size()}};
  return RetryingRead(fd_, "readv on", [&] { return readv(fd_, iov, 2); });
}

absl::Status IOStream::GetFdError() {
  int error = 0;
  socklen_t size = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
  if (error == 0) return absl::OkStatus();
  return FdCallError(error, "socket", fd_);
}

}  // namespace gust
