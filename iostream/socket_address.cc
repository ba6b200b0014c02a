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
  sockaddr_in v4 = {};
  if (inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return FromSockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
  }
  sockaddr_in6 v6 = {};
  if (inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return FromSockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6));
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
  sockaddr_un un = {};
  if (path.empty() || path.size() >= sizeof(un.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Unix socket path must have 1 to ", sizeof(un.sun_path) - 1, " bytes: \"", path, "\""));
  }
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&un),
                      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* address, socklen_t size) {
  SocketAddress out;
  out.size_ = std::min<socklen_t>(size, sizeof(sockaddr_storage));
  void* to = &out.small_;
  if (out.size_ > sizeof(Small)) {
    out.large_ = std::make_unique<sockaddr_storage>();
    to = out.large_.get();
  }
  std::memcpy(to, address, out.size_);
  return out;
}

SocketAddress SocketAddress::LocalOf(int fd) {
  sockaddr_storage address;
  socklen_t size = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return SocketAddress();
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&address), size);
}

SocketAddress::SocketAddress(const SocketAddress& other)
    : SocketAddress(FromSockaddr(other.sockaddr_ptr(), other.size_)) {}

SocketAddress& SocketAddress::operator=(const SocketAddress& other) {
  if (this != &other) *this = SocketAddress(other);
  return *this;
}

SocketAddress::SocketAddress(SocketAddress&& other) noexcept
    : small_(other.small_), size_(other.size_), large_(std::move(other.large_)) {
  if (large_ != nullptr) other.size_ = 0;
}

SocketAddress& SocketAddress::operator=(SocketAddress&& other) noexcept {
  small_ = other.small_;
  size_ = other.size_;
  large_ = std::move(other.large_);
  if (large_ != nullptr && this != &other) other.size_ = 0;
  return *this;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(As<sockaddr_in>().sin_port);
  if (family() == AF_INET6) {
    return ntohs(As<sockaddr_in6>().sin6_port);
  }
  return 0;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &As<sockaddr_in>().sin_addr, text, sizeof(text));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &As<sockaddr_in6>().sin6_addr, text, sizeof(text));
  }
  return text;
}

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &As<sockaddr_in>().sin_addr, text, sizeof(text));
      return absl::StrCat(text, ":", port());
    case AF_INET6:
      inet_ntop(AF_INET6, &As<sockaddr_in6>().sin6_addr, text, sizeof(text));
      return absl::StrCat("[", text, "]:", port());
    case AF_UNIX: {
      const auto* un = &As<sockaddr_un>();
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
