#include "iostream/internal/state_pool.h"

#include <new>

#include "iostream/internal/thread_exit.h"

namespace gust {
namespace internal {
namespace state_pool_internal {

constinit thread_local ThreadPool pool{};

namespace {

// Frees the thread's pooled blocks when the thread exits (registered on its first free).
void ReleasePool() {
  pool.active = false;
  pool.destroyed = true;
  for (FreeBlock*& head : pool.heads) {
    while (head != nullptr) {
      FreeBlock* block = head;
      head = block->next;
      ::operator delete(block);
    }
  }
}

}  // namespace

void FreeSlow(void* block, size_t size) {
  const size_t index = ClassOf(size);
  if (index >= kClasses || pool.destroyed || pool.counts[index] >= kMaxBlocksPerClass) {
    return ::operator delete(block);
  }
  // A block PoolFree would have kept: this is the thread's first free.
  pool.active = true;
  CallAtThreadExit<&ReleasePool>();
  PoolFree(block, size);  // the inline path, from now on
}

}  // namespace state_pool_internal
}  // namespace internal
}  // namespace gust
