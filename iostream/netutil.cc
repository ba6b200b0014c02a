#include "iostream/netutil.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "iostream/errors.h"
#include "iostream/internal/check.h"
#include "iostream/log.h"

namespace gust {
namespace {

constexpr int kAcceptsPerEvent = 128;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(10);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

void SetPort(sockaddr* address, uint16_t port) {
  if (address->sa_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(address)->sin_port = htons(port);
  } else if (address->sa_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(address)->sin6_port = htons(port);
  }
}

}  // namespace

absl::StatusOr<std::vector<int>> BindSockets(uint16_t port, absl::string_view address,
                                             int family, int backlog, bool reuse_port) {
  addrinfo hints = {};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* results = nullptr;
  const std::string host(address);
  const std::string service = absl::StrCat(port);
  if (const int error = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(),
                                    &hints, &results);
      error != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve bind address \"", address, "\": ", gai_strerror(error)));
  }
  std::vector<int> sockets;
  std::vector<std::string> bound;
  uint16_t bound_port = port;
  absl::Status failure;
  for (addrinfo* info = results; info != nullptr; info = info->ai_next) {
    SocketAddress target = SocketAddress::FromSockaddr(info->ai_addr, info->ai_addrlen);
    if (std::find(bound.begin(), bound.end(), target.ToString()) != bound.end()) continue;
    const int fd = socket(info->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      // A family this host does not support (IPv6 disabled, say) is skipped, as Tornado does.
      if (errno == EAFNOSUPPORT) continue;
      failure = ErrnoError(errno, "socket");
      break;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      failure = ErrnoError(errno, "SO_REUSEPORT");
      close(fd);
      break;
    }
    // IPv6 sockets take only IPv6, so that "" can bind 0.0.0.0 and :: side by side.
    if (info->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (port == 0 && bound_port != 0) SetPort(info->ai_addr, bound_port);
    if (bind(fd, info->ai_addr, info->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
      const int error = errno;
      close(fd);
      if (error == EADDRNOTAVAIL && info->ai_family == AF_INET6) continue;  // no IPv6 here
      failure = ErrnoError(error, absl::StrCat("bind ", SocketAddress::FromSockaddr(
                                                            info->ai_addr, info->ai_addrlen)
                                                            .ToString()));
      break;
    }
    if (bound_port == 0) bound_port = SocketAddress::LocalOf(fd).port();
    bound.push_back(target.ToString());
    sockets.push_back(fd);
  }
  freeaddrinfo(results);
  if (failure.ok() && sockets.empty()) {
    failure = absl::UnavailableError(absl::StrCat("no address to bind for \"", address, "\""));
  }
  if (!failure.ok()) {
    for (int fd : sockets) close(fd);
    return failure;
  }
  return sockets;
}

absl::StatusOr<int> BindUnixSocket(absl::string_view path, int mode, int backlog) {
  absl::StatusOr<SocketAddress> address = SocketAddress::FromUnixPath(path);
  if (!address.ok()) return address.status();
  const std::string file(path);
  struct stat info;
  if (lstat(file.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat("\"", path, "\" exists and is not a socket; not replacing it"));
    }
    unlink(file.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  if (bind(fd, address->sockaddr_ptr(), address->size()) != 0 ||
      chmod(file.c_str(), mode) != 0 || listen(fd, backlog) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError(error, absl::StrCat("bind unix:", path));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<AcceptHandler>> AcceptHandler::Add(int listen_fd,
                                                                   Callback callback) {
  auto handler = std::make_unique<AcceptHandler>(IOLoop::Current(), listen_fd,
                                                 std::move(callback));
  AcceptHandler* raw = handler.get();
  absl::Status added =
      handler->loop_.AddHandler(listen_fd, IOLoop::kRead, [raw](int, uint32_t) {
        raw->OnReadable();
      });
  if (!added.ok()) return added;
  handler->watching_ = true;
  return handler;
}

void AcceptHandler::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  if (watching_) loop_.RemoveHandler(listen_fd_).IgnoreError();
  watching_ = false;
  loop_.RemoveTimeout(retry_);
}

void AcceptHandler::OnReadable() {
  // The callback may destroy this handler (a server stopping from inside it).
  const internal::Liveness::Ref alive = liveness_.Take();
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    sockaddr_storage peer;
    socklen_t size = sizeof(peer);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &size,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds: the pending connection stays in the backlog, so a level-triggered poller
        // would report it again at once. Stop watching and look again later.
        internal::LogLine(LogSeverity::kWarning,
                          absl::StrCat("accept on fd ", listen_fd_, ": ", strerror(errno),
                                       "; retrying in ", absl::FormatDuration(backoff_)));
        loop_.RemoveHandler(listen_fd_).IgnoreError();
        watching_ = false;
        ++backoffs_;
        retry_ = loop_.CallLater(backoff_, [this] {
          if (cancelled_) return;
          watching_ = loop_.AddHandler(listen_fd_, IOLoop::kRead, [this](int, uint32_t) {
                                 OnReadable();
                               }).ok();
        });
        backoff_ = std::min(backoff_ * 2, kMaxBackoff);
        return;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        internal::LogLine(LogSeverity::kError,
                          absl::StrCat("accept on fd ", listen_fd_, ": ", strerror(errno)));
      }
      return;
    }
    backoff_ = kFirstBackoff;
    callback_(fd, SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer), size));
    if (!alive.alive() || cancelled_) return;
  }
}

namespace {

// getaddrinfo on two threads shared by the process.
class ThreadPoolResolver final : public Resolver {
 public:
  ThreadPoolResolver() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~ThreadPoolResolver() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  Future<std::vector<SocketAddress>> Resolve(std::string host, uint16_t port,
                                             int family) override {
    Promise<std::vector<SocketAddress>> promise;
    Future<std::vector<SocketAddress>> future = promise.future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back([promise = std::move(promise), host = std::move(host), port,
                       family]() mutable { promise.SetResult(Lookup(host, port, family)); });
    }
    wake_.notify_one();
    return future;
  }

 private:
  static absl::StatusOr<std::vector<SocketAddress>> Lookup(const std::string& host,
                                                           uint16_t port, int family) {
    addrinfo hints = {};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    const std::string service = absl::StrCat(port);
    if (const int error = getaddrinfo(host.c_str(), service.c_str(), &hints, &results);
        error != 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(error)));
    }
    std::vector<SocketAddress> addresses;
    for (addrinfo* info = results; info != nullptr; info = info->ai_next) {
      addresses.push_back(SocketAddress::FromSockaddr(info->ai_addr, info->ai_addrlen));
    }
    freeaddrinfo(results);
    return addresses;
  }

  void Work() {
    for (;;) {
      absl::AnyInvocable<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<absl::AnyInvocable<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::shared_ptr<Resolver> DefaultResolver() {
  static const std::shared_ptr<Resolver> resolver = std::make_shared<ThreadPoolResolver>();
  return resolver;
}

}  // namespace gust
