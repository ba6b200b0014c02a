// PoolAllocate/PoolFree: per-thread free lists for the small, short-lived blocks a loop makes
// for every operation (future states, write queues), so that steady-state reads and writes
// reach malloc only for their bytes.
//
// A block may be freed on any thread; it joins that thread's list. Each list keeps at most a few
// thousand blocks and gives them back to the system allocator when its thread exits.

#ifndef GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
#define GUST_IOSTREAM_INTERNAL_STATE_POOL_H_

#include <cstddef>
#include <new>

namespace gust {
namespace internal {

// Blocks up to this size are pooled; larger ones go to the system allocator and back.
inline constexpr size_t kPooledBlockLimit = 512;

inline void* PoolAllocate(size_t size);
inline void PoolFree(void* block, size_t size);

// --- Implementation details ---
//
// Both ends are inline up to a list's head: a future's state is taken and given back once per
// awaited read, and a call each way cost about 30 instructions where the inline path, whose size
// class the compiler works out, costs a few.
namespace state_pool_internal {

// A fine granule: a state is pooled in the smallest class it fits, and a suspended read's state
// is part of what every idle connection costs.
inline constexpr size_t kGranule = 16;
inline constexpr size_t kClasses = kPooledBlockLimit / kGranule;
inline constexpr size_t kMaxBlocksPerClass = 4096;

constexpr size_t ClassOf(size_t size) { return (size + kGranule - 1) / kGranule - 1; }

struct FreeBlock {
  FreeBlock* next;
};

// Plain data, so that reaching it is one thread-pointer-relative access: a thread_local with a
// destructor goes through an initialization check on every use. `active` once the thread's
// release at exit is registered (by the first free), until that release has run.
struct ThreadPool {
  FreeBlock* heads[kClasses];
  size_t counts[kClasses];
  bool active;
  bool destroyed;  // the thread is exiting: blocks freed from now on go to the allocator
};
extern constinit thread_local ThreadPool pool;

// A free that the inline path does not take: the first one on a thread, a full list, a block
// too large, or the thread exiting.
void FreeSlow(void* block, size_t size);

}  // namespace state_pool_internal

inline void* PoolAllocate(size_t size) {
  using namespace state_pool_internal;  // NOLINT: this file's own details
  const size_t index = ClassOf(size);
  if (index < kClasses) {
    if (FreeBlock* block = pool.heads[index]; block != nullptr) {
      pool.heads[index] = block->next;
      --pool.counts[index];
      return block;
    }
  }
  return ::operator new((index + 1) * kGranule);
}

inline void PoolFree(void* block, size_t size) {
  using namespace state_pool_internal;  // NOLINT: this file's own details
  const size_t index = ClassOf(size);
  if (index < kClasses && pool.active && pool.counts[index] < kMaxBlocksPerClass) {
    pool.heads[index] = new (block) FreeBlock{pool.heads[index]};
    ++pool.counts[index];
    return;
  }
  FreeSlow(block, size);
}

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_STATE_POOL_H_
