// TCPClient: connects to a host by name, asynchronously and over IPv4 or IPv6; Tornado's
// tornado.tcpclient.TCPClient. Prefer it to IOStream::Connect(host, port), which resolves the
// name synchronously.
//
// Happy Eyeballs (RFC 8305, as Tornado's _Connector does it): the resolver's addresses are
// split by family, led by the family of the first; the first address is tried, the next of
// its family after a failure, and if nothing has connected after `happy_eyeballs_delay` the
// other family is tried alongside; the first connection wins and the others are closed.
//
// Example:
//   TCPClient client;
//   absl::StatusOr<std::unique_ptr<IOStream>> stream = co_await client.Connect("localhost", 80);

#ifndef GUST_IOSTREAM_TCP_CLIENT_H_
#define GUST_IOSTREAM_TCP_CLIENT_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "iostream/future.h"
#include "iostream/io_stream.h"
#include "iostream/netutil.h"
#include "iostream/tls_context.h"

namespace gust {

struct ConnectOptions {
  int family = AF_UNSPEC;                 // AF_INET or AF_INET6 to use only that family
  std::shared_ptr<const TlsContext> tls;  // client context: the stream is an SSLIOStream
  std::string server_hostname;            // TLS: the name to check and send as SNI; the host
  absl::Duration timeout = absl::InfiniteDuration();  // for resolving, connecting and TLS
  std::string source_ip;                  // bind the local end to this address ...
  uint16_t source_port = 0;               // ... and port
  BaseIOStream::Options stream_options;
  absl::Duration happy_eyeballs_delay = absl::Milliseconds(300);
};

class TCPClient {
 public:
  explicit TCPClient(std::shared_ptr<Resolver> resolver = DefaultResolver())
      : resolver_(std::move(resolver)) {}

  // Tornado: TCPClient.connect(host, port, af, ssl_options, max_buffer_size, source_ip,
  // source_port, timeout). Resolves with a connected stream (after the TLS handshake, with
  // `tls`). Failures name the host, the port and every address tried with its error; a
  // timeout is a DeadlineExceededError.
  Future<std::unique_ptr<IOStream>> Connect(std::string host, uint16_t port,
                                            ConnectOptions options = ConnectOptions());

 private:
  std::shared_ptr<Resolver> resolver_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_TCP_CLIENT_H_
