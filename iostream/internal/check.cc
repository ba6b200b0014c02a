#include "iostream/internal/check.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace gust {
namespace internal {

void CheckFailed(const char* file, int line, const char* condition, absl::string_view message) {
  LogLine("FATAL", absl::StrCat(file, ":", line, ": check failed: ", condition, ": ", message));
  std::abort();
}

void LogLine(absl::string_view severity, absl::string_view message) {
  const std::string line = absl::StrCat("gust ", severity, ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace internal
}  // namespace gust
