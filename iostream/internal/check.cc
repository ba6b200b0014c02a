#include "iostream/internal/check.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace gust {
namespace internal {

void CheckFailed(const char* file, int line, const char* condition, absl::string_view message) {
  // Straight to stderr, not to the log sink: the process is about to abort.
  const std::string text = absl::StrCat("gust FATAL: ", file, ":", line,
                                        ": check failed: ", condition, ": ", message, "\n");
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::abort();
}

}  // namespace internal
}  // namespace gust
