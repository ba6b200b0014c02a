// Fifo<T>: a queue in one array with a moving head, for a stream's write buffer.
//
// std::deque would do, but libstdc++'s allocates about 600 bytes even when empty, which is most
// of what an idle stream would cost; this one holds no storage while it is empty (it goes back
// to the thread's pool, where the next push finds it), unless a burst grew it past what the pool
// keeps. A pop is O(1); a push that finds the end of the array moves the queued items to its
// front if the popped ones left at least half of it free, else doubles it (amortized O(1)).
// Not std::vector underneath: its out-of-line reserve cost 55 instructions per answer on a
// request/response stream, whose queue is made and emptied once per answer.

#ifndef GUST_IOSTREAM_INTERNAL_FIFO_H_
#define GUST_IOSTREAM_INTERNAL_FIFO_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "iostream/internal/state_pool.h"

namespace gust {
namespace internal {

template <typename T>
class Fifo {
  static_assert(std::is_nothrow_move_constructible_v<T>, "Grow moves the items");

 public:
  Fifo() = default;
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  ~Fifo() { clear(); }

  bool empty() const { return head_ == end_; }
  size_t size() const { return end_ - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_[end_ - 1]; }
  const T& back() const { return items_[end_ - 1]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (end_ == capacity_) {
      // The first item's storage inline: a request/response stream's queue is made and emptied
      // once per answer, and the general Grow saved six registers first (31 instructions).
      if (items_ == nullptr) {
        items_ = static_cast<T*>(PoolAllocate(kFirstCapacity * sizeof(T)));
        capacity_ = kFirstCapacity;
      } else {
        Grow();
      }
    }
    T* item = new (&items_[end_]) T(std::forward<Args>(args)...);
    ++end_;
    return *item;
  }

  void pop_front() {
    items_[head_].~T();  // freed now, not when the array is next rearranged
    if (++head_ != end_) return;
    // The last one: the storage goes back to the pool, unless it grew past what the pool keeps
    // (another burst would get it again from malloc).
    if (capacity_bytes() <= kPooledBlockLimit) return clear();
    head_ = end_ = 0;
  }

  void clear() {
    for (uint32_t i = head_; i < end_; ++i) items_[i].~T();
    if (items_ != nullptr) PoolFree(items_, capacity_bytes());
    items_ = nullptr;
    head_ = end_ = capacity_ = 0;
  }

  // Bytes of the storage itself (not what the items point to).
  size_t capacity_bytes() const { return size_t{capacity_} * sizeof(T); }

  // Iteration over the queued items, front first.
  T* begin() { return items_ + head_; }
  T* end() { return items_ + end_; }
  const T* begin() const { return items_ + head_; }
  const T* end() const { return items_ + end_; }

 private:
  // Storage starts at two items: an adopted answer and the chunk that coalesces what is written
  // after it (an answer written in two pieces) need two.
  static constexpr uint32_t kFirstCapacity = 2;

  [[gnu::noinline]] void Grow() {
    const uint32_t live = end_ - head_;
    const uint32_t capacity = head_ >= capacity_ / 2 ? capacity_ : 2 * capacity_;
    T* items = capacity == capacity_ ? items_ : static_cast<T*>(PoolAllocate(capacity * sizeof(T)));
    for (uint32_t i = 0; i < live; ++i) {
      new (&items[i]) T(std::move(items_[head_ + i]));
      items_[head_ + i].~T();
    }
    if (items != items_) PoolFree(items_, capacity_bytes());
    items_ = items;
    capacity_ = capacity;
    head_ = 0;
    end_ = live;
  }

  T* items_ = nullptr;
  uint32_t head_ = 0;
  uint32_t end_ = 0;
  uint32_t capacity_ = 0;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_FIFO_H_
