// The stream kinds every read/write conformance test runs over, and a fixture that makes a
// connected (reader, writer) pair of each: TCP over IPv4 and IPv6 loopback, a Unix socket
// (connected through a listening path, so Connect is exercised), a pipe (PipeIOStream), and TLS
// over IPv4 loopback (SSLIOStream both ends, the client verifying the test CA and "localhost").
// As in Tornado's make_iostream_pair, the accepted side reads and the connecting side writes.

#ifndef GUST_CONFORMANCE_STREAM_FIXTURE_H_
#define GUST_CONFORMANCE_STREAM_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/base_io_stream.h"
#include "iostream/io_stream.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/tls_context.h"

namespace gust {
namespace testing {

enum class StreamKind { kTcp4, kTcp6, kUnix, kPipe, kTls };

std::string StreamKindName(const ::testing::TestParamInfo<StreamKind>& info);

// All kinds, for INSTANTIATE_TEST_SUITE_P.
inline auto AllStreamKinds() {
  return ::testing::Values(StreamKind::kTcp4, StreamKind::kTcp6, StreamKind::kUnix,
                           StreamKind::kPipe, StreamKind::kTls);
}

// The test certificates conformance/make_test_certs.sh makes, by name ("server.pem").
std::string TestCert(absl::string_view name);

// Contexts for the test certificates: a server presenting `cert` (server, expired, wronghost,
// selfsigned, untrusted), and a client that trusts the test CA.
std::shared_ptr<const TlsContext> TestServerContext(absl::string_view cert = "server",
                                                    std::vector<std::string> alpn = {});
std::shared_ptr<const TlsContext> TestClientContext(std::vector<std::string> alpn = {});

struct StreamPair {
  std::unique_ptr<BaseIOStream> reader;
  std::unique_ptr<BaseIOStream> writer;
};

// A listening socket on loopback (or a Unix path) for tests that connect and accept.
class Listener {
 public:
  // kTcp4 and kTls: 127.0.0.1, kTcp6: ::1, kUnix: a fresh path under /tmp. Not for kPipe.
  static absl::StatusOr<std::unique_ptr<Listener>> Open(StreamKind kind);
  Listener(int fd, SocketAddress address, std::string path)
      : fd_(fd), address_(std::move(address)), path_(std::move(path)) {}
  ~Listener();
  const SocketAddress& address() const { return address_; }
  int family() const { return address_.family(); }
  // Accepts one pending connection (blocking); the fd is non-blocking.
  absl::StatusOr<int> Accept();

 private:
  int fd_;
  SocketAddress address_;
  std::string path_;
};

class StreamTest : public LoopTest, public ::testing::WithParamInterface<StreamKind> {
 protected:
  bool IsPipe() const { return GetParam() == StreamKind::kPipe; }
  bool IsTls() const { return GetParam() == StreamKind::kTls; }
  bool IsSocket() const { return !IsPipe(); }

  // A connected pair of the test's kind; skips the test if the kind is unavailable here
  // (no IPv6 loopback).
  StreamPair MakePair(const BaseIOStream::Options& options = BaseIOStream::Options()) {
    return MakePair(options, options);
  }
  // The same with options of its own for each end.
  StreamPair MakePair(const BaseIOStream::Options& reader_options,
                      const BaseIOStream::Options& writer_options);

  // Runs the loop until `future` is done (failing the test after `timeout`) and returns its
  // result.
};

}  // namespace testing
}  // namespace gust

#endif  // GUST_CONFORMANCE_STREAM_FIXTURE_H_
