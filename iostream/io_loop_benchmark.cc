// IOLoop costs per backend: callbacks per second, timers per second, and what one loop
// iteration costs with 10, 1 000 and 10 000 idle fds registered. Run with tools/benchmark.sh,
// or: bazel run -c opt //iostream:io_loop_benchmark_epoll (or _poll, _select).

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "iostream/io_loop.h"

namespace gust {
namespace {

std::unique_ptr<IOLoop> NewLoop(benchmark::State& state) {
  absl::StatusOr<std::unique_ptr<IOLoop>> loop = IOLoop::Create();
  if (!loop.ok()) {
    state.SkipWithError(loop.status().ToString().c_str());
    return nullptr;
  }
  (*loop)->MakeCurrent();
  state.SetLabel(std::string((*loop)->backend_name()));
  return *std::move(loop);
}

// AddCallback throughput: batches of 1000 callbacks, each batch run by one Start().
void BM_Callbacks(benchmark::State& state) {
  std::unique_ptr<IOLoop> loop = NewLoop(state);
  if (loop == nullptr) return;
  constexpr int kBatch = 1000;
  for (auto _ : state) {
    int remaining = kBatch;
    for (int i = 0; i < kBatch; ++i) {
      loop->AddCallback([&] {
        if (--remaining == 0) loop->Stop();
      });
    }
    if (!loop->Start().ok()) state.SkipWithError("Start failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Callbacks);

// Timer throughput: 1000 timers with deadlines spread over a microsecond (so the heap orders
// them), all due by the time the loop looks.
void BM_Timers(benchmark::State& state) {
  std::unique_ptr<IOLoop> loop = NewLoop(state);
  if (loop == nullptr) return;
  constexpr int kBatch = 1000;
  for (auto _ : state) {
    int remaining = kBatch;
    for (int i = 0; i < kBatch; ++i) {
      loop->CallLater(absl::Nanoseconds((i * 7919) % 1000), [&] {
        if (--remaining == 0) loop->Stop();
      });
    }
    if (!loop->Start().ok()) state.SkipWithError("Start failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Timers);

// One loop iteration (a poller wait that returns at once, plus one callback) with
// state.range(0) idle fds registered for reading: duplicates of one empty pipe's read end.
void BM_IterationWithIdleFds(benchmark::State& state) {
  const int idle = static_cast<int>(state.range(0));
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, idle + 64);
  setrlimit(RLIMIT_NOFILE, &limit);

  std::unique_ptr<IOLoop> loop = NewLoop(state);
  if (loop == nullptr) return;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return state.SkipWithError("pipe failed");
  std::vector<int> fds;
  for (int i = 0; i < idle; ++i) {
    const int fd = dup(pipe_fds[0]);
    if (fd < 0) {
      state.SkipWithError("out of fds (RLIMIT_NOFILE)");
      break;
    }
    fds.push_back(fd);
    absl::Status added = loop->AddHandler(fd, IOLoop::kRead, [](int, uint32_t) {});
    if (!added.ok()) {
      state.SkipWithError(added.ToString().c_str());
      break;
    }
  }
  if (static_cast<int>(fds.size()) == idle) {
    for (auto _ : state) {
      loop->AddCallback([&] { loop->Stop(); });
      if (!loop->Start().ok()) state.SkipWithError("Start failed");
    }
  }
  for (int fd : fds) {
    loop->RemoveHandler(fd).IgnoreError();
    close(fd);
  }
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}
BENCHMARK(BM_IterationWithIdleFds)->Arg(10)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace gust
