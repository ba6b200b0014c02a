// The stream kinds every read/write conformance test runs over, and a fixture that makes a
// connected (reader, writer) pair of each: TCP over IPv4 and IPv6 loopback, a Unix socket
// (connected through a listening path, so Connect is exercised), and a pipe (PipeIOStream).
// As in Tornado's make_iostream_pair, the accepted side reads and the connecting side writes.

#ifndef GUST_CONFORMANCE_STREAM_FIXTURE_H_
#define GUST_CONFORMANCE_STREAM_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/base_io_stream.h"
#include "iostream/io_stream.h"

namespace gust {
namespace testing {

enum class StreamKind { kTcp4, kTcp6, kUnix, kPipe };

std::string StreamKindName(const ::testing::TestParamInfo<StreamKind>& info);

// All kinds, for INSTANTIATE_TEST_SUITE_P.
::testing::internal::ValueArray<StreamKind, StreamKind, StreamKind, StreamKind> AllStreamKinds();

struct StreamPair {
  std::unique_ptr<BaseIOStream> reader;
  std::unique_ptr<BaseIOStream> writer;
};

// A listening socket on loopback (or a Unix path) for tests that connect and accept.
class Listener {
 public:
  // kTcp4: 127.0.0.1, kTcp6: ::1, kUnix: a fresh path under TEST_TMPDIR. Not for kPipe.
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
  bool IsSocket() const { return !IsPipe(); }

  // A connected pair of the test's kind; skips the test if the kind is unavailable here
  // (no IPv6 loopback).
  StreamPair MakePair(const BaseIOStream::Options& options = BaseIOStream::Options());

  // Runs the loop until `future` is done (failing the test after `timeout`) and returns its
  // result.
  template <typename T>
  FutureResult<T> Await(Future<T> future, absl::Duration timeout = absl::Seconds(30)) {
    return loop().RunSync([&] { return future; }, timeout);
  }

  // Runs the loop for `duration`.
  void RunFor(absl::Duration duration);
};

}  // namespace testing
}  // namespace gust

#endif  // GUST_CONFORMANCE_STREAM_FIXTURE_H_
