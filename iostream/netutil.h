// Listening sockets, accepting, and name resolution off the loop; Tornado's tornado.netutil.

#ifndef GUST_IOSTREAM_NETUTIL_H_
#define GUST_IOSTREAM_NETUTIL_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "iostream/future.h"
#include "iostream/internal/liveness.h"
#include "iostream/io_loop.h"
#include "iostream/socket_address.h"

namespace gust {

// Tornado: bind_sockets(port, address, family, backlog, reuse_port). Non-blocking listening
// sockets with SO_REUSEADDR (and SO_REUSEPORT if asked) for every address `address` resolves
// to ("" means all interfaces, IPv4 and IPv6; "localhost" gives 127.0.0.1 and ::1). With port 0
// every socket gets the port the first one was given.
absl::StatusOr<std::vector<int>> BindSockets(uint16_t port, absl::string_view address = "",
                                             int family = AF_UNSPEC, int backlog = 128,
                                             bool reuse_port = false);

// Tornado: bind_unix_socket(file, mode, backlog). Replaces a stale socket file at `path`
// (refuses to replace anything else) and sets its permission bits.
absl::StatusOr<int> BindUnixSocket(absl::string_view path, int mode = 0600, int backlog = 128);

// Tornado: add_accept_handler(sock, callback). Calls `callback(fd, peer)` for every connection
// accepted on `listen_fd`, on the current loop; up to 128 per readiness, so a burst of clients
// costs few wake-ups. When the process is out of fds (EMFILE/ENFILE) it stops accepting, backs
// off (10 ms, doubling up to 1 s) and tries again, so neither the loop spins nor the server
// dies. Returns an object whose destruction (or Cancel()) removes the handler; the socket
// stays open.
class AcceptHandler {
 public:
  using Callback = absl::AnyInvocable<void(int fd, SocketAddress peer)>;
  static absl::StatusOr<std::unique_ptr<AcceptHandler>> Add(int listen_fd, Callback callback);
  AcceptHandler(IOLoop& loop, int listen_fd, Callback callback)
      : loop_(loop), listen_fd_(listen_fd), callback_(std::move(callback)) {}
  ~AcceptHandler() { Cancel(); }
  void Cancel();
  // Times accepting paused for lack of fds (for tests and monitoring).
  int backoffs() const { return backoffs_; }

 private:
  void OnReadable();
  IOLoop& loop_;
  const int listen_fd_;
  Callback callback_;
  bool watching_ = false;
  bool cancelled_ = false;
  internal::Liveness liveness_;  // the callback may destroy this handler
  IOLoop::TimeoutHandle retry_;
  absl::Duration backoff_ = absl::Milliseconds(10);
  int backoffs_ = 0;
};

// Tornado: Resolver. Resolves host names into addresses without blocking the loop.
class Resolver {
 public:
  virtual ~Resolver() = default;
  // Every address of `host` (of `family`, or both with AF_UNSPEC) with `port`, in the order
  // the system prefers. NotFoundError names the host when it does not resolve.
  virtual Future<std::vector<SocketAddress>> Resolve(std::string host, uint16_t port,
                                                     int family = AF_UNSPEC) = 0;
};

// getaddrinfo on a small pool of threads shared by the process (Tornado's
// DefaultExecutorResolver); results come back on the loop that asked.
std::shared_ptr<Resolver> DefaultResolver();

}  // namespace gust

#endif  // GUST_IOSTREAM_NETUTIL_H_
