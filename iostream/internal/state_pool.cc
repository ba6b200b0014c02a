#include "iostream/internal/state_pool.h"

#include <new>

#include "iostream/internal/thread_exit.h"

namespace gust {
namespace internal {
namespace {

// A fine granule: a state is pooled in the smallest class it fits, and a suspended read's state
// is part of what every idle connection costs.
constexpr size_t kGranule = 16;
constexpr size_t kClasses = kPooledBlockLimit / kGranule;
constexpr size_t kMaxBlocksPerClass = 4096;

struct FreeBlock {
  FreeBlock* next;
};

// Plain data, so that reaching it is one thread-pointer-relative access: a thread_local with a
// destructor goes through an initialization check on every use (twice per pipelined line).
struct ThreadPool {
  FreeBlock* heads[kClasses];
  size_t counts[kClasses];
  bool releaser_made;
  bool destroyed;  // the thread is exiting: blocks freed from now on go to the allocator
};
thread_local ThreadPool pool;

// Frees the thread's pooled blocks when the thread exits (registered on its first Free).
void ReleasePool() {
  for (FreeBlock*& head : pool.heads) {
    while (head != nullptr) {
      FreeBlock* block = head;
      head = block->next;
      ::operator delete(block);
    }
  }
  pool.destroyed = true;
}

size_t ClassOf(size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* PoolAllocate(size_t size) {
  const size_t index = ClassOf(size);
  if (index >= kClasses || pool.heads[index] == nullptr) {
    return ::operator new((index + 1) * kGranule);
  }
  FreeBlock* block = pool.heads[index];
  pool.heads[index] = block->next;
  --pool.counts[index];
  return block;
}

void PoolFree(void* block, size_t size) {
  const size_t index = ClassOf(size);
  if (index >= kClasses || pool.destroyed || pool.counts[index] >= kMaxBlocksPerClass) {
    return ::operator delete(block);
  }
  if (!pool.releaser_made) {
    pool.releaser_made = true;
    CallAtThreadExit<&ReleasePool>();
  }
  pool.heads[index] = new (block) FreeBlock{pool.heads[index]};
  ++pool.counts[index];
}

}  // namespace internal
}  // namespace gust
