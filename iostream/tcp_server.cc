#include "iostream/tcp_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "iostream/errors.h"
#include "iostream/internal/check.h"
#include "iostream/log.h"

namespace gust {

TCPServer::TCPServer(HandleStream handle_stream) : TCPServer(std::move(handle_stream), Options()) {}

TCPServer::TCPServer(HandleStream handle_stream, Options options)
    : handle_stream_(std::make_shared<const HandleStream>(std::move(handle_stream))),
      options_(std::move(options)) {}

TCPServer::~TCPServer() {
  Stop();
  for (std::unique_ptr<IOLoop>& loop : thread_loops_) loop->Stop();
  for (std::thread& thread : threads_) thread.join();
  for (int fd : bound_) close(fd);
}

absl::Status TCPServer::Listen(uint16_t port, absl::string_view address) {
  absl::StatusOr<std::vector<int>> sockets = BindSockets(port, address);
  if (!sockets.ok()) return sockets.status();
  return AddSockets(*std::move(sockets));
}

absl::Status TCPServer::AddSockets(std::vector<int> sockets) {
  auto worker = std::make_unique<Worker>();
  worker->loop = &IOLoop::Current();
  worker->sockets = std::move(sockets);
  absl::Status status = Accept(*worker);
  std::lock_guard<std::mutex> lock(mu_);
  workers_.push_back(std::move(worker));
  return status;
}

absl::Status TCPServer::Bind(uint16_t port, absl::string_view address, int family,
                             int backlog) {
  absl::StatusOr<std::vector<int>> sockets =
      BindSockets(port, address, family, backlog, /*reuse_port=*/true);
  if (!sockets.ok()) return sockets.status();
  std::lock_guard<std::mutex> lock(mu_);
  bound_.insert(bound_.end(), sockets->begin(), sockets->end());
  bind_address_ = std::string(address);
  bind_family_ = family;
  bind_backlog_ = backlog;
  return absl::OkStatus();
}

absl::Status TCPServer::Start(int num_threads) {
  std::vector<int> first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (bound_.empty()) return absl::FailedPreconditionError("TCPServer::Start: call Bind first");
    first.swap(bound_);
  }
  if (num_threads <= 1) return AddSockets(std::move(first));
  // Every thread gets its own sockets on the port the first set got.
  const uint16_t bound_port = SocketAddress::LocalOf(first[0]).port();
  for (int i = 0; i < num_threads; ++i) {
    std::vector<int> sockets;
    if (i == 0) {
      sockets = std::move(first);
    } else {
      absl::StatusOr<std::vector<int>> more =
          BindSockets(bound_port, bind_address_, bind_family_, bind_backlog_, true);
      if (!more.ok()) return more.status();
      sockets = *std::move(more);
    }
    absl::StatusOr<std::unique_ptr<IOLoop>> loop = IOLoop::Create();
    if (!loop.ok()) return loop.status();
    IOLoop* raw_loop = loop->get();
    auto worker = std::make_unique<Worker>();
    worker->loop = raw_loop;
    worker->sockets = std::move(sockets);
    Worker* raw_worker = worker.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers_.push_back(std::move(worker));
      thread_loops_.push_back(*std::move(loop));
    }
    // std::promise rather than absl::Notification: ThreadSanitizer sees its synchronization
    // (Debian's Abseil is not instrumented).
    std::promise<absl::Status> started;
    std::future<absl::Status> accepting = started.get_future();
    threads_.emplace_back([this, raw_loop, raw_worker, started = std::move(started)]() mutable {
      raw_loop->MakeCurrent();
      started.set_value(Accept(*raw_worker));
      absl::Status ran = raw_loop->Start();
      if (!ran.ok())
        internal::LogLine(LogSeverity::kError, absl::StrCat("TCPServer thread: ", ran.ToString()));
    });
    absl::Status accept_status = accepting.get();
    if (!accept_status.ok()) return accept_status;
  }
  return absl::OkStatus();
}

