// GUST_CHECK and GUST_DCHECK: invariants whose violation is a bug in the caller or in gust.
//
// Abseil LTS 20220623 has no public CHECK, so gust carries these two. A failed check prints the
// condition, the message and the place, then aborts; GUST_DCHECK is compiled out under NDEBUG.
// Bad input from users or peers is never a check: it is an absl::Status.

#ifndef GUST_IOSTREAM_INTERNAL_CHECK_H_
#define GUST_IOSTREAM_INTERNAL_CHECK_H_

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"

namespace gust {
namespace internal {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              absl::string_view message);

}  // namespace internal
}  // namespace gust

#define GUST_CHECK(condition, message)                                          \
  do {                                                                          \
    if (ABSL_PREDICT_FALSE(!(condition))) {                                     \
      ::gust::internal::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
    }                                                                           \
  } while (false)

#ifdef NDEBUG
#define GUST_DCHECK(condition, message) \
  do {                                  \
  } while (false && (condition))
#else
#define GUST_DCHECK(condition, message) GUST_CHECK(condition, message)
#endif

#endif  // GUST_IOSTREAM_INTERNAL_CHECK_H_
