#include "iostream/internal/spare_strings.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

namespace gust {
namespace internal {
namespace {

struct Spares {
  std::vector<std::string> strings;
  size_t bytes = 0;  // their capacities

  // Takes out the most recently kept string that `fits`, or returns an empty string. Only the
  // last few are looked at: with many kept, a search must not cost more than the allocation it
  // saves.
  template <typename Fits>
  std::string TakeFirst(Fits fits) {
    constexpr size_t kSearchDepth = 16;
    const size_t count = strings.size();
    for (size_t i = count; i-- > 0 && count - i <= kSearchDepth;) {
      if (!fits(strings[i])) continue;
      std::string taken = std::move(strings[i]);
      strings[i] = std::move(strings.back());
      strings.pop_back();
      bytes -= taken.capacity();
      return taken;
    }
    return std::string();
  }
};
thread_local Spares spares;

// Whether a kept string of `capacity` holds `n` bytes without wasting most of its storage.
bool FitsWithoutWaste(size_t capacity, size_t n) {
  return capacity >= n && capacity <= std::max<size_t>(4 * n, 64);
}

// Lines' strings: a stack, and only its top is looked at. A line server takes back at once the
// string it has just kept, and anything costlier than a few moves would cost more than the
// malloc and free it saves.
// The slots are raw storage, constructed only while they hold a string: moving a string into
// a slot and out again then costs two move constructions, where assigning into a kept
// std::string costs several times that.
class SmallSpares {
 public:
  SmallSpares() = default;
  SmallSpares(const SmallSpares&) = delete;
  SmallSpares& operator=(const SmallSpares&) = delete;
  ~SmallSpares() { Clear(); }

  const std::string* top() const { return count_ > 0 ? Slot(count_ - 1) : nullptr; }
  void Push(std::string&& data) {
    if (count_ < kMaxSmallSpares) new (Slot(count_++)) std::string(std::move(data));
  }
  std::string Pop() {
    std::string* slot = Slot(--count_);
    std::string out(std::move(*slot));
    slot->~basic_string();
    return out;
  }
  void Clear() {
    while (count_ > 0) Pop();
  }

 private:
  std::string* Slot(size_t i) { return std::launder(reinterpret_cast<std::string*>(slots_[i])); }
  const std::string* Slot(size_t i) const {
    return std::launder(reinterpret_cast<const std::string*>(slots_[i]));
  }

  alignas(std::string) unsigned char slots_[kMaxSmallSpares][sizeof(std::string)];
  size_t count_ = 0;
};
thread_local SmallSpares small_spares;

}  // namespace

void KeepSpareString(std::string&& data) {
  if (data.size() < kMinSpareSize || data.capacity() > kMaxSpareCapacity ||
      spares.bytes + data.capacity() > kMaxSpareBytes) {
    return;
  }
  spares.bytes += data.capacity();
  spares.strings.push_back(std::move(data));
}

std::string TakeSpareString(size_t min_size, size_t max_capacity) {
  return spares.TakeFirst([&](const std::string& spare) {
    return spare.size() >= min_size && spare.capacity() <= max_capacity;
  });
}

void KeepSmallSpareString(std::string&& data) {
  // An empty string's capacity is what std::string holds inline: nothing to keep.
  if (data.capacity() <= std::string().capacity() || data.capacity() > kMaxSmallSpareCapacity) {
    return;
  }
  small_spares.Push(std::move(data));
}

void ReleaseSpareStrings() {
  spares.strings.clear();
  spares.strings.shrink_to_fit();
  spares.bytes = 0;
  small_spares.Clear();
}

std::string CopyIntoSpareString(const char* data, size_t n) {
  if (n < kMinSpareSize) {
    SmallSpares& small = small_spares;
    const std::string* top = small.top();
    if (n <= std::string().capacity() || top == nullptr || !FitsWithoutWaste(top->capacity(), n)) {
      return std::string(data, n);
    }
    std::string out = small.Pop();
    if (out.size() >= n) {
      // Shrinking is inline (growing, even within the capacity, is a call into libstdc++): a
      // line server's kept answer is as long as the next line, or longer.
      out.resize(n);
      std::memcpy(out.data(), data, n);
    } else {
      // Within its capacity: clear() and append() rather than assign(), which checks whether
      // `data` overlaps the string's own bytes.
      out.clear();
      out.append(data, n);
    }
    return out;
  }
  std::string out = spares.TakeFirst(
      [n](const std::string& spare) { return FitsWithoutWaste(spare.capacity(), n); });
  out.assign(data, n);  // within a kept string's capacity: no allocation, no zeroing
  return out;
}

}  // namespace internal
}  // namespace gust
