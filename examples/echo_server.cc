// echo_server: sends back every byte it receives.
//   bazel run //examples:echo_server -- --port=8888 --threads=2
// then: nc 127.0.0.1 8888

#include <memory>

#include "examples/example_main.h"
#include "iostream/io_stream.h"
#include "iostream/task.h"

namespace {

gust::Task<void> Echo(std::unique_ptr<gust::IOStream> stream, gust::SocketAddress) {
  stream->SetNodelay(true);  // an echo should not wait for Nagle
  gust::Future<void> sent = gust::MakeReadyFuture<void>(absl::OkStatus());
  for (;;) {
    // partial: whatever has arrived, up to 64 KiB, without waiting for more.
    absl::StatusOr<std::string> data = co_await stream->ReadBytes(64 * 1024, /*partial=*/true);
    if (!data.ok()) break;  // the client has finished sending, or went away
    sent = stream->Write(*std::move(data));  // sent with this iteration's other writes
  }
  // A client that only half-closed is still reading: what is queued for it goes out before the
  // stream is destroyed (destroying it drops unsent bytes).
  co_await sent;
  co_return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) { return gust::examples::RunServer(argc, argv, Echo); }
