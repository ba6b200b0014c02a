// WithTimeout: waits for a future at most so long; Tornado's tornado.gen.with_timeout.
//
// It only stops waiting: the operation behind the future goes on and may still complete (a read
// then consumes its data, as in Tornado). To cancel the operation itself, close its stream, or
// use an operation that takes its own timeout (IOStream::Connect, TCPClient::Connect).
//
// Example:
//   absl::StatusOr<std::string> line =
//       co_await WithTimeout(stream->ReadUntil("\r\n"), absl::Seconds(5));
//   if (absl::IsDeadlineExceeded(line.status())) stream->Close();  // now the read is cancelled

#ifndef GUST_IOSTREAM_WITH_TIMEOUT_H_
#define GUST_IOSTREAM_WITH_TIMEOUT_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "iostream/future.h"
#include "iostream/io_loop.h"
#include "iostream/task.h"

namespace gust {

// A future that resolves with `future`'s result, or fails with DeadlineExceededError if that has
// not come within `timeout`. Call it on the loop's thread; the timer runs on IOLoop::Current().
template <typename T>
Future<T> WithTimeout(Future<T> future, absl::Duration timeout) {
  if (future.done()) return future;
  IOLoop& loop = IOLoop::Current();
  // Shared by the timer and the done callback: whichever comes first settles it.
  auto promise = std::make_shared<Promise<T>>();
  Future<T> result = promise->future();
  const IOLoop::TimeoutHandle timer = loop.CallLater(timeout, [promise, timeout] {
    promise->SetErrorIfPending(absl::DeadlineExceededError(
        absl::StrCat("timed out after ", absl::FormatDuration(timeout))));
  });
  future.AddDoneCallback([promise, &loop, timer](const FutureResult<T>& value) {
    if (promise->done()) return;
    loop.RemoveTimeout(timer);
    promise->SetResult(value);
  });
  return result;
}

template <typename T>
Future<T> WithTimeout(Task<T> task, absl::Duration timeout) {
  return WithTimeout(std::move(task).future(), timeout);
}

}  // namespace gust

#endif  // GUST_IOSTREAM_WITH_TIMEOUT_H_
