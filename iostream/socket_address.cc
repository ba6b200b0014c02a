#include "iostream/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gust {

absl::StatusOr<SocketAddress> SocketAddress::FromIp(absl::string_view ip, uint16_t port) {
  const std::string text(ip);
  SocketAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.size_ = sizeof(sockaddr_in);
    return address;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    address.size_ = sizeof(sockaddr_in6);
    return address;
  }
  return absl::InvalidArgumentError(absl::StrCat("not a numeric IP address: \"", ip, "\""));
}

absl::StatusOr<SocketAddress> SocketAddress::Resolve(absl::string_view host, uint16_t port,
                                                     int family) {
  addrinfo hints = {};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const std::string name(host);
  const std::string service = absl::StrCat(port);
  const int error = getaddrinfo(name.c_str(), service.c_str(), &hints, &results);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(error)));
  }
  SocketAddress address = FromSockaddr(results->ai_addr, results->ai_addrlen);
  freeaddrinfo(results);
  return address;
}

absl::StatusOr<SocketAddress> SocketAddress::FromUnixPath(absl::string_view path) {
  SocketAddress address;
  auto* un = reinterpret_cast<sockaddr_un*>(&address.storage_);
  if (path.empty() || path.size() >= sizeof(un->sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("Unix socket path must have 1 to ",
                                                   sizeof(un->sun_path) - 1, " bytes: \"",
                                                   path, "\""));
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  address.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return address;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* address, socklen_t size) {
  SocketAddress out;
  out.size_ = std::min<socklen_t>(size, sizeof(out.storage_));
  std::memcpy(&out.storage_, address, out.size_);
  return out;
}

SocketAddress SocketAddress::LocalOf(int fd) {
  SocketAddress out;
  socklen_t size = sizeof(out.storage_);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage_), &size) != 0) {
    return SocketAddress();
  }
  out.size_ = size;
  return out;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof(text));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                sizeof(text));
      return absl::StrCat(text, ":", port());
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                sizeof(text));
      return absl::StrCat("[", text, "]:", port());
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const size_t length = size_ > offsetof(sockaddr_un, sun_path)
                                ? strnlen(un->sun_path, size_ - offsetof(sockaddr_un, sun_path))
                                : 0;
      return absl::StrCat("unix:", absl::string_view(un->sun_path, length));
    }
    default:
      return absl::StrCat("(address family ", family(), ")");
  }
}

}  // namespace gust