absl::Status TCPServer::Accept(Worker& worker) {
  // Its handlers' frames say how they ended; the server allocates nothing per connection to hear.
  worker.handlers.set_on_finish([this](const absl::Status& result) { HandlerFinished(result); });
  for (int fd : worker.sockets) {
    absl::StatusOr<std::unique_ptr<AcceptHandler>> acceptor = AcceptHandler::Add(
        fd, [this, &worker](int connection, SocketAddress peer) {
          OnConnection(worker, connection, peer);
        });
    if (!acceptor.ok()) return acceptor.status();
    worker.acceptors.push_back(*std::move(acceptor));
    std::lock_guard<std::mutex> lock(mu_);
    addresses_.push_back(SocketAddress::LocalOf(fd));
  }
  return absl::OkStatus();
}

void TCPServer::OnConnection(Worker& worker, int fd, SocketAddress peer) {
  std::unique_ptr<IOStream> stream =
      options_.tls != nullptr
          ? options_.tls->stream_makers().accept(fd, options_.tls, options_.stream_options,
                                                 options_.handshake_timeout)
          : std::make_unique<IOStream>(fd, options_.stream_options);
  stream->SetIdleTimeout(options_.idle_timeout);
  active_.fetch_add(1);
  Task<void> task = (*handle_stream_)(std::move(stream), peer);
  // Destroying the server destroys the handlers still suspended (and so their streams); a
  // handler that ends, now or later, calls HandlerFinished.
  internal::AdoptTask(worker.handlers, task);
}

void TCPServer::HandlerFinished(const absl::Status& result) {
  active_.fetch_sub(1);
  // The log line names no peer (nor does Tornado's "Error in connection callback"): a handler
  // that wants its peer logged logs the failure itself.
  if (!result.ok() && !IsStreamClosedError(result) && !absl::IsCancelled(result)) {
    internal::LogLine(LogSeverity::kError,
                      absl::StrCat("TCPServer: a connection's handler failed: ", result.ToString()));
  }
}

void TCPServer::CloseWorker(Worker& worker) {
  worker.acceptors.clear();
  for (int fd : worker.sockets) close(fd);
  worker.sockets.clear();
}

std::vector<SocketAddress> TCPServer::addresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return addresses_;
}

void TCPServer::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::unique_ptr<Worker>& worker : workers_) {
    Worker* raw = worker.get();
    bool own_thread = false;
    for (const std::unique_ptr<IOLoop>& loop : thread_loops_) {
      if (loop.get() == raw->loop) own_thread = true;
    }
    if (!own_thread) {
      CloseWorker(*raw);  // accepting on the caller's loop, which is this thread's
    } else {
      // Acceptors belong to their loop's thread: close them there, and wait.
      auto closed = std::make_shared<std::promise<void>>();
      std::future<void> done = closed->get_future();
      raw->loop->AddCallback([raw, closed] {
        CloseWorker(*raw);
        closed->set_value();
      });
      done.wait_for(std::chrono::seconds(5));
    }
  }
}

absl::Status TCPServer::Drain(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // Single-threaded servers drain on this thread's loop; threaded ones on their own.
  bool runs_here = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::unique_ptr<Worker>& worker : workers_) {
      if (worker->loop == &IOLoop::Current()) runs_here = true;
    }
  }
  IOLoop& loop = IOLoop::Current();
  if (runs_here && loop.running()) {
    return absl::FailedPreconditionError(
        "TCPServer::Drain: called from the loop the server runs on, which cannot run nested; "
        "wait for active_connections() from the loop instead");
  }
  while (active_.load() > 0 && absl::Now() < deadline) {
    if (runs_here) {
      IOLoop::TimeoutHandle stop = loop.CallLater(absl::Milliseconds(5), [&loop] { loop.Stop(); });
      absl::Status ran = loop.Start();
      loop.RemoveTimeout(stop);
      if (!ran.ok()) return ran;
    } else {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  const int left = active_.load();
  if (left == 0) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("TCPServer::Drain: ", left,
                                                  " connections still running after ",
                                                  absl::FormatDuration(timeout)));
}

}  // namespace gust
