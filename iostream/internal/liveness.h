// Liveness: lets a callback that the loop runs later, or code that has just called out to
// something that may destroy its object, ask whether that object still exists (a cut-down
// WeakPtrFactory). Unlike a shared_ptr's control block, the shared flag exists only while such
// references are held, so an idle object carries one pointer and nothing on the heap. On the
// owner's loop thread only.

#ifndef GUST_IOSTREAM_INTERNAL_LIVENESS_H_
#define GUST_IOSTREAM_INTERNAL_LIVENESS_H_

#include <cstddef>
#include <cstdint>
#include <utility>

#include "iostream/internal/state_pool.h"

namespace gust {
namespace internal {

class Liveness {
 private:
  struct Flag {
    static void* operator new(size_t size) { return PoolAllocate(size); }
    static void operator delete(void* block, size_t size) { PoolFree(block, size); }

    uint32_t refs = 0;
    Liveness* owner;  // null once the owner is gone
  };

 public:
  // Held across whatever may destroy the owner: says whether the owner still exists.
  class Ref {
   public:
    explicit Ref(Flag* flag) : flag_(flag) { ++flag_->refs; }
    Ref(const Ref& other) : Ref(other.flag_) {}
    Ref(Ref&& other) noexcept : flag_(std::exchange(other.flag_, nullptr)) {}
    Ref& operator=(const Ref&) = delete;
    Ref& operator=(Ref&&) = delete;
    ~Ref() {
      if (flag_ == nullptr || --flag_->refs > 0) return;
      // The last pending callback is done: the owner (if alive) makes a new flag next time.
      if (flag_->owner != nullptr) flag_->owner->flag_ = nullptr;
      delete flag_;
    }

    bool alive() const { return flag_->owner != nullptr; }

   private:
    Flag* flag_;
  };

  Liveness() = default;
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;
  ~Liveness() {
    if (flag_ != nullptr) flag_->owner = nullptr;
  }

  Ref Take() {
    if (flag_ == nullptr) flag_ = new Flag{0, this};
    return Ref(flag_);
  }

 private:
  Flag* flag_ = nullptr;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_LIVENESS_H_
