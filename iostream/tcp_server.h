// TCPServer: accepts connections and hands each to a coroutine as a stream; Tornado's
// tornado.tcpserver.TCPServer.
//
// Example:
//   TCPServer server([](std::unique_ptr<IOStream> stream, SocketAddress peer) -> Task<void> {
//     ... co_await stream->ReadUntil("\r\n") ...
//     co_return absl::OkStatus();
//   });
//   server.Listen(8888);  // on IOLoop::Current()
//   IOLoop::Current().Start();
//
// Multi-threaded: Bind(port) then Start(n) runs n threads, each with its own IOLoop and its own
// SO_REUSEPORT listening sockets on the same port, so the kernel spreads connections over every
// core; a stream and its coroutine stay on the thread that accepted it. The handler is then
// called from several threads at once and must be safe for that.

#ifndef GUST_IOSTREAM_TCP_SERVER_H_
#define GUST_IOSTREAM_TCP_SERVER_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "iostream/io_stream.h"
#include "iostream/netutil.h"
#include "iostream/task.h"
#include "iostream/tls_context.h"

namespace gust {

class TCPServer {
 public:
  // Tornado: handle_stream(stream, address). With TLS the stream is an SSLIOStream whose
  // handshake may not have finished (WaitForHandshake() waits for it; reads and writes wait by
  // themselves).
  using HandleStream =
      absl::AnyInvocable<Task<void>(std::unique_ptr<IOStream> stream, SocketAddress peer) const>;

  struct Options {
    std::shared_ptr<const TlsContext> tls;  // server context: every connection speaks TLS
    // Tornado: max_buffer_size, read_chunk_size. Backpressure is on by default for accepted
    // streams (a client that sends without reading cannot grow the server); set
    // stream_options.write_high_water_mark = 0 to turn it off.
    BaseIOStream::Options stream_options = {
        .write_high_water_mark = BaseIOStream::kDefaultServerWriteHighWaterMark};
    // With TLS: a connection whose handshake has not finished this long after it was accepted
    // is closed (SSLIOStream::SetHandshakeTimeout). absl::InfiniteDuration() turns it off.
    absl::Duration handshake_timeout = absl::Seconds(10);
    // A connection that moves no byte either way for this long is closed
    // (BaseIOStream::SetIdleTimeout). Off by default: servers of long-lived idle connections
    // (chat, push) are common; set it for request/response protocols.
    absl::Duration idle_timeout = absl::InfiniteDuration();
  };

  explicit TCPServer(HandleStream handle_stream);
  TCPServer(HandleStream handle_stream, Options options);
  // Stops accepting, stops the worker threads' loops and joins them, and destroys every
  // connection's handler that is still suspended (its stream closes). Destroy the server on the
  // thread of the loop it listens on, before that loop.
  ~TCPServer();
  TCPServer(const TCPServer&) = delete;
  TCPServer& operator=(const TCPServer&) = delete;

  // Tornado: listen(port, address). Binds and accepts on IOLoop::Current().
  absl::Status Listen(uint16_t port, absl::string_view address = "");
  // Tornado: add_sockets(sockets). Accepts on listening sockets made elsewhere (BindSockets,
  // BindUnixSocket), on IOLoop::Current(); the server owns them from now on.
  absl::Status AddSockets(std::vector<int> sockets);
  // Tornado: bind() then start(). Bind makes the listening sockets (with SO_REUSEPORT, so that
  // Start can give each thread its own); Start(1) accepts on IOLoop::Current(), Start(n) on n
  // new threads with a loop each.
  absl::Status Bind(uint16_t port, absl::string_view address = "", int family = AF_UNSPEC,
                    int backlog = 128);
  absl::Status Start(int num_threads = 1);

  // The addresses being listened on (with the port the system chose for port 0).
  std::vector<SocketAddress> addresses() const;

  // Tornado: stop(). Stops accepting and closes the listening sockets, on every thread;
  // connections being served go on. Call it from the thread that set the server up (not from
  // a worker thread's handler).
  void Stop();
  // After Stop(): runs the server's loop (or waits for its threads) until every connection's
  // handler has finished: OK, or DeadlineExceededError naming how many still run after
  // `timeout`. FailedPreconditionError when called from the running loop the server is on.
  // Destroying the server instead destroys the handlers still suspended, closing their streams.
  absl::Status Drain(absl::Duration timeout);
  int active_connections() const { return active_.load(); }

 private:
  struct Worker {
    IOLoop* loop = nullptr;  // the loop its acceptors run on
    std::vector<int> sockets;
    std::vector<std::unique_ptr<AcceptHandler>> acceptors;
    // The unfinished handlers of its connections, touched only on its loop's thread.
    internal::TaskList handlers;
  };

  absl::Status Accept(Worker& worker);
  void OnConnection(Worker& worker, int fd, SocketAddress peer);
  // A connection's handler ended (`result`: its task's): counts it and logs a failure.
  void HandlerFinished(const absl::Status& result);
  static void CloseWorker(Worker& worker);

  const std::shared_ptr<const HandleStream> handle_stream_;
  const Options options_;
  std::atomic<int> active_{0};

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<int> bound_;  // from Bind, not yet started
  std::string bind_address_;
  int bind_family_ = AF_UNSPEC;
  int bind_backlog_ = 128;
  std::vector<SocketAddress> addresses_;
  std::vector<std::unique_ptr<IOLoop>> thread_loops_;
  std::vector<std::thread> threads_;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_TCP_SERVER_H_
