// IntrusiveRef: a reference to an object that counts its own references (AddRef/Release), so
// that holding one takes a pointer, not a shared_ptr's two: a future's State, a stream's write
// Progress, a loop's CallbackQueue.

#ifndef GUST_IOSTREAM_INTERNAL_INTRUSIVE_REF_H_
#define GUST_IOSTREAM_INTERNAL_INTRUSIVE_REF_H_

#include <utility>

namespace gust {
namespace internal {

template <typename Counted>
class IntrusiveRef {
 public:
  IntrusiveRef() = default;
  explicit IntrusiveRef(Counted* counted) : counted_(counted) {
    if (counted_ != nullptr) counted_->AddRef();
  }
  IntrusiveRef(const IntrusiveRef& other) : IntrusiveRef(other.counted_) {}
  IntrusiveRef(IntrusiveRef&& other) noexcept : counted_(std::exchange(other.counted_, nullptr)) {}
  IntrusiveRef& operator=(IntrusiveRef other) noexcept {
    std::swap(counted_, other.counted_);
    return *this;
  }
  ~IntrusiveRef() { reset(); }

  void reset() {
    if (counted_ != nullptr) std::exchange(counted_, nullptr)->Release();
  }
  Counted* get() const { return counted_; }
  Counted* operator->() const { return counted_; }
  Counted& operator*() const { return *counted_; }
  explicit operator bool() const { return counted_ != nullptr; }

 private:
  Counted* counted_ = nullptr;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_INTRUSIVE_REF_H_
