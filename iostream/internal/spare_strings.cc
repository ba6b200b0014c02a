#include "iostream/internal/spare_strings.h"

#include <utility>
#include <vector>

namespace gust {
namespace internal {
namespace {

thread_local std::vector<std::string> spares;

}  // namespace

void KeepSpareString(std::string&& data) {
  if (data.size() < kMinSpareSize || data.capacity() > kMaxSpareCapacity ||
      spares.size() >= kMaxSpareStrings) {
    return;
  }
  spares.push_back(std::move(data));
}

std::string TakeSpareString(size_t min_size) {
  for (size_t i = spares.size(); i-- > 0;) {
    if (spares[i].size() < min_size) continue;
    std::string spare = std::move(spares[i]);
    spares.erase(spares.begin() + i);
    return spare;
  }
  return std::string();
}

}  // namespace internal
}  // namespace gust
