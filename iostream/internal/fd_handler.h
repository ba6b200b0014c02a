// FdHandler: what the IOLoop calls when a registered fd is ready, for an object that outlives its
// registration (a stream removes its handler before it goes away), so that the loop allocates
// nothing per registration and dispatches with one virtual call.

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

 protected:
  ~FdHandler() = default;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_FD_HANDLER_H_
