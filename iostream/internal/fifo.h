// Fifo<T>: a queue on one std::vector with a moving head, for a stream's write buffer.
//
// std::deque would do, but libstdc++'s allocates about 600 bytes even when empty, which is most
// of what an idle stream would cost; this one holds no storage while it is empty (it goes back
// to the thread's pool, where the next push finds it), unless a burst grew it past what the pool
// keeps, and pops in amortized O(1) (the consumed prefix is erased once it is half the storage).

#ifndef GUST_IOSTREAM_INTERNAL_FIFO_H_
#define GUST_IOSTREAM_INTERNAL_FIFO_H_

#include <cstddef>
#include <utility>
#include <vector>

#include "iostream/internal/state_pool.h"

namespace gust {
namespace internal {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }

  // Storage starts at two items: an adopted answer and the chunk that coalesces what is written
  // after it (an answer written in two pieces) need two, and growing from one to two is a
  // second allocation and a move.
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (items_.capacity() == 0) items_.reserve(2);
    return items_.emplace_back(std::forward<Args>(args)...);
  }

  void pop_front() {
    if (head_ + 1 == items_.size()) {  // the last one goes with the rest
      if (capacity_bytes() <= kPooledBlockLimit) {
        clear();
      } else {
        items_.clear();  // kept: another burst would allocate it again, from malloc
        head_ = 0;
      }
      return;
    }
    T released = std::move(items_[head_]);  // freed now, not at the next compaction
    if (++head_ * 2 >= items_.size() && head_ >= 16) {
      items_.erase(items_.begin(), items_.begin() + head_);
      head_ = 0;
    }
  }

  void clear() {
    Items().swap(items_);
    head_ = 0;
  }

  // Bytes of the storage itself (not what the items point to).
  size_t capacity_bytes() const { return items_.capacity() * sizeof(T); }

  // Iteration over the queued items, front first.
  auto begin() { return items_.begin() + head_; }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin() + head_; }
  auto end() const { return items_.end(); }

 private:
  using Items = std::vector<T, PoolAllocator<T>>;
  Items items_;
  size_t head_ = 0;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_FIFO_H_
