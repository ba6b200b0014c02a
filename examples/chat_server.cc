// chat_server: every line a client sends goes to every other connected client.
//   bazel run //examples:chat_server -- --port=8888   (then several: nc 127.0.0.1 8888)
//
// Shows many streams on one loop (the room is plain data: one thread, so no locks), close
// callbacks (a client leaves the room when its connection closes), and backpressure: each
// stream may queue at most 1 MiB of unsent lines (max_write_buffer_size); a client that stops
// reading is disconnected instead of making the server buffer without limit.

#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "examples/example_main.h"
#include "iostream/errors.h"
#include "iostream/io_stream.h"
#include "iostream/task.h"

namespace {

class Room {
 public:
  void Join(gust::IOStream* member) { members_.insert(member); }
  void Leave(gust::IOStream* member) { members_.erase(member); }

  void Broadcast(gust::IOStream* from, const std::string& line) {
    for (gust::IOStream* member : std::set<gust::IOStream*>(members_)) {
      if (member == from) continue;
      gust::Future<void> sent = member->Write(line);
      // Already failed: this member's unsent lines passed the limit. Drop it.
      if (sent.done() && gust::IsStreamBufferFullError(sent.result())) {
        std::fprintf(stderr, "dropping a client that does not read\n");
        member->Close(sent.result());
      }
    }
  }

 private:
  std::set<gust::IOStream*> members_;
};

Room& TheRoom() {
  static Room room;
  return room;
}

gust::Task<void> Chat(std::unique_ptr<gust::IOStream> stream, gust::SocketAddress peer) {
  stream->SetNodelay(true);  // chat lines should not wait for Nagle
  gust::IOStream* self = stream.get();
  TheRoom().Join(self);
  self->SetCloseCallback([self] { TheRoom().Leave(self); });
  TheRoom().Broadcast(self, absl::StrCat("* ", peer.ToString(), " joined\r\n"));
  for (;;) {
    absl::StatusOr<std::string> line = co_await stream->ReadUntil("\n", 4096);
    if (!line.ok()) break;
    TheRoom().Broadcast(self, absl::StrCat(peer.ToString(), ": ", *line));
  }
  TheRoom().Leave(self);  // the stream is destroyed with this coroutine
  TheRoom().Broadcast(nullptr, absl::StrCat("* ", peer.ToString(), " left\r\n"));
  co_return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  gust::examples::ParseFlags(argc, argv);
  if (absl::GetFlag(FLAGS_threads) != 1) {
    std::fprintf(stderr, "chat_server runs one thread: its room is not shared between loops\n");
    return 2;
  }
  gust::TCPServer::Options options;
  options.stream_options.max_write_buffer_size = 1 << 20;
  // The room lives on one loop: this example always runs one thread.
  return gust::examples::RunParsedServer(Chat, options);
}
