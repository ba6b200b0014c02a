#include "iostream/internal/spare_strings.h"

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
}

std::string CopyIntoSpareString(const char* data, size_t n) {
  if (n < kMinSpareSize) return std::string(data, n);  // a line: no spare is that small
  std::string out = spares.TakeFirst(
      [n](const std::string& spare) { return spare.capacity() >= n && spare.capacity() / 4 <= n; });
  out.assign(data, n);  // within a kept string's capacity: no allocation, no zeroing
  return out;
}

}  // namespace internal
}  // namespace gust
