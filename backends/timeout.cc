#include <limits>

#include "backends/poller.h"

namespace gust {
namespace poller_internal {

int TimeoutToMillis(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  const absl::Duration max = absl::Milliseconds(std::numeric_limits<int>::max());
  if (timeout >= max) return std::numeric_limits<int>::max();
  return static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))));
}

}  // namespace poller_internal
}  // namespace gust
