// FdHandler: what the IOLoop calls back on an object that outlives its registrations (a stream
// removes them before it goes away): when its fd is ready, and at the end of an iteration it
// asked for. The loop allocates nothing per registration and dispatches with one virtual call.

#ifndef GUST_IOSTREAM_INTERNAL_FD_HANDLER_H_
#define GUST_IOSTREAM_INTERNAL_FD_HANDLER_H_

#include <cstdint>

namespace gust {
namespace internal {

class FdHandler {
 public:
  // `events`: PollEvents bits. The handler may remove its own registration, or destroy its
  // owner, before it returns.
  virtual void OnFdEvents(int fd, uint32_t events) = 0;
  // After the iteration's handlers and due timers, when the handler asked the loop for it in
  // this iteration. It may ask again, and is then called again before the next wait.
  virtual void OnIterationEnd() {}

 protected:
  ~FdHandler() = default;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_FD_HANDLER_H_
