// PollEvents to and from poll(2)'s bit masks: one translation for the backends that speak them
// (poll, and io_uring's poll requests). Backend-private; not part of the Poller interface.

#ifndef GUST_BACKENDS_POLL_MASK_H_
#define GUST_BACKENDS_POLL_MASK_H_

#include <poll.h>

#include <cstdint>

#include "backends/poller.h"

namespace gust {
namespace poller_internal {

inline unsigned ToPollMask(uint32_t events) {
  unsigned out = 0;
  if (events & kPollRead) out |= POLLIN | POLLPRI | POLLRDHUP;
  if (events & kPollWrite) out |= POLLOUT;
  return out;
}

inline uint32_t FromPollMask(unsigned revents) {
  uint32_t out = 0;
  if (revents & (POLLIN | POLLPRI | POLLRDHUP)) out |= kPollRead;
  if (revents & POLLRDHUP) out |= kPollPeerClosed;
  if (revents & POLLOUT) out |= kPollWrite;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) out |= kPollError;
  return out;
}

}  // namespace poller_internal
}  // namespace gust

#endif  // GUST_BACKENDS_POLL_MASK_H_
