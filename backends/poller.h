// Poller: the one interface every readiness backend (epoll, poll, select, io_uring) implements.
//
// A poller knows file descriptors, readiness bits and one opaque token per fd, nothing else: no
// callbacks, no streams, no timers. The IOLoop owns exactly one poller; each event carries the
// token its fd was registered with (epoll's data field), so the loop finds the handler without
// a lookup. Which
// implementation a binary gets is decided at build time by `--@gust//backends:poller=...`; the
// selected backend library defines `NewPoller()`, and linking two of them fails with a
// duplicate-symbol error, so a binary cannot silently carry two backends.
//
// A poller is used from one thread (the loop's); it is not thread-safe.

#ifndef GUST_BACKENDS_POLLER_H_
#define GUST_BACKENDS_POLLER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gust {

// Readiness bits, shared by pollers and IOLoop (Tornado's IOLoop.READ, WRITE, ERROR).
enum PollEvents : uint32_t {
  kPollRead = 1 << 0,
  kPollWrite = 1 << 1,
  // Error or hang-up. Always reported when it happens, whether or not it was asked for, as
  // epoll does; backends that cannot see it separately (select) report the fd readable instead.
  kPollError = 1 << 2,
  // Not readiness but a request, for Add and Modify: the caller does not need an fd reported
  // again while it stays ready (it reads until a read comes back short, and remembers itself
  // what it left unread), so a backend may report it only when its readiness changes (epoll:
  // EPOLLET). That spares the kernel a second look at every reported fd at the next wait, which
  // level-triggered epoll takes. Never reported; poll, select and io_uring ignore it and report
  // levels, which such a caller handles as well.
  kPollEdgeTriggered = 1 << 3,
  // Reported with kPollRead when the peer has closed its sending side (a socket's EPOLLRDHUP or
  // POLLRDHUP), by the backends that can tell (not select). A caller that asked for edges needs
  // it: what is left to read then ends with the end of the stream, and no later edge says so.
  kPollPeerClosed = 1 << 4,
};

struct PollEvent {
  uint64_t token;   // what the fd was added (or last modified) with
  uint32_t events;  // PollEvents bits
};

class Poller {
 public:
  virtual ~Poller() = default;

  // "epoll", "poll", "select" or "io_uring".
  virtual absl::string_view name() const = 0;

  // Starts watching `fd` for `events` (kPollRead and/or kPollWrite); its events carry `token`.
  // Fails with AlreadyExistsError if `fd` is watched already, InvalidArgumentError for an fd the
  // backend cannot represent (a negative one, or one >= FD_SETSIZE for select), or the system's
  // error.
  virtual absl::Status Add(int fd, uint32_t events, uint64_t token) = 0;

  // Changes the events watched for `fd` (and its token). NotFoundError if `fd` is not watched.
  virtual absl::Status Modify(int fd, uint32_t events, uint64_t token) = 0;

  // Stops watching `fd`. NotFoundError if it is not watched. Call it before closing `fd`.
  virtual absl::Status Remove(int fd) = 0;

  // Waits until at least one watched fd is ready or `timeout` passes (absl::InfiniteDuration()
  // waits without limit, absl::ZeroDuration() does not block), then replaces the contents of
  // `*ready` with one entry per ready fd. EINTR returns OK with no events. An fd closed without
  // Remove may still report events (epoll does while a duplicate of it is open): the token is
  // what tells the caller whether they are still of interest.
  virtual absl::Status Wait(absl::Duration timeout, std::vector<PollEvent>* ready) = 0;

  // Whether Wait lists the fds added with kPollEdgeTriggered in the order they became ready
  // (epoll's ready list is a queue), so that serving them in that order is first come, first
  // served. Level-triggered registrations come in no such order.
  virtual bool ListsEdgesInArrivalOrder() const { return false; }
};

// Defined by the backend library the build selected (//backends:default).
absl::StatusOr<std::unique_ptr<Poller>> NewPoller();

namespace poller_internal {

// Milliseconds for poll()/epoll_wait(): -1 for infinite, rounded up so that a wait never
// returns before a timer is due (which would spin the loop).
int TimeoutToMillis(absl::Duration timeout);

}  // namespace poller_internal
}  // namespace gust

#endif  // GUST_BACKENDS_POLLER_H_
