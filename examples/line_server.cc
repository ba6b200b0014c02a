// line_server: reads lines ending in "\r\n" and answers each with the same line. A line longer
// than 64 KiB is refused by closing the connection (ReadUntil's max_bytes), so a client cannot
// make the server buffer without limit.
//   bazel run //examples:line_server -- --port=8888

#include <memory>

#include "examples/example_main.h"
#include "iostream/io_stream.h"
#include "iostream/task.h"

namespace {

gust::Task<void> AnswerLines(std::unique_ptr<gust::IOStream> stream, gust::SocketAddress) {
  stream->SetNodelay(true);  // small answers should not wait for Nagle
  gust::Future<void> sent = gust::MakeReadyFuture<void>(absl::OkStatus());
  for (;;) {
    absl::StatusOr<std::string> line = co_await stream->ReadUntil("\r\n", 64 * 1024);
    if (!line.ok()) break;
    // Not awaited: pipelined lines are answered together, in one writev per loop iteration.
    sent = stream->Write(*std::move(line));
  }
  // A client that only half-closed is still reading: its last answers go out before the stream
  // is destroyed (destroying it drops unsent bytes).
  co_await sent;
  co_return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) { return gust::examples::RunServer(argc, argv, AnswerLines); }
