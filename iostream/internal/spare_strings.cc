#include "iostream/internal/spare_strings.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "iostream/internal/thread_exit.h"

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

using spare_strings_internal::FitsWithoutWaste;
using spare_strings_internal::small_spare_stack;
using spare_strings_internal::SmallSpareStack;

void ClearSmallSpares() {
  SmallSpareStack& stack = small_spare_stack;
  while (stack.count > 0) stack.Slot(--stack.count)->~basic_string();
}

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

void ReleaseSpareStrings() {
  spares.strings.clear();
  spares.strings.shrink_to_fit();
  spares.bytes = 0;
  ClearSmallSpares();
}

namespace spare_strings_internal {

constinit thread_local SmallSpareStack small_spare_stack{};

void MakeSmallSpareReleaser() {
  small_spare_stack.releaser_made = true;
  CallAtThreadExit<&ClearSmallSpares>();
}

std::string CopyIntoSpareStringSlow(const char* data, size_t n) {
  if (n < kMinSpareSize) {
    SmallSpareStack& stack = small_spare_stack;
    if (n <= std::string().capacity() || stack.count == 0 ||
        !FitsWithoutWaste(stack.Slot(stack.count - 1)->capacity(), n)) {
      return std::string(data, n);
    }
    // The top string's storage fits, but it holds fewer bytes than the line (the inline way
    // handles the rest).
    std::string* top = stack.Slot(--stack.count);
    std::string out(std::move(*top));
    top->~basic_string();
    // Within its capacity: clear() and append() rather than assign(), which checks whether
    // `data` overlaps the string's own bytes.
    out.clear();
    out.append(data, n);
    return out;
  }
  std::string out = spares.TakeFirst(
      [n](const std::string& spare) { return FitsWithoutWaste(spare.capacity(), n); });
  out.assign(data, n);  // within a kept string's capacity: no allocation, no zeroing
  return out;
}

}  // namespace spare_strings_internal

}  // namespace internal
}  // namespace gust
