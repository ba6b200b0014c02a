// SocketAddress: an IPv4, IPv6 or Unix-domain socket address, what IOStream::Connect takes.
//
// Tornado passes addresses as (host, port) tuples or path strings; gust names the family
// explicitly and reports bad input as a status instead of an exception.

#ifndef GUST_IOSTREAM_SOCKET_ADDRESS_H_
#define GUST_IOSTREAM_SOCKET_ADDRESS_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gust {

class SocketAddress {
 public:
  // A numeric IPv4 or IPv6 address ("127.0.0.1", "::1"); InvalidArgumentError otherwise.
  static absl::StatusOr<SocketAddress> FromIp(absl::string_view ip, uint16_t port);

  // Resolves `host` synchronously (getaddrinfo; this blocks the calling thread) and returns the
  // first address of `family` (AF_INET, AF_INET6 or AF_UNSPEC for either). Tornado: the
  // blocking resolution IOStream.connect does; prefer an asynchronous resolver on a loop.
  static absl::StatusOr<SocketAddress> Resolve(absl::string_view host, uint16_t port,
                                               int family = AF_UNSPEC);

  // A Unix-domain socket path; InvalidArgumentError if it does not fit sockaddr_un.
  static absl::StatusOr<SocketAddress> FromUnixPath(absl::string_view path);

  // Copies a sockaddr the system returned (accept(), getsockname()).
  static SocketAddress FromSockaddr(const sockaddr* address, socklen_t size);

  // The local address of socket `fd` (getsockname: a bound port, say); an empty address if
  // `fd` is not a socket.
  static SocketAddress LocalOf(int fd);

  SocketAddress() = default;
  SocketAddress(const SocketAddress& other);
  SocketAddress& operator=(const SocketAddress& other);
  // A moved-from address is empty if it was a Unix path, unchanged otherwise.
  SocketAddress(SocketAddress&& other) noexcept;
  SocketAddress& operator=(SocketAddress&& other) noexcept;

  int family() const { return size_ == 0 ? AF_UNSPEC : sockaddr_ptr()->sa_family; }
  const sockaddr* sockaddr_ptr() const {
    return large_ != nullptr ? reinterpret_cast<const sockaddr*>(large_.get()) : &small_.any;
  }
  socklen_t size() const { return size_; }
  // The port of an IPv4 or IPv6 address, 0 otherwise.
  uint16_t port() const;

  // The numeric host of an IPv4 or IPv6 address ("127.0.0.1", "::1"), "" otherwise.
  std::string host() const;

  // "127.0.0.1:80", "[::1]:80" or "unix:/path".
  std::string ToString() const;

 private:
  template <typename T>
  const T& As() const {
    return *reinterpret_cast<const T*>(sockaddr_ptr());
  }

  // Inline when the address fits (IPv4, IPv6, an unnamed Unix peer), on the heap when it does
  // not (a Unix path): a server keeps every connection's peer address, in its handler's frame
  // and its own bookkeeping, so this is 40 bytes rather than sockaddr_storage's 128.
  union Small {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  Small small_ = {};
  socklen_t size_ = 0;
  std::unique_ptr<sockaddr_storage> large_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_SOCKET_ADDRESS_H_
