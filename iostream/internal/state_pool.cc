#include "iostream/internal/state_pool.h"

#include <new>

namespace gust {
namespace internal {
namespace {

constexpr size_t kGranule = 64;
constexpr size_t kClasses = 8;  // blocks of up to 512 bytes are pooled
constexpr size_t kMaxBlocksPerClass = 4096;

struct FreeBlock {
  FreeBlock* next;
};

class ThreadPool {
 public:
  ~ThreadPool() {
    for (FreeBlock*& head : heads_) {
      while (head != nullptr) {
        FreeBlock* block = head;
        head = block->next;
        ::operator delete(block);
      }
    }
    destroyed = true;
  }

  void* Allocate(size_t index) {
    FreeBlock* block = heads_[index];
    if (block == nullptr) return ::operator new((index + 1) * kGranule);
    heads_[index] = block->next;
    --counts_[index];
    return block;
  }

  void Free(void* memory, size_t index) {
    if (counts_[index] >= kMaxBlocksPerClass) return ::operator delete(memory);
    heads_[index] = new (memory) FreeBlock{heads_[index]};
    ++counts_[index];
  }

  // Set once the thread's pool is gone (thread exit): blocks freed later go to the allocator.
  static thread_local bool destroyed;

 private:
  FreeBlock* heads_[kClasses] = {};
  size_t counts_[kClasses] = {};
};

thread_local bool ThreadPool::destroyed = false;
thread_local ThreadPool pool;

size_t ClassOf(size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* PoolAllocate(size_t size) {
  const size_t index = ClassOf(size);
  if (index >= kClasses || ThreadPool::destroyed) return ::operator new((index + 1) * kGranule);
  return pool.Allocate(index);
}

void PoolFree(void* block, size_t size) {
  const size_t index = ClassOf(size);
  if (index >= kClasses || ThreadPool::destroyed) return ::operator delete(block);
  pool.Free(block, index);
}

}  // namespace internal
}  // namespace gust
