// PoolAllocate/PoolFree: per-thread free lists for the small, short-lived blocks a loop makes
// for every operation (future states), so that steady-state reads and writes reach malloc only
// for their bytes.
//
// A block may be freed on any thread; it joins that thread's list. Each list keeps at most a few
// thousand blocks and gives them back to the system allocator when its thread exits.

#ifndef GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
#define GUST_IOSTREAM_INTERNAL_STATE_POOL_H_

#include <cstddef>

namespace gust {
namespace internal {

void* PoolAllocate(size_t size);
void PoolFree(void* block, size_t size);

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
