#include "iostream/internal/spare_strings.h"

#include <utility>
#include <vector>

namespace gust {
namespace internal {
namespace {

struct Spares {
  std::vector<std::string> strings;
  size_t bytes = 0;  // their capacities

  std::string Take(size_t i) {
    std::string taken = std::move(strings[i]);
    strings[i] = std::move(strings.back());
    strings.pop_back();
    bytes -= taken.capacity();
    return taken;
  }
};
thread_local Spares spares;

// The most recently kept strings are looked at first, and only a few: with many kept, a search
// must not cost more than the allocation it saves.
constexpr size_t kSearchDepth = 16;

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
  const size_t count = spares.strings.size();
  for (size_t i = count; i-- > 0 && count - i <= kSearchDepth;) {
    const std::string& spare = spares.strings[i];
    if (spare.size() >= min_size && spare.capacity() <= max_capacity) return spares.Take(i);
  }
  return std::string();
}

void ReleaseSpareStrings() {
  spares.strings.clear();
  spares.strings.shrink_to_fit();
  spares.bytes = 0;
}

std::string CopyIntoSpareString(const char* data, size_t n) {
  if (n >= kMinSpareSize) {
    const size_t count = spares.strings.size();
    for (size_t i = count; i-- > 0 && count - i <= kSearchDepth;) {
      const size_t capacity = spares.strings[i].capacity();
      if (capacity < n || capacity / 4 > n) continue;
      std::string out = spares.Take(i);
      out.assign(data, n);  // within its capacity: no allocation, no zeroing
      return out;
    }
  }
  return std::string(data, n);
}

}  // namespace internal
}  // namespace gust
