// A consumer of @gust//iostream: runs a coroutine on the current IOLoop and says which
// backend the build gave it.

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "iostream/io_loop.h"
#include "iostream/task.h"

gust::Task<int> AnswerLater() {
  gust::Promise<int> promise;
  gust::Future<int> answer = promise.future();
  gust::IOLoop::Current().CallLater(
      absl::Milliseconds(10), [promise = std::move(promise)]() mutable { promise.SetResult(42); });
  absl::StatusOr<int> value = co_await answer;
  co_return value;
}

int main() {
  gust::IOLoop& loop = gust::IOLoop::Current();
  absl::StatusOr<int> answer = loop.RunSync(AnswerLater, absl::Seconds(5));
  if (!answer.ok()) {
    std::fprintf(stderr, "failed: %s\n", answer.status().ToString().c_str());
    return 1;
  }
  std::printf("answer=%d backend=%s\n", *answer, std::string(loop.backend_name()).c_str());
  return 0;
}
