// The errors streams report, as absl::Status values that say what kind they are; Tornado's
// StreamClosedError, StreamBufferFullError and UnsatisfiableReadError.
//
// Each kind is a canonical status code plus a payload naming the kind, so callers can test with
// the predicates below instead of matching messages. A StreamClosedError carries the underlying
// cause (Tornado's `real_error`: a connection reset, an UnsatisfiableReadError, a TLS failure...)
// when there is one; RealError() returns it. Errors from system calls carry their errno, which
// ErrnoOf() returns.
//
// Example:
//   absl::StatusOr<std::string> line = co_await stream.ReadUntil("\r\n", 4096);
//   if (IsStreamClosedError(line.status()) &&
//       IsUnsatisfiableReadError(RealError(line.status()))) { ... line too long ... }

#ifndef GUST_IOSTREAM_ERRORS_H_
#define GUST_IOSTREAM_ERRORS_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gust {

// Tornado: StreamClosedError. Code kUnavailable, message "Stream is closed" (followed by the
// real error's text when there is one). `real_error` may be OK.
absl::Status StreamClosedError(const absl::Status& real_error = absl::OkStatus());

// Tornado: StreamBufferFullError. Code kResourceExhausted.
absl::Status StreamBufferFullError(absl::string_view message);

// Tornado: UnsatisfiableReadError. Code kOutOfRange.
absl::Status UnsatisfiableReadError(absl::string_view message);

bool IsStreamClosedError(const absl::Status& status);
bool IsStreamBufferFullError(const absl::Status& status);
bool IsUnsatisfiableReadError(const absl::Status& status);
// Tornado: isinstance(e, tornado.iostream.Error), the base class of the three above. True for
// any of them; false for OK and for every other error (bad arguments, misuse, a system error
// returned directly).
bool IsGustError(const absl::Status& status);

// Tornado: StreamClosedError.real_error. The cause a StreamClosedError carries, or OK if it
// carries none (a clean close) or `status` is not a StreamClosedError.
absl::Status RealError(const absl::Status& status);

// A status for the system error `error_number` in the operation `what` (absl::ErrnoToStatus,
// plus the errno itself, which ErrnoOf() returns).
absl::Status ErrnoError(int error_number, absl::string_view what);
// ErrnoError for a system call a stream made on its fd: "`call` fd `fd`" ("send on fd 7", "read
// on pipe fd 3"). Out of line and cold: built inline, the message's temporaries gave every read
// and write a stream makes a large frame and a stack check.
[[gnu::cold, gnu::noinline]] absl::Status FdCallError(int error_number, absl::string_view call,
                                                      int fd);

// The errno an error from ErrnoError() carries (looking through a StreamClosedError to its real
// error), or 0.
int ErrnoOf(const absl::Status& status);

}  // namespace gust

#endif  // GUST_IOSTREAM_ERRORS_H_
