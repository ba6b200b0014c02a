// PoolAllocate/PoolFree: per-thread free lists for the small, short-lived blocks a loop makes
// for every operation (future states, write queues), so that steady-state reads and writes
// reach malloc only for their bytes.
//
// A block may be freed on any thread; it joins that thread's list. Each list keeps at most a few
// thousand blocks and gives them back to the system allocator when its thread exits.

#ifndef GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
#define GUST_IOSTREAM_INTERNAL_STATE_POOL_H_

#include <cstddef>

namespace gust {
namespace internal {

// Blocks up to this size are pooled; larger ones go to the system allocator and back.
inline constexpr size_t kPooledBlockLimit = 512;

void* PoolAllocate(size_t size);
void PoolFree(void* block, size_t size);

// A standard allocator on the pool, for a container that an operation fills and empties again
// (a stream's write queue): it can give its storage back whenever it is empty, and get it
// again for a few instructions.
template <typename T>
struct PoolAllocator {
  using value_type = T;

  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT: allocators convert implicitly

  T* allocate(size_t n) { return static_cast<T*>(PoolAllocate(n * sizeof(T))); }
  void deallocate(T* block, size_t n) { PoolFree(block, n * sizeof(T)); }

  friend bool operator==(const PoolAllocator&, const PoolAllocator&) { return true; }
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
